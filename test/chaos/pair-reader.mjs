// A reader process for the torn-read hammer: reads the sidecar's files in a loop, the ways
// applications do, until the stop file appears, then prints one JSON line of counts per kind.
// Kinds (each iteration does every one that applies):
//   combined   - the combined key+chain PEM, one open
//   cert-key   - svid.pem then svid_key.pem, each opened by path (nginx, OpenSSL, Go)
//   key-cert   - svid_key.pem then svid.pem, each opened by path
//   data-once  - readlink ..data once, then both files inside that version (directory layout)
// For each: reads, mismatched (key not the leaf's), missing (ENOENT), unparsable (not PEM of a
// whole certificate or key: a partial file).
import { createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";

const [certDir, stopPath, layout] = process.argv.slice(2);
const kinds = ["combined", "cert-key", "key-cert", ...(layout === "directory" ? ["data-once"] : [])];
const counts = Object.fromEntries(kinds.map((kind) => [kind, { reads: 0, mismatched: 0, missing: 0, unparsable: 0 }]));

function judge(kind, certPem, keyPem) {
  const count = counts[kind];
  count.reads++;
  let matches;
  try {
    matches = new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    count.unparsable++;
    return;
  }
  if (!matches) count.mismatched++;
}

function attempt(kind, read) {
  try {
    read();
  } catch (error) {
    if (error.code !== "ENOENT") throw error;
    counts[kind].missing++;
  }
}

const path = (name) => join(certDir, name);
process.stdout.write("ready\n");
const readAll = () => {
  attempt("combined", () => {
    const pem = readFileSync(path("combined.pem"), "utf8");
    const keyEnd = pem.indexOf("-----END PRIVATE KEY-----");
    judge("combined", pem.slice(keyEnd), pem.slice(0, keyEnd + 25));
  });
  attempt("cert-key", () => {
    const cert = readFileSync(path("svid.pem"));
    judge("cert-key", cert, readFileSync(path("svid_key.pem")));
  });
  attempt("key-cert", () => {
    const key = readFileSync(path("svid_key.pem"));
    judge("key-cert", readFileSync(path("svid.pem")), key);
  });
  if (layout === "directory") {
    attempt("data-once", () => {
      const version = join(certDir, readlinkSync(path("..data")));
      const cert = readFileSync(join(version, "svid.pem"));
      judge("data-once", cert, readFileSync(join(version, "svid_key.pem")));
    });
  }
};
while (!existsSync(stopPath)) readAll();
readAll();
process.stdout.write(`${JSON.stringify(counts)}\n`);
