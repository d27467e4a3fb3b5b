import { isIP } from "node:net";
import { dirname, relative, sep } from "node:path";
import type { SidecarConfigDraft } from "./build-config.js";
import { quote } from "./config-error.js";
import type { ReadContext } from "./read-context.js";

const X509_KEYS = ["svid_file_name", "svid_key_file_name", "svid_bundle_file_name"] as const;

/** Every file or directory the sidecar writes, with the key that names it. */
function outputPaths(config: SidecarConfigDraft): [key: string, path: string][] {
  const jwtSvidFiles = config.jwtSvids.map((entry, index): [string, string] => [
    `jwt_svids[${index}].jwt_svid_file_name`,
    entry.fileName,
  ]);
  const named: [string, string | undefined][] = [
    ["svid_file_name", config.svidFileName],
    ["svid_key_file_name", config.svidKeyFileName],
    ["svid_bundle_file_name", config.svidBundleFileName],
    ["jwt_bundle_file_name", config.jwtBundleFileName],
    ...jwtSvidFiles,
    ["combined_pem_file_name", config.combinedPemFileName],
    ["federated_bundle_dir", config.federatedBundleDir],
    ["spiffe_bundle_map_file_name", config.spiffeBundleMapFileName],
    ["pkcs12_keystore_file_name", config.pkcs12KeystoreFileName],
    ["pkcs12_truststore_file_name", config.pkcs12TruststoreFileName],
  ];
  return named.filter((entry): entry is [string, string] => entry[1] !== undefined);
}

/** spiffe-helper's rules on daemon mode and the notified process (its config.go ValidateConfig). */
function checkDaemonMode(config: SidecarConfigDraft, context: ReadContext, warnings: string[]): void {
  if (!config.daemonMode) {
    if (config.pidFileName !== undefined) {
      context.failAtKey(
        "pid_file_name",
        "is set but daemon_mode is false, and only daemon mode signals a process",
        "remove pid_file_name, or run in daemon mode",
      );
    }
    if (config.cmd !== undefined) warnings.push("cmd is ignored because daemon_mode is false");
    if (config.renewSignal !== undefined) warnings.push("renew_signal is ignored because daemon_mode is false");
  }
  if (config.pidFileName !== undefined && config.renewSignal === undefined) {
    context.failAtKey(
      "pid_file_name",
      "is set without renew_signal, so the process would never be told",
      "add e.g. renew_signal: SIGHUP",
    );
  }
  if (config.cmd === undefined && config.cmdArgs.length > 0) warnings.push("cmd_args is ignored because cmd is unset");
}

/** spiffe-helper: all or none of the X.509 names, and at least one output (ours count too). */
function checkOutputsPresent(config: SidecarConfigDraft, context: ReadContext): void {
  const x509 = [config.svidFileName, config.svidKeyFileName, config.svidBundleFileName];
  const setIndex = x509.findIndex((name) => name !== undefined);
  const unsetIndex = x509.findIndex((name) => name === undefined);
  if (setIndex !== -1 && unsetIndex !== -1) {
    const missing = X509_KEYS[unsetIndex] ?? "";
    context.failAtKey(
      missing,
      `is unset while ${X509_KEYS[setIndex] ?? ""} is set, and the X.509 outputs go together`,
      `set all of ${X509_KEYS.join(", ")}, or none`,
      X509_KEYS[setIndex],
    );
  }
  if (outputPaths(config).length === 0) {
    context.failAtKey(
      "",
      "no output is configured",
      "set svid_file_name, svid_key_file_name and svid_bundle_file_name, or jwt_svids, or jwt_bundle_file_name",
    );
  }
}

/** Two outputs on one path would overwrite each other; the bundle directory is pruned, so it holds nothing else. */
function checkOutputPaths(config: SidecarConfigDraft, context: ReadContext): void {
  const outputs = outputPaths(config);
  const pidFile: [string, string][] = config.pidFileName === undefined ? [] : [["pid_file_name", config.pidFileName]];
  const seen = new Map<string, string>();
  for (const [key, path] of [...outputs, ...pidFile]) {
    const earlier = seen.get(path);
    if (earlier !== undefined) {
      context.failAtKey(key, `${quote(path)} is also the path of ${earlier}`, "give each file its own name");
    }
    seen.set(path, key);
  }
  const bundleDir = config.federatedBundleDir;
  if (bundleDir === undefined) return;
  if (bundleDir === config.certDir || !relative(bundleDir, config.certDir).startsWith("..")) {
    context.failAtKey(
      "federated_bundle_dir",
      `${quote(bundleDir)} is cert_dir or contains it, and files of trust domains that go away are deleted from it`,
      'use a directory of its own, e.g. federated_bundle_dir: "federated"',
    );
  }
  for (const [key, path] of outputs) {
    if (path.startsWith(bundleDir + sep)) {
      context.failAtKey(
        key,
        `${quote(path)} is inside federated_bundle_dir, which the sidecar prunes`,
        "write it elsewhere",
      );
    }
  }
}

