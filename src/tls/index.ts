export {
  PeerAuthenticationError,
  SpiffeTlsFilesError,
  type PeerAuthenticationRule,
  type TlsFilesRule,
} from "./errors.js";
export { spiffeTlsMaterialFromPem, type SpiffeTlsMaterial, type SpiffeTlsPem, type TlsMaterialOptions } from "./tls-material.js";
export { loadSpiffeTlsFiles, readSpiffeTlsPem, type SpiffeTlsFiles } from "./tls-files.js";
export {
  authorizeSpiffeId,
  peerCertificateChain,
  verifyPeerCertificate,
  verifyTlsPeer,
  type SpiffeIdAuthorizer,
  type VerifyPeerOptions,
} from "./peer-authorization.js";
export {
  createSpiffeTlsContext,
  SpiffeTlsContext,
  verifiedPeer,
  type SpiffeClientOptions,
  type SpiffeServerOptions,
  type SpiffeTlsContextEvents,
  type SpiffeTlsContextOptions,
} from "./spiffe-tls-context.js";
export { bearerToken, readJwtBundleFile, validateBearerJwtSvid, type BearerJwtSvidOptions } from "./bearer-jwt.js";
