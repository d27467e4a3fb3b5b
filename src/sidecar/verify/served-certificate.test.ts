import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { test } from "node:test";
import { createCertificateAuthority, issueX509Svid } from "../../fakeagent/ca.js";
import { parseSpiffeId, parseTrustDomain } from "../../spiffe/spiffe-id.js";
import { compareServed, identityOf, normalizeSerial, parseHostPort, probeDelays, spiffeIdOf } from "./served-certificate.js";

async function leafOf(spiffeId: string): Promise<X509Certificate> {
  const ca = await createCertificateAuthority({ trustDomain: parseTrustDomain("example.org") });
  const issued = await issueX509Svid(ca, { spiffeId: parseSpiffeId(spiffeId), ttlSeconds: 3600 });
  return new X509Certificate(issued.chainDer);
}

test("the same certificate is current; another serial or SPIFFE ID is not, and the reason names both", async () => {
  const written = identityOf(await leafOf("spiffe://example.org/app"));
  const other = identityOf(await leafOf("spiffe://example.org/app"));
  assert.equal(written.spiffeId, "spiffe://example.org/app");
  assert.deepEqual(compareServed("127.0.0.1:8443", written, { ...written }), { current: true });
  const stale = compareServed("127.0.0.1:8443", written, other);
  assert.equal(stale.current, false);
  assert.match(
    stale.current ? "" : stale.reason,
    new RegExp(`^app at 127\\.0\\.0\\.1:8443 serves serial ${other.serialHex} \\(spiffe://example\\.org/app, notAfter .+\\), not the current ${written.serialHex} `),
  );
  const wrongId = compareServed("h:1", written, { ...written, spiffeId: "spiffe://example.org/other" });
  assert.equal(wrongId.current, false);
  const noId = compareServed("h:1", written, { ...written, spiffeId: undefined });
  assert.match(noId.current ? "" : noId.reason, /no SPIFFE ID/);
});

test("serials compare without leading zeros, colons or case", () => {
  assert.equal(normalizeSerial("00:0a:Bc"), "ABC");
  assert.equal(normalizeSerial("0"), "0");
  const at = new Date(0);
  const current = compareServed("h:1", { serialHex: "00ab", spiffeId: "spiffe://t/a", notAfter: at }, { serialHex: "AB", spiffeId: "spiffe://t/a", notAfter: at });
  assert.equal(current.current, true);
});

test("the SPIFFE ID is the first spiffe:// URI SAN, quoted or not", () => {
  assert.equal(spiffeIdOf("DNS:a.example, URI:https://x, URI:spiffe://t/a"), "spiffe://t/a");
  assert.equal(spiffeIdOf('URI:"spiffe://t/a,b"'), "spiffe://t/a,b");
  assert.equal(spiffeIdOf("DNS:a.example"), undefined);
  assert.equal(spiffeIdOf(undefined), undefined);
});

test("probe delays double from 100 ms, are capped, and fit the window", () => {
  assert.deepEqual(probeDelays(1_000), [100, 200, 400]);
  assert.deepEqual(probeDelays(10_000, 100, 2_000), [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
  assert.deepEqual(probeDelays(50), []);
});

test("addresses are host:port or [v6]:port with a real port", () => {
  assert.deepEqual(parseHostPort("127.0.0.1:8443"), { host: "127.0.0.1", port: 8443 });
  assert.deepEqual(parseHostPort("[::1]:5432"), { host: "::1", port: 5432 });
  assert.deepEqual(parseHostPort("db.internal:5432"), { host: "db.internal", port: 5432 });
  for (const bad of ["8443", "host:", "host:0", "host:70000", "::1:5432", ""]) {
    assert.equal(typeof parseHostPort(bad), "string", bad);
  }
});
