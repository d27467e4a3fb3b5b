export { startFakeAgent, restartOnlyChange, type FakeAgent, type FakeAgentUpdate } from "./server.js";
export { startConfiguredAgent, type ConfiguredAgentOptions } from "./configured-agent.js";
export {
  KEY_TYPES,
  resolveOptions,
  type FakeAgentOptions,
  type FederatedBundleFile,
  type Identity,
  type IdentityOptions,
  type KeyLabeler,
  type KeyType,
  type LiveSettings,
  type ResolvedOptions,
} from "./options.js";
export {
  CONFIG_FILE_KEYS,
  mergeLayers,
  parseConfigText,
  resolveLayer,
  type ConfigLayer,
} from "./config-file.js";
export {
  CLOSE_STATUSES,
  FAULT_KINDS,
  RPC_NAMES,
  type CloseStatus,
  type Fault,
  type FaultKind,
  type RpcName,
} from "./faults.js";
export { DEFAULT_FOREIGN_TRUST_DOMAIN, type IssuedSvid } from "./issuer.js";
export type { AgentSnapshot } from "./responses.js";
export { parseDuration } from "../text/duration.js";
export { FakeAgentConfigError, FakeAgentSocketError, FakeAgentStoppedError } from "./errors.js";
export { createCertificateAuthority, issueX509Svid, bundleDer, type CertificateAuthority, type IssuedX509Svid } from "./ca.js";
export { createJwtSigningKey, signJwtSvid, type JwtSigningKey } from "./jwt-issuer.js";
