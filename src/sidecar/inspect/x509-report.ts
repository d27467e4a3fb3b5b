import { parseCertificate, type ParsedCertificate } from "../../spiffe/certificate.js";
import { decodePem, pemBlocksOfType } from "../../spiffe/pem.js";
import type { SpiffeId } from "../../spiffe/spiffe-id.js";
import { checkX509BundleAuthorities, parseX509BundlePem, X509BundleSet } from "../../spiffe/x509-bundle.js";
import { checkLeafCertificate, checkSigningCertificates, checkValidityPeriod } from "../../spiffe/x509-svid-rules.js";
import { MAX_CHAIN_CERTIFICATES, parseX509SvidPem, verifyX509Svid, X509SvidError } from "../../spiffe/x509-svid.js";
import { failedVerdict, secondsBetween, type CertificateSummary, type InspectReport } from "./report.js";

export interface InspectX509Input {
  readonly certificatesPem: string;
  readonly privateKeyPem?: string | undefined;
  /** Read as the bundle of the leaf's own trust domain, as spiffe-helper's bundle file is used. */
  readonly bundlePem?: string | undefined;
  readonly now: Date;
}

function summarize(certificate: ParsedCertificate): CertificateSummary {
  return {
    subject: certificate.subject,
    issuer: certificate.issuer,
    serialHex: certificate.serialHex,
    notBefore: certificate.notBefore.toISOString(),
    notAfter: certificate.notAfter.toISOString(),
    isCa: certificate.isCa,
    uriSans: certificate.uriSans,
  };
}

function parseChainPem(certificatesPem: string): ParsedCertificate[] {
  const ders = pemBlocksOfType(decodePem(certificatesPem), "CERTIFICATE");
  if (ders.length === 0) throw new X509SvidError("no-certificates", "no CERTIFICATE PEM block found in the certificate file");
  if (ders.length > MAX_CHAIN_CERTIFICATES) {
    throw new X509SvidError(
      "exceeds-bound",
      `the certificate file holds ${ders.length} certificates; at most ${MAX_CHAIN_CERTIFICATES} are accepted (MAX_CHAIN_CERTIFICATES)`,
    );
  }
  return ders.map((der) => parseCertificate(der));
}

/** Accumulates what the checks learned, so a failed report still shows the chain it read. */
class X509ReportBuilder {
  chain: ParsedCertificate[] = [];
  id: SpiffeId | undefined;
  readonly passedChecks: string[] = [];
  readonly skippedChecks: string[] = [];

  constructor(readonly now: Date) {}

  build(verdict: InspectReport["verdict"]): InspectReport {
    const leaf = this.chain[0];
    return {
      kind: "x509-svid",
      ...(this.id === undefined ? {} : { spiffeId: this.id.toString() }),
      ...(leaf === undefined
        ? {}
        : {
            serialHex: leaf.serialHex,
            notBefore: leaf.notBefore.toISOString(),
            notAfter: leaf.notAfter.toISOString(),
            secondsLeft: secondsBetween(this.now, leaf.notAfter),
          }),
      chain: this.chain.map(summarize),
      passedChecks: this.passedChecks,
      skippedChecks: this.skippedChecks,
      checkedAt: this.now.toISOString(),
      verdict,
    };
  }
}

function runChecks(input: InspectX509Input, report: X509ReportBuilder): void {
  report.chain = parseChainPem(input.certificatesPem);
  const [leaf, ...signers] = report.chain;
  if (leaf === undefined) return;
  report.id = checkLeafCertificate(leaf);
  checkSigningCertificates(signers);
  report.passedChecks.push("X509-SVID rules");

  if (input.privateKeyPem === undefined) {
    report.skippedChecks.push("private key (no --key)");
  } else {
    parseX509SvidPem(input.certificatesPem, input.privateKeyPem);
    report.passedChecks.push("private key matches leaf");
  }

  if (input.bundlePem === undefined) {
    for (const certificate of report.chain) {
      const problem = checkValidityPeriod(certificate, input.now);
      if (problem !== undefined) throw problem;
    }
    report.passedChecks.push("validity period");
    report.skippedChecks.push("chain of trust (no --bundle)");
    return;
  }
  const bundle = parseX509BundlePem(report.id.trustDomain, input.bundlePem);
  // As strict as the sidecar is with the agent's bundle: a non-CA certificate is a mix-up.
  checkX509BundleAuthorities(bundle);
  report.passedChecks.push("bundle holds only CAs");
  verifyX509Svid(report.chain, new X509BundleSet([bundle]), { now: input.now });
  report.passedChecks.push("validity period", `chain to the ${report.id.trustDomain.name} bundle`);
}

/** Judges X.509-SVID files the way the sidecar judges what the agent sends. */
export function inspectX509Svid(input: InspectX509Input): InspectReport {
  const report = new X509ReportBuilder(input.now);
  try {
    runChecks(input, report);
  } catch (error: unknown) {
    return report.build(failedVerdict(error));
  }
  return report.build({ valid: true });
}
