import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { splitDerSequence } from "../../src/spiffe/der.js";
import { encodePem } from "../../src/spiffe/pem.js";
import { parseSpiffeId } from "../../src/spiffe/spiffe-id.js";
import { parseX509BundleDer, X509BundleSet } from "../../src/spiffe/x509-bundle.js";
import { parseX509SvidDer, verifyX509Svid } from "../../src/spiffe/x509-svid.js";
import type { X509SVID, X509SVIDResponse } from "../../src/workloadapi/generated/workload.js";

const execFileAsync = promisify(execFile);

/** A message as it arrived: SVIDs must be valid at that instant, not at check time. */
export interface ReceivedMessage<T> {
  readonly message: T;
  readonly receivedAt: Date;
}

/**
 * Checks one X509SVID with our own model: structure and key match, then the chain to the
 * bundle sent with it, at `at`. Returns the serial of the root the path reached.
 */
export function checkSvidWithModel(svid: X509SVID, at: Date): { leafSerial: string; rootSerial: string } {
  const parsed = parseX509SvidDer(svid.x509Svid, svid.x509SvidKey, { hint: svid.hint });
  const trustDomain = parseSpiffeId(svid.spiffeId).trustDomain;
  const bundles = new X509BundleSet([parseX509BundleDer(trustDomain, svid.bundle)]);
  const { id, chain } = verifyX509Svid(parsed.certificates, bundles, { now: at });
  if (id.toString() !== svid.spiffeId) throw new Error(`leaf names ${id.toString()}, spiffe_id says ${svid.spiffeId}`);
  return { leafSerial: chain[0]?.serialHex ?? "", rootSerial: chain.at(-1)?.serialHex ?? "" };
}

/** Every SVID of every message passes the model check at its arrival time. */
export function checkMessagesWithModel(received: readonly ReceivedMessage<X509SVIDResponse>[]): void {
  for (const { message, receivedAt } of received) {
    for (const svid of message.svids) checkSvidWithModel(svid, receivedAt);
  }
}

export function pemOf(ders: readonly Uint8Array[]): string {
  return ders.map((der) => encodePem("CERTIFICATE", der)).join("");
}

/**
 * `openssl verify` of one X509SVID against the bundle sent with it, as a TLS client and as a
 * TLS server would check it (both EKUs, X509-SVID §4.4). Throws with openssl's output on failure.
 */
export async function opensslVerify(dir: string, svid: X509SVID, at: Date): Promise<void> {
  const [leaf, ...intermediates] = splitDerSequence(svid.x509Svid);
  if (leaf === undefined) throw new Error("empty chain");
  const prefix = join(dir, randomBytes(6).toString("hex"));
  const leafPath = `${prefix}-leaf.pem`;
  const bundlePath = `${prefix}-bundle.pem`;
  const untrustedPath = `${prefix}-intermediates.pem`;
  await writeFile(leafPath, pemOf([leaf]));
  await writeFile(bundlePath, pemOf(splitDerSequence(svid.bundle)));
  const untrusted = intermediates.length > 0 ? ["-untrusted", untrustedPath] : [];
  if (intermediates.length > 0) await writeFile(untrustedPath, pemOf(intermediates));
  for (const purpose of ["sslclient", "sslserver"]) {
    const args = ["verify", "-attime", String(Math.floor(at.getTime() / 1000)), "-purpose", purpose, "-CAfile", bundlePath, ...untrusted, leafPath];
    const { stdout } = await execFileAsync("openssl", args);
    if (stdout.trim() !== `${leafPath}: OK`) throw new Error(`openssl ${args.join(" ")}: ${stdout}`);
  }
}
