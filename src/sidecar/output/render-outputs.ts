import { join, resolve } from "node:path";
import type { JwtBundleSet } from "../../spiffe/jwt-bundle.js";
import type { TrustDomain } from "../../spiffe/spiffe-id.js";
import { renderGrpcBundleMap } from "./grpc-bundle-map.js";
import type { IdentityState, X509IdentityState } from "./identity-state.js";
import { jwksBundles, renderJwks, renderJwtBundleMap, renderSpiffeHelperJwtBundle } from "./jwt-bundle-formats.js";
import type { OutputFile, OutputGroup, OutputOptions } from "./output-options.js";
import { encodePkcs12KeyStore, encodePkcs12TrustStore, type TrustedCertificate } from "./pkcs12.js";
import {
  bundleFileCertificates,
  type BundleCertificate,
  certificatesPem,
  certificatesPemBytes,
  trustDomainCertificates,
  federatedBundles,
  privateKeyDer,
  privateKeyPem,
  svidFileCertificates,
} from "./x509-pem.js";

const DEFAULT_FRIENDLY_NAME = "svid";

/**
 * Renders every configured output that the state can fill, in the order the writer should
 * make them visible. Pure: the same state, options and `now` give byte-identical files.
 *
 * X.509 files come bundle-first and key-last. Applications read the certificate before the key
 * (nginx, OpenSSL's `SSL_CTX_use_certificate_chain_file` then `..._PrivateKey_file`, Go's
 * `tls.LoadX509KeyPair`), and renaming in the order they read means a reader only sees a new
 * certificate with the old key if both of its reads fall between two adjacent renames; the
 * reverse order would mismatch on any overlap. Only the combined PEM, the keystore and the
 * `directory` layout are torn-free.
 */
export function renderOutputFiles(state: IdentityState, options: OutputOptions, now: Date = new Date()): OutputFile[] {
  const files: OutputFile[] = [];
  if (state.x509 !== undefined) files.push(...renderX509Files(state.x509, options, now));
  if (state.jwtBundles !== undefined) files.push(...renderJwtBundleFile(state, state.jwtBundles, options));
  for (const [fileName, svid] of state.jwtSvids) {
    files.push(outputFile(options, fileName, svid.token, options.jwtSvidFileMode, "jwt-svid"));
  }
  return files;
}

function outputFile(
  options: OutputOptions,
  fileName: string,
  contents: string | Uint8Array,
  mode: number,
  group: OutputGroup,
): OutputFile {
  return {
    path: resolve(options.certDir, fileName),
    contents: typeof contents === "string" ? new Uint8Array(Buffer.from(contents, "utf8")) : contents,
    mode,
    uid: options.uid,
    gid: options.gid,
    group,
  };
}

function renderX509Files(x509: X509IdentityState, options: OutputOptions, now: Date): OutputFile[] {
  const { certFileMode, keyFileMode } = options;
  const file = (fileName: string, contents: string | Uint8Array, mode: number): OutputFile =>
    outputFile(options, fileName, contents, mode, "x509");
  const bundleFile = (fileName: string, contents: string | Uint8Array): OutputFile =>
    outputFile(options, fileName, contents, certFileMode, "x509-bundle");
  const files: OutputFile[] = [];
  // Resolved first so a missing own bundle fails the whole render, not half of it.
  const bundleCertificates = bundleFileCertificates(x509, options, now);
  if (options.svidBundleFileName !== undefined) {
    files.push(bundleFile(options.svidBundleFileName, certificatesPemBytes(bundleCertificates.map((item) => item.certificate))));
  }
  if (options.federatedBundleDir !== undefined) {
    for (const bundle of federatedBundles(x509)) {
      const pem = certificatesPemBytes(trustDomainCertificates(bundle, options, now));
      files.push(bundleFile(join(options.federatedBundleDir, `${bundle.trustDomain.name}.pem`), pem));
    }
  }
  if (options.spiffeBundleMapFileName !== undefined) {
    files.push(bundleFile(options.spiffeBundleMapFileName, renderGrpcBundleMap(x509, options, now)));
  }
  const pkcs12 = options.pkcs12;
  if (pkcs12?.truststoreFileName !== undefined) {
    const truststore = encodePkcs12TrustStore(truststoreEntries(bundleCertificates), pkcs12.password.reveal());
    files.push(bundleFile(pkcs12.truststoreFileName, truststore));
  }
  const fullChain = svidFileCertificates(x509, { ...options, addIntermediatesToBundle: false }, now);
  if (options.combinedPemFileName !== undefined) {
    files.push(file(options.combinedPemFileName, privateKeyPem(x509) + certificatesPem(fullChain), keyFileMode));
  }
  if (pkcs12?.keystoreFileName !== undefined) {
    const keystore = encodePkcs12KeyStore({
      privateKeyDer: privateKeyDer(x509),
      certificateDers: fullChain.map((certificate) => certificate.der),
      password: pkcs12.password.reveal(),
      friendlyName: pkcs12.friendlyName ?? DEFAULT_FRIENDLY_NAME,
    });
    files.push(file(pkcs12.keystoreFileName, keystore, keyFileMode));
  }
  if (options.svidFileName !== undefined) {
    files.push(file(options.svidFileName, certificatesPem(svidFileCertificates(x509, options, now)), certFileMode));
  }
  if (options.svidKeyFileName !== undefined) {
    files.push(file(options.svidKeyFileName, privateKeyPem(x509), keyFileMode));
  }
  return files;
}

/** Aliases `<trust domain>-<n>`, counted per trust domain, so each is unique and says whose CA it is. */
function truststoreEntries(certificates: readonly BundleCertificate[]): TrustedCertificate[] {
  const countByTrustDomain = new Map<string, number>();
  return certificates.map(({ trustDomainName, certificate }) => {
    const index = (countByTrustDomain.get(trustDomainName) ?? 0) + 1;
    countByTrustDomain.set(trustDomainName, index);
    return { der: certificate.der, alias: `${trustDomainName}-${index}` };
  });
}

/** The workload's own trust domain: the X.509-SVID's, else the JWT-SVIDs'. */
function ownTrustDomain(state: IdentityState): TrustDomain | undefined {
  if (state.x509 !== undefined) return state.x509.svid.id.trustDomain;
  const [firstJwtSvid] = state.jwtSvids.values();
  return firstJwtSvid?.id.trustDomain;
}

function renderJwtBundleFile(state: IdentityState, bundles: JwtBundleSet, options: OutputOptions): OutputFile[] {
  const fileName = options.jwtBundleFileName;
  if (fileName === undefined) return [];
  let contents: string;
  switch (options.jwtBundleFormat ?? "spiffe-helper") {
    case "spiffe-helper":
      contents = renderSpiffeHelperJwtBundle(bundles);
      break;
    case "spiffe-bundle-map":
      contents = renderJwtBundleMap(bundles);
      break;
    case "jwks": {
      const selected = jwksBundles(bundles, ownTrustDomain(state), options.includeFederatedDomains);
      if (selected === undefined) return [];
      contents = renderJwks(selected);
      break;
    }
  }
  return [outputFile(options, fileName, contents, options.jwtBundleFileMode, "jwt-bundle")];
}
