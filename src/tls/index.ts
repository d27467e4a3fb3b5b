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
export { authorizeAny, authorizeId, authorizeMatching, authorizeMemberOf, authorizeOneOf } from "./authorizers.js";
export {
  createMtlsServer,
  createMtlsWebServer,
  createTlsServer,
  mtlsClientOptions,
  mtlsWebClientOptions,
  peerSpiffeId,
  tlsClientOptions,
  type SourceServerOptions,
  type WebIdentity,
} from "./source-tls.js";
export { type SpiffeTlsSource, type TlsBundleSource, type UpdatingSource, type X509SvidSource } from "./source-material.js";
export { SpiffeHttpsAgent, type SpiffeHttpsAgentOptions } from "./https-agent.js";
