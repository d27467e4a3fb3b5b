import { SpiffeSidecarError } from "../errors.js";

/** Bytes that are not the strict DER this project accepts; the message says where and why. */
export class DerError extends SpiffeSidecarError {
  readonly code = "ERR_DER";
}

/** Tag byte of a constructed universal SEQUENCE: every certificate starts with one (RFC 5280 §4.1). */
export const SEQUENCE_TAG = 0x30;

/**
 * Definite lengths above 2^32-1 bytes cannot describe anything we parse; refusing them keeps
 * the arithmetic in safe integers.
 */
const MAX_LENGTH_OCTETS = 4;

/** A tag byte as messages show it: `0x30`. */
export function formatTag(tag: number): string {
  return `0x${tag.toString(16).padStart(2, "0")}`;
}

export interface DerHeader {
  readonly tag: number;
  /** Bytes taken by the tag and the length octets. */
  readonly headerLength: number;
  readonly contentLength: number;
}

/**
 * Reads the tag and length of the element at `offset`, holding the length to DER (X.690
 * §10.1): definite form only, and the shortest encoding of the value. BER's indefinite form
 * and padded lengths let two encodings of one certificate differ, so they are rejected.
 */
export function readDerHeader(bytes: Uint8Array, offset: number): DerHeader {
  const tag = bytes[offset];
  const first = bytes[offset + 1];
  if (tag === undefined || first === undefined) {
    throw new DerError(`DER element at byte ${offset} is truncated: no room for a tag and length (X.690 §8.1)`);
  }
  if ((tag & 0x1f) === 0x1f) {
    throw new DerError(`DER element at byte ${offset} uses a high tag number, which no certificate field has`);
  }
  if (first < 0x80) return { tag, headerLength: 2, contentLength: first };
  const octets = first & 0x7f;
  if (octets === 0) {
    throw new DerError(`DER element at byte ${offset} uses the indefinite length form, which DER forbids (X.690 §10.1)`);
  }
  if (octets > MAX_LENGTH_OCTETS) {
    throw new DerError(`DER element at byte ${offset} declares a length of ${octets} octets; at most ${MAX_LENGTH_OCTETS} are supported`);
  }
  let contentLength = 0;
  for (let i = 0; i < octets; i++) {
    const b = bytes[offset + 2 + i];
    if (b === undefined) throw new DerError(`DER element at byte ${offset} is truncated inside its length octets`);
    contentLength = contentLength * 256 + b;
  }
  if (contentLength < 0x80 || contentLength < 2 ** (8 * (octets - 1))) {
    throw new DerError(`DER element at byte ${offset} encodes its length ${contentLength} in more octets than needed (X.690 §10.1)`);
  }
  return { tag, headerLength: 2 + octets, contentLength };
}

/**
 * Splits concatenated DER SEQUENCEs, the form the Workload API uses for certificate chains and
 * bundles (`x509_svid`, `bundle`: SPIFFE Workload API §5.2.1). Each element must declare a
 * length that fits in what remains, and the elements must cover every byte: a chain with
 * trailing or missing bytes is corrupt, not "the first certificate plus noise". An empty input
 * yields no elements; callers decide whether that is allowed.
 */
export function splitDerSequence(concatenated: Uint8Array): Uint8Array[] {
  const elements: Uint8Array[] = [];
  let offset = 0;
  while (offset < concatenated.length) {
    const { tag, headerLength, contentLength } = readDerHeader(concatenated, offset);
    if (tag !== SEQUENCE_TAG) {
      throw new DerError(
        `expected a DER SEQUENCE (tag 0x30) at byte ${offset}, found tag ${formatTag(tag)}`,
      );
    }
    const end = offset + headerLength + contentLength;
    if (end > concatenated.length) {
      throw new DerError(
        `DER SEQUENCE at byte ${offset} declares ${contentLength} content bytes but only ${concatenated.length - offset - headerLength} remain`,
      );
    }
    elements.push(concatenated.subarray(offset, end));
    offset = end;
  }
  return elements;
}

/** Joins DER elements into the Workload API's concatenated form. */
export function concatDer(elements: readonly Uint8Array[]): Uint8Array {
  const total = elements.reduce((sum, element) => sum + element.length, 0);
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const element of elements) {
    joined.set(element, offset);
    offset += element.length;
  }
  return joined;
}
