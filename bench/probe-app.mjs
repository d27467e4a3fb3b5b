#!/usr/bin/env node
// The benchmark's "application": both sidecars start it as their `cmd` (the floor starts it
// directly). On each SIGHUP it reads the certificate and the key, checks that they belong
// together and that the serial is new, and reports the moment it finished on the monotonic
// clock every process on the machine shares (process.hrtime is CLOCK_MONOTONIC on Linux).
//
//   probe-app.mjs REPORT_SOCKET CERT_FILE KEY_FILE
//
// Reports are JSON lines on the harness's Unix socket: one "start", then one "reload" per
// signal. Reads are synchronous on purpose: the probe must add as little as it can.
import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { connect } from "node:net";

const [reportSocket, certPath, keyPath] = process.argv.slice(2);
if (reportSocket === undefined || certPath === undefined || keyPath === undefined) {
  process.stderr.write("usage: probe-app.mjs REPORT_SOCKET CERT_FILE KEY_FILE\n");
  process.exit(2);
}

/** Reads both files and checks them; returns the leaf serial or throws naming the problem. */
function readIdentity() {
  const certPem = readFileSync(certPath);
  const keyPem = readFileSync(keyPath);
  // X509Certificate parses the first PEM block: the leaf, as both sidecars write it first.
  const leaf = new X509Certificate(certPem);
  const key = createPrivateKey(keyPem);
  if (!leaf.checkPrivateKey(key)) throw new Error(`key in ${keyPath} does not match the certificate in ${certPath}`);
  return leaf.serialNumber;
}

const socket = connect(reportSocket);
socket.setNoDelay?.(true);
const send = (record) => socket.write(`${JSON.stringify(record)}\n`);

let lastSerial;
try {
  lastSerial = readIdentity();
  send({ type: "start", pid: process.pid, t: process.hrtime.bigint().toString(), serial: lastSerial });
} catch (error) {
  send({ type: "start", pid: process.pid, t: process.hrtime.bigint().toString(), error: String(error?.message ?? error) });
}

process.on("SIGHUP", () => {
  const signalled = process.hrtime.bigint();
  let serial;
  let error;
  try {
    serial = readIdentity();
    if (serial === lastSerial) error = `serial ${serial} is not new`;
  } catch (caught) {
    error = String(caught?.message ?? caught);
  }
  const done = process.hrtime.bigint();
  if (serial !== undefined) lastSerial = serial;
  send({ type: "reload", signalled: signalled.toString(), t: done.toString(), serial, ...(error === undefined ? {} : { error }) });
});

// Exit quietly when the sidecar stops us or the harness goes away.
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
socket.on("error", () => process.exit(0));
socket.on("close", () => process.exit(0));
