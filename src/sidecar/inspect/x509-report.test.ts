import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { createCertificateAuthority, issueX509Svid, type CertificateAuthority } from "../../fakeagent/ca.js";
import { encodePem } from "../../spiffe/pem.js";
import { parseSpiffeId, parseTrustDomain } from "../../spiffe/spiffe-id.js";
import { splitDerSequence } from "../../spiffe/der.js";
import { inspectX509Svid } from "./x509-report.js";

const exampleOrg = parseTrustDomain("example.org");
const pem = (ders: readonly Uint8Array[]): string => ders.map((der) => encodePem("CERTIFICATE", der)).join("");

describe("inspect judges X.509 files as strictly as the sidecar judges the agent", () => {
  let ca: CertificateAuthority;
  before(async () => {
    ca = await createCertificateAuthority({ trustDomain: exampleOrg });
  });

  async function files(spiffeId: string): Promise<{ certificatesPem: string; privateKeyPem: string }> {
    const issued = await issueX509Svid(ca, { spiffeId: parseSpiffeId(spiffeId), ttlSeconds: 600 });
    return { certificatesPem: pem(splitDerSequence(issued.chainDer)), privateKeyPem: encodePem("PRIVATE KEY", issued.privateKeyDer) };
  }

  it("calls a good set VALID and says the bundle held only CAs", async () => {
    const report = inspectX509Svid({ ...(await files("spiffe://example.org/app")), bundlePem: pem([ca.rootDer]), now: new Date() });
    assert.deepEqual(report.verdict, { valid: true });
    assert.ok(report.passedChecks.includes("bundle holds only CAs"));
  });

  it("calls a bundle with a leaf certificate beside the CA INVALID (issue 13.8)", async () => {
    const svid = await files("spiffe://example.org/app");
    const leafDer = splitDerSequence((await issueX509Svid(ca, { spiffeId: parseSpiffeId("spiffe://example.org/other"), ttlSeconds: 600 })).chainDer)[0];
    assert.ok(leafDer !== undefined);
    const report = inspectX509Svid({ ...svid, bundlePem: pem([ca.rootDer, leafDer]), now: new Date() });
    assert.equal(report.verdict.valid, false);
    assert.ok(!report.verdict.valid && report.verdict.rule === "ERR_X509_BUNDLE");
    assert.ok(!report.verdict.valid && /certificate 2 \(serial [0-9a-f]+\) is not a CA/.test(report.verdict.reason), JSON.stringify(report.verdict));
  });

  it("calls an SVID of other.org under example.org's CA INVALID, not VALID (issue 13.14)", async () => {
    const report = inspectX509Svid({ ...(await files("spiffe://other.org/app")), bundlePem: pem([ca.rootDer]), now: new Date() });
    assert.equal(report.spiffeId, "spiffe://other.org/app");
    assert.ok(!report.verdict.valid && report.verdict.rule === "signing-cert-foreign-trust-domain", JSON.stringify(report.verdict));
  });

  it("refuses a certificate file longer than the chain bound", async () => {
    const svid = await files("spiffe://example.org/app");
    const report = inspectX509Svid({ certificatesPem: svid.certificatesPem.repeat(17), now: new Date() });
    assert.ok(!report.verdict.valid && report.verdict.rule === "exceeds-bound", JSON.stringify(report.verdict));
  });
});
