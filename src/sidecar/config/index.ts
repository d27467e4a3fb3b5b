export { ConfigError, type ConfigProblem, type SourcePosition } from "./config-error.js";
export { lookupIdInDatabase, systemConfigHost, type ConfigHost } from "./config-host.js";
export { effectiveConfigYaml } from "./effective-config.js";
export { loadConfigFile } from "./load-config.js";
export { parseConfig, type ParseConfigOptions } from "./parse-config.js";
export { allConfigKeys, configSchema, DEFAULT_AGENT_ADDRESS } from "./schema.js";
export {
  Secret,
  type ExecHookConfig,
  type HealthChecksConfig,
  type JwtBundleFormat,
  type JwtSvidOutput,
  type LogLevel,
  type NotifyAction,
  type RestartPolicy,
  type SidecarConfig,
  type WriteLayout,
} from "./sidecar-config.js";