/** The `..data` swap replaces the files of one directory together, so every output must be a plain name in cert_dir. */
function checkDirectoryLayout(config: SidecarConfigDraft, context: ReadContext): void {
  if (config.writeLayout !== "directory") return;
  for (const [key, path] of outputPaths(config)) {
    if (dirname(path) !== config.certDir) {
      context.failAtKey(
        key,
        `${quote(path)} is not directly in cert_dir, which write_layout: directory needs to swap all files at once`,
        "write a plain file name, or use write_layout: files",
      );
    }
  }
}

/** RFC 1123 host name syntax; whether it resolves here is checked before `run` (environment-checks.ts). */
const HOST_NAME = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i;

/**
 * spiffe-helper's include_federated_domains puts every federated CA into the one bundle the
 * app trusts, so each federated trust domain's CA can then vouch for identities of ours: an
 * app that checks only the chain, not the trust domain of the peer's SPIFFE ID, is open to it.
 */
function checkFederation(config: SidecarConfigDraft, warnings: string[]): void {
  if (!config.includeFederatedDomains) return;
  warnings.push(
    "include_federated_domains merges every federated trust domain's CAs into svid_bundle_file_name, " +
      "so any of them can vouch for identities of this trust domain unless the app checks each peer's " +
      "trust domain; prefer federated_bundle_dir, which writes one bundle per trust domain",
  );
}

/** Rules on this project's extensions. */
function checkExtensions(config: SidecarConfigDraft, context: ReadContext, warnings: string[]): void {
  if ((config.restartPolicy === "on-failure" || config.restartPolicy === "always") && config.cmd === undefined) {
    context.failAtKey(
      "restart_policy",
      `is ${quote(config.restartPolicy)} but there is no cmd to restart`,
      "set cmd, or remove restart_policy",
    );
  }
  if (config.notifyAction === "restart" && config.cmd === undefined) {
    context.failAtKey(
      "notify_action",
      'is "restart" but there is no cmd to restart',
      'set cmd, or use notify_action: "signal"',
    );
  }
  const keystoreKey = config.pkcs12KeystoreFileName !== undefined
    ? "pkcs12_keystore_file_name"
    : "pkcs12_truststore_file_name";
  const hasPkcs12 = config.pkcs12KeystoreFileName !== undefined || config.pkcs12TruststoreFileName !== undefined;
  if (hasPkcs12 && config.pkcs12Password === undefined) {
    context.failAtKey(keystoreKey, "is set without a password", "add pkcs12_password_file (or pkcs12_password)");
  }
  if (!hasPkcs12 && config.pkcs12Password !== undefined) {
    warnings.push("pkcs12_password is ignored because no PKCS#12 file is configured");
  }
  const { bindAddress, livenessPath, readinessPath, metricsPath } = config.healthChecks;
  if (bindAddress !== undefined && isIP(bindAddress) === 0 && !HOST_NAME.test(bindAddress)) {
    context.failAtKey(
      "health_checks.bind_address",
      `${quote(bindAddress)} is neither an IP address nor a host name`,
      "write e.g. bind_address: 127.0.0.1, or remove it to listen on every interface",
    );
  }
  const endpointPaths = [livenessPath, readinessPath, metricsPath];
  if (new Set(endpointPaths).size < endpointPaths.length) {
    context.failAtKey(
      "health_checks",
      `liveness_path, readiness_path and metrics_path must differ, got ${endpointPaths.map(quote).join(", ")}`,
      "give each endpoint its own path",
    );
  }
}

/**
 * The rules that span several keys, spiffe-helper's first, in its order. Throws a
 * `ConfigError` for the first broken rule; returns warnings for settings that have no effect.
 */
export function checkConfigRules(config: SidecarConfigDraft, context: ReadContext): string[] {
  const warnings: string[] = [];
  checkDaemonMode(config, context, warnings);
  checkOutputsPresent(config, context);
  checkOutputPaths(config, context);
  checkDirectoryLayout(config, context);
  checkExtensions(config, context, warnings);
  checkFederation(config, warnings);
  return warnings;
}
