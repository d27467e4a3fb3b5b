import { closeSync, fsyncSync, openSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import { splitDerSequence } from "../../src/spiffe/der.js";
import { encodePem } from "../../src/spiffe/pem.js";
import type { AgentSnapshot } from "../../src/fakeagent/index.js";
import { TRUST_DOMAIN } from "./bench-agent.js";
import { BUNDLE_FILE, CERT_FILE, KEY_FILE } from "./tools.js";

export interface FloorFile {
  readonly path: string;
  readonly contents: Buffer;
  readonly mode: number;
}

/** The bytes a sidecar writes for the snapshot's SVID: the same three PEM files. */
export function floorFiles(snapshot: AgentSnapshot, certDir: string): FloorFile[] {
  const svid = snapshot.svids[0];
  if (svid === undefined) throw new Error("the agent issued no SVID");
  const certs = splitDerSequence(svid.chainDer).map((der) => encodePem("CERTIFICATE", der)).join("");
  const bundle = (snapshot.x509Authorities.get(TRUST_DOMAIN) ?? []).map((der) => encodePem("CERTIFICATE", der)).join("");
  return [
    { path: join(certDir, BUNDLE_FILE), contents: Buffer.from(bundle), mode: 0o644 },
    { path: join(certDir, CERT_FILE), contents: Buffer.from(certs), mode: 0o644 },
    { path: join(certDir, KEY_FILE), contents: Buffer.from(encodePem("PRIVATE KEY", svid.privateKeyDer)), mode: 0o600 },
  ];
}

/**
 * The floor: the least any correct writer does. Each file is written to a temp file, fsynced
 * and renamed over the old one, synchronously, with nothing checked.
 */
export function writeFloorFiles(files: readonly FloorFile[]): void {
  for (const file of files) {
    const temp = `${file.path}.floor-tmp`;
    const fd = openSync(temp, "w", file.mode);
    try {
      writeSync(fd, file.contents);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file.path);
  }
}
