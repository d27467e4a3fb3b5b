import { SpiffeSidecarError } from "../errors.js";

/** Text that is not well-formed PEM (RFC 7468). Messages name block types, never contents. */
export class PemError extends SpiffeSidecarError {
  readonly code = "ERR_PEM";
}

export interface PemBlock {
  /** The label between `BEGIN ` and the dashes, e.g. `CERTIFICATE` or `PRIVATE KEY`. */
  readonly type: string;
  readonly der: Uint8Array;
}

const BEGIN = /^-----BEGIN ([^-\r\n]*)-----[ \t]*$/;
const END = /^-----END ([^-\r\n]*)-----[ \t]*$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const LINE_WIDTH = 64;

/**
 * Decodes every PEM block in `text`, in order. Text between blocks is ignored (RFC 7468 §2
 * allows explanatory text), so a file holding a key and a certificate in either order yields
 * both, and callers pick blocks by type, never by position. A block that is opened but not
 * closed, closed with another label, or carries invalid base64 is an error rather than being
 * skipped: a silently dropped certificate is worse than a loud failure.
 */
export function decodePem(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const begin = BEGIN.exec(lines[i] ?? "");
    if (begin === null) continue;
    const type = begin[1] ?? "";
    const body: string[] = [];
    let closed = false;
    for (i++; i < lines.length; i++) {
      const line = lines[i] ?? "";
      const end = END.exec(line);
      if (end !== null) {
        if (end[1] !== type) {
          throw new PemError(`PEM block "${type}" is closed by "END ${end[1] ?? ""}" (RFC 7468 §2)`);
        }
        closed = true;
        break;
      }
      if (line.startsWith("-----")) throw new PemError(`PEM block "${type}" is not closed before the next block (RFC 7468 §2)`);
      body.push(line.trim());
    }
    if (!closed) throw new PemError(`PEM block "${type}" has no END line (RFC 7468 §2)`);
    blocks.push({ type, der: decodeBase64Body(type, body.join("")) });
  }
  return blocks;
}

function decodeBase64Body(type: string, base64: string): Uint8Array {
  if (base64.includes(":")) {
    throw new PemError(`PEM block "${type}" has RFC 1421 headers (an encrypted key?); only plain blocks are supported`);
  }
  if (!BASE64.test(base64) || base64.length % 4 !== 0) {
    throw new PemError(`PEM block "${type}" does not contain valid base64 (RFC 7468 §3)`);
  }
  // Copy out of Buffer's internal pool so callers own an exact-size array.
  return new Uint8Array(Buffer.from(base64, "base64"));
}

/**
 * Encodes one block the way Go's `pem.Encode` and OpenSSL do: base64 in 64-column lines and a
 * trailing newline, so our files are byte-identical to spiffe-helper's.
 */
export function encodePem(type: string, der: Uint8Array): string {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  let body = "";
  for (let i = 0; i < base64.length; i += LINE_WIDTH) body += base64.slice(i, i + LINE_WIDTH) + "\n";
  return `-----BEGIN ${type}-----\n${body}-----END ${type}-----\n`;
}

/** The DER of every block of `type`, in order. */
export function pemBlocksOfType(blocks: readonly PemBlock[], type: string): Uint8Array[] {
  return blocks.filter((block) => block.type === type).map((block) => block.der);
}
