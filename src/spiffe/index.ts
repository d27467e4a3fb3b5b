export { describeError, SpiffeSidecarError } from "../errors.js";
export {
  hasWorkloadPath,
  isMemberOf,
  parseSpiffeId,
  parseTrustDomain,
  spiffeIdEquals,
  spiffeIdFromPath,
  SpiffeIdError,
  validatePath,
  type SpiffeId,
  type TrustDomain,
} from "./spiffe-id.js";
export { CertificateError, parseCertificate, type KeyUsageName, type ParseCertificateOptions, type ParsedCertificate } from "./certificate.js";
export { decodePem, encodePem, PemError, type PemBlock } from "./pem.js";
export { DerError, splitDerSequence } from "./der.js";
export {
  marshalX509BundleDer,
  marshalX509BundlePem,
  parseX509BundleDer,
  parseX509BundlePem,
  x509BundleFromCertificates,
  X509BundleError,
  X509BundleSet,
  type X509Bundle,
  type X509BundleSource,
} from "./x509-bundle.js";
export {
  marshalX509SvidPem,
  parseX509SvidDer,
  parseX509SvidPem,
  validateX509Svid,
  verifyX509Svid,
  X509SvidError,
  type ParseX509SvidOptions,
  type VerifiedX509Svid,
  type VerifyX509SvidOptions,
  type X509Svid,
  type X509SvidRule,
} from "./x509-svid.js";
export {
  JwtBundleError,
  JwtBundleSet,
  marshalJwtBundle,
  parseJwtBundle,
  type JwtBundle,
  type JwtBundleSource,
} from "./jwt-bundle.js";
export {
  JwtSvidError,
  parseInsecureJwtSvid,
  validateJwtSvid,
  type JwtSvid,
  type JwtSvidRule,
  type ValidateJwtSvidOptions,
} from "./jwt-svid.js";
export { parseJwtBundleFile, type JwtBundleFile, type JwtBundleFileFormat } from "./jwt-bundle-file.js";
export { marshalSpiffeBundle, parseSpiffeBundle, SpiffeBundleError, type SpiffeBundle } from "./spiffe-bundle.js";
export { marshalBundleMap, parseBundleMap } from "./bundle-map.js";
