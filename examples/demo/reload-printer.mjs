#!/usr/bin/env node
// The demo's "application": it prints what it would reload each time the sidecar sends SIGHUP,
// reading the certificate the way nginx or PostgreSQL would, from the file on disk.
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";

const certPath = process.argv[2] ?? "demo/certs/svid.pem";

function describeCertificate() {
  const leaf = new X509Certificate(readFileSync(certPath));
  const id = leaf.subjectAltName?.replace(/^URI:/, "") ?? "(no SAN)";
  const secondsLeft = Math.round((Date.parse(leaf.validTo) - Date.now()) / 1000);
  return `${id} serial ${leaf.serialNumber.toLowerCase()} (${secondsLeft}s left)`;
}

console.log(`[app] started with ${describeCertificate()}`);
process.on("SIGHUP", () => console.log(`[app] SIGHUP: reloaded ${describeCertificate()}`));
process.on("SIGTERM", () => {
  console.log("[app] SIGTERM: bye");
  process.exit(0);
});
setInterval(() => {}, 1 << 30);
