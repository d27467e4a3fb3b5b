import { relative } from "node:path";
import { Document } from "yaml";
import { formatHostPort } from "../verify/served-certificate.js";
import { configSchema, type ConfigValues } from "./schema.js";
import { formatSection } from "./section-fields.js";
import type { SidecarConfig } from "./sidecar-config.js";

/**
 * The config in the file's own terms. Typed as `ConfigValues`, so a key added to the schema
 * without a line here fails to compile. Output names are shown relative to `cert_dir`, which is
 * shown absolute, so the text parses back to the same config.
 */
function toConfigValues(config: SidecarConfig): ConfigValues {
  const inCertDir = (path: string | undefined): string | undefined =>
    path === undefined ? undefined : relative(config.certDir, path);
  return {
    agent_address: config.agentAddress,
    cmd: config.cmd,
    cmd_args: config.cmdArgs,
    pid_file_name: config.pidFileName,
    renew_signal: config.renewSignal,
    cert_dir: config.certDir,
    svid_file_name: inCertDir(config.svidFileName),
    svid_key_file_name: inCertDir(config.svidKeyFileName),
    svid_bundle_file_name: inCertDir(config.svidBundleFileName),
    jwt_bundle_file_name: inCertDir(config.jwtBundleFileName),
    jwt_svids: config.jwtSvids.map((entry) => ({
      jwt_audience: entry.audience,
      jwt_extra_audiences: entry.extraAudiences,
      jwt_svid_file_name: inCertDir(entry.fileName),
    })),
    include_federated_domains: config.includeFederatedDomains,
    add_intermediates_to_bundle: config.addIntermediatesToBundle,
    omit_expired: config.omitExpired,
    daemon_mode: config.daemonMode,
    hint: config.hint,
    cert_file_mode: config.certFileMode,
    key_file_mode: config.keyFileMode,
    jwt_bundle_file_mode: config.jwtBundleFileMode,
    jwt_svid_file_mode: config.jwtSvidFileMode,
    health_checks: {
      listener_enabled: config.healthChecks.listenerEnabled,
      bind_address: config.healthChecks.bindAddress,
      bind_port: config.healthChecks.bindPort,
      liveness_path: config.healthChecks.livenessPath,
      readiness_path: config.healthChecks.readinessPath,
      metrics_path: config.healthChecks.metricsPath,
    },
    file_owner: config.fileOwner,
    file_group: config.fileGroup,
    create_cert_dir: config.createCertDir,
    combined_pem_file_name: inCertDir(config.combinedPemFileName),
    federated_bundle_dir: inCertDir(config.federatedBundleDir),
    jwt_bundle_format: config.jwtBundleFormat,
    spiffe_bundle_map_file_name: inCertDir(config.spiffeBundleMapFileName),
    pkcs12_keystore_file_name: inCertDir(config.pkcs12KeystoreFileName),
    pkcs12_truststore_file_name: inCertDir(config.pkcs12TruststoreFileName),
    // A password read from a file is shown by its file; one written inline is redacted.
    pkcs12_password: config.pkcs12PasswordFile === undefined ? config.pkcs12Password : undefined,
    pkcs12_password_file: config.pkcs12PasswordFile,
    write_layout: config.writeLayout,
    exec_hook: {
      cmd: config.execHook?.cmd,
      args: config.execHook?.args ?? [],
      timeout: config.execHook?.timeoutMs ?? configSchema.exec_hook.defaultValue.timeout,
    },
    verify_reload: {
      address: config.verifyReload === undefined ? undefined : formatHostPort(config.verifyReload),
      server_name: config.verifyReload?.serverName,
      protocol: config.verifyReload?.protocol ?? configSchema.verify_reload.defaultValue.protocol,
      window: config.verifyReload?.windowMs ?? configSchema.verify_reload.defaultValue.window,
      escalate: config.verifyReload?.escalate ?? configSchema.verify_reload.defaultValue.escalate,
    },
    notify_action: config.notifyAction,
    notify_on: config.notifyOn,
    restart_grace_period: config.restartGracePeriodMs,
    restart_policy: config.restartPolicy,
    restart_backoff_max: config.restartBackoffMaxMs,
    cmd_start_grace: config.cmdStartGraceMs,
    notify_min_interval: config.notifyMinIntervalMs,
    one_shot_timeout: config.oneShotTimeoutMs,
    log_level: config.logLevel,
    trust_domain: config.trustDomain,
  };
}

/**
 * The fully defaulted configuration as YAML with the file's snake_case keys, as
 * `spiffe-sidecar validate` prints it. Unset keys show as `null`; secrets as `<redacted>`.
 */
export function effectiveConfigYaml(config: SidecarConfig): string {
  const document = new Document(formatSection(configSchema, toConfigValues(config)));
  document.commentBefore = ` Effective configuration of ${config.sourceFile}: every key, defaults included.`;
  return document.toString({ lineWidth: 0 });
}
