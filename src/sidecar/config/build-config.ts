import { isAbsolute, resolve } from "node:path";
import { describeError } from "../../errors.js";
import { parseTrustDomain } from "../../spiffe/spiffe-id.js";
import { parseEndpointAddress } from "../../workloadapi/address.js";
import { parseHostPort, type VerifyReloadConfig } from "../verify/served-certificate.js";
import { quote } from "./config-error.js";
import type { ReadContext } from "./read-context.js";
import { configSchema, DEFAULT_AGENT_ADDRESS, type ConfigValues } from "./schema.js";
import { Secret, type ExecHookConfig, type JwtSvidOutput, type SidecarConfig } from "./sidecar-config.js";

/** A config before the cross-field rules have added their warnings. */
export type SidecarConfigDraft = Omit<SidecarConfig, "warnings">;

export interface BuildOptions {
  readonly cwd: string;
  /** `-daemon-mode` on the command line or `spiffe-sidecar once`; wins over the file, as in spiffe-helper. */
  readonly daemonMode: boolean | undefined;
}

/** `trust_domain` as a name: `spiffe://example.org` is accepted too, as go-spiffe's parser does. */
function pinnedTrustDomain(configured: string | undefined, context: ReadContext): string | undefined {
  if (configured === undefined) return undefined;
  try {
    return parseTrustDomain(configured).name;
  } catch (error: unknown) {
    context.failAtKey("trust_domain", `${quote(configured)} is not a trust domain: ${describeError(error)}`, 'write e.g. trust_domain: "example.org"');
  }
}

const ADDRESS_FIX = "write a socket path, unix:///path/to/agent.sock or tcp://IP:port";

/**
 * spiffe-helper's order: `agent_address`, else `SPIFFE_ENDPOINT_SOCKET`, else the deprecated
 * `SPIRE_AGENT_ADDRESS` (an error when both variables are set), else its default path. The
 * address is checked here so `validate` catches it, and passed on as written.
 */
function resolveAgentAddress(
  configured: string | undefined,
  env: NodeJS.ProcessEnv,
  context: ReadContext,
  warnings: string[],
): string {
  const endpointSocket = env["SPIFFE_ENDPOINT_SOCKET"] || undefined;
  const spireAddress = env["SPIRE_AGENT_ADDRESS"] || undefined;
  let address = configured;
  let origin = "";
  if (address === undefined && endpointSocket !== undefined && spireAddress !== undefined) {
    context.failAtKey(
      "agent_address",
      "is unset and both SPIFFE_ENDPOINT_SOCKET and the deprecated SPIRE_AGENT_ADDRESS are set",
      "unset SPIRE_AGENT_ADDRESS, or set agent_address",
    );
  }
  if (address === undefined && endpointSocket !== undefined) {
    [address, origin] = [endpointSocket, " (from SPIFFE_ENDPOINT_SOCKET)"];
  }
  if (address === undefined && spireAddress !== undefined) {
    [address, origin] = [spireAddress, " (from SPIRE_AGENT_ADDRESS)"];
    warnings.push("SPIRE_AGENT_ADDRESS is deprecated; set SPIFFE_ENDPOINT_SOCKET instead");
  }
  address ??= DEFAULT_AGENT_ADDRESS;
  try {
    parseEndpointAddress(address);
  } catch (error: unknown) {
    context.failAtKey(
      "agent_address",
      `${quote(address)}${origin} is not usable: ${describeError(error)}`,
      ADDRESS_FIX,
    );
  }
  return address;
}

/**
 * A control character in a path cannot be meant, and a NUL cannot even reach the kernel: every
 * write would fail and be retried forever, so the file is refused up front.
 */
function checkPathText(key: string, value: string, context: ReadContext): string {
  const control = /[\x00-\x1f\x7f]/.exec(value);
  if (control !== null) {
    const code = `\\u${control[0].charCodeAt(0).toString(16).padStart(4, "0")}`;
    context.failAtKey(key, `${quote(value)} contains the control character ${code}`, "remove it from the name");
  }
  return value;
}

/**
 * Resolves output names the way spiffe-helper's `path.Join(cert_dir, name)` does for relative
 * names. An absolute name is kept when `cert_dir` is unset (spiffe-helper does the same) and
 * refused when it is set, because spiffe-helper would quietly write it under `cert_dir`.
 */
function outputPathResolver(certDir: string, certDirSet: boolean, context: ReadContext) {
  return (key: string, name: string): string => {
    checkPathText(key, name, context);
    if (isAbsolute(name) && certDirSet) {
      context.failAtKey(
        key,
        `${quote(name)} is absolute while cert_dir is set (spiffe-helper would write it under cert_dir)`,
        "write a name relative to cert_dir, or remove cert_dir",
      );
    }
    return resolve(certDir, name);
  };
}

type OutputPathResolver = ReturnType<typeof outputPathResolver>;

function readPassword(
  values: ConfigValues,
  passwordFile: string | undefined,
  context: ReadContext,
): Secret | undefined {
  if (passwordFile === undefined) return values.pkcs12_password;
  if (values.pkcs12_password !== undefined) {
    context.failAtKey("pkcs12_password", "is set together with pkcs12_password_file", "keep only pkcs12_password_file");
  }
  let text: string;
  try {
    text = context.host.readSecretFile(passwordFile);
  } catch (error: unknown) {
    return context.failAtKey(
      "pkcs12_password_file",
      `cannot read ${quote(passwordFile)}: ${describeError(error)}`,
      "point it at a readable file",
    );
  }
  const password = text.replace(/\r?\n$/, "");
  if (password === "") {
    context.failAtKey("pkcs12_password_file", `${quote(passwordFile)} is empty`, "write the password into it");
  }
  return new Secret(password);
}

/**
 * An `exec_hook` with settings but no `cmd` is a mistake (a misspelt `command:` is already an
 * unknown key), never a hook quietly left out. An empty one is no hook: `validate` prints an
 * unset hook that way, and its output must read back.
 */
function readExecHook(values: ConfigValues, context: ReadContext): ExecHookConfig | undefined {
  const hook = values.exec_hook;
  if (hook.cmd === undefined) {
    if (hook.args.length > 0 || hook.timeout !== configSchema.exec_hook.defaultValue.timeout) {
      const fix = "add exec_hook.cmd, or remove exec_hook";
      context.failAtKey("exec_hook.cmd", "is missing, so the hook would never run", fix, "exec_hook");
    }
    return undefined;
  }
  return { cmd: checkPathText("exec_hook.cmd", hook.cmd, context), args: hook.args, timeoutMs: hook.timeout };
}

/** Like `exec_hook`, a `verify_reload` with settings but no `address` is a mistake; an empty one is off. */
function readVerifyReload(values: ConfigValues, context: ReadContext, warnings: string[]): VerifyReloadConfig | undefined {
  const verify = values.verify_reload;
  const defaults = configSchema.verify_reload.defaultValue;
  if (verify.address === undefined) {
    const touched =
      verify.server_name !== undefined ||
      verify.protocol !== defaults.protocol ||
      verify.window !== defaults.window ||
      verify.escalate !== defaults.escalate;
    if (touched) {
      const fix = "add verify_reload.address (the app's host:port), or remove verify_reload";
      context.failAtKey("verify_reload.address", "is missing, so nothing would be verified", fix, "verify_reload");
    }
    return undefined;
  }
  const hostPort = parseHostPort(verify.address);
  if (typeof hostPort === "string") {
    context.failAtKey("verify_reload.address", hostPort, "write e.g. verify_reload.address: 127.0.0.1:8443");
  }
  if (values.svid_file_name === undefined) {
    warnings.push("verify_reload has no effect without svid_file_name: there is no written certificate to compare with");
  }
  return {
    host: hostPort.host,
    port: hostPort.port,
    serverName: verify.server_name,
    protocol: verify.protocol,
    windowMs: verify.window,
    escalate: verify.escalate,
  };
}

function buildJwtSvids(
  values: ConfigValues,
  outputPath: OutputPathResolver,
  context: ReadContext,
): JwtSvidOutput[] {
  return values.jwt_svids.map((entry, index) => {
    const key = `jwt_svids[${index}]`;
    const { jwt_audience: audience, jwt_svid_file_name: fileName } = entry;
    // spiffe-helper requires both; the error points at the entry, since the key itself is absent.
    if (audience === undefined) {
      context.failAtKey(
        `${key}.jwt_audience`,
        "is required in every jwt_svids entry",
        "add the audience the token is for, e.g. jwt_audience: my-service",
        key,
      );
    }
    if (fileName === undefined) {
      context.failAtKey(
        `${key}.jwt_svid_file_name`,
        "is required in every jwt_svids entry",
        "add the token's file, e.g. jwt_svid_file_name: my-service.token",
        key,
      );
    }
    const path = outputPath(`${key}.jwt_svid_file_name`, fileName);
    return { audience, extraAudiences: entry.jwt_extra_audiences, fileName: path };
  });
}

/** Turns the values read from the file into the camelCase, resolved `SidecarConfig`. */
export function buildConfig(
  values: ConfigValues,
  env: NodeJS.ProcessEnv,
  options: BuildOptions,
  context: ReadContext,
  warnings: string[],
): SidecarConfigDraft {
  const certDir = resolve(options.cwd, checkPathText("cert_dir", values.cert_dir ?? "", context));
  const outputPath = outputPathResolver(certDir, values.cert_dir !== undefined, context);
  const output = (key: string, name: string | undefined) => (name === undefined ? undefined : outputPath(key, name));
  const inCwd = (key: string, name: string | undefined) =>
    name === undefined ? undefined : resolve(options.cwd, checkPathText(key, name, context));
  const program = (key: string, name: string | undefined) =>
    name === undefined ? undefined : checkPathText(key, name, context);
  const passwordFile = inCwd("pkcs12_password_file", values.pkcs12_password_file);
  const health = values.health_checks;
  const hook = readExecHook(values, context);
  return {
    sourceFile: context.file,
    agentAddress: resolveAgentAddress(values.agent_address, env, context, warnings),
    cmd: program("cmd", values.cmd),
    cmdArgs: values.cmd_args,
    pidFileName: inCwd("pid_file_name", values.pid_file_name),
    renewSignal: values.renew_signal,
    certDir,
    svidFileName: output("svid_file_name", values.svid_file_name),
    svidKeyFileName: output("svid_key_file_name", values.svid_key_file_name),
    svidBundleFileName: output("svid_bundle_file_name", values.svid_bundle_file_name),
    jwtBundleFileName: output("jwt_bundle_file_name", values.jwt_bundle_file_name),
    jwtSvids: buildJwtSvids(values, outputPath, context),
    includeFederatedDomains: values.include_federated_domains,
    addIntermediatesToBundle: values.add_intermediates_to_bundle,
    omitExpired: values.omit_expired,
    daemonMode: options.daemonMode ?? values.daemon_mode,
    hint: values.hint,
    trustDomain: pinnedTrustDomain(values.trust_domain, context),
    certFileMode: values.cert_file_mode,
    keyFileMode: values.key_file_mode,
    jwtBundleFileMode: values.jwt_bundle_file_mode,
    jwtSvidFileMode: values.jwt_svid_file_mode,
    healthChecks: {
      listenerEnabled: health.listener_enabled,
      bindAddress: health.bind_address,
      bindPort: health.bind_port,
      livenessPath: health.liveness_path,
      readinessPath: health.readiness_path,
      metricsPath: health.metrics_path,
    },
    fileOwner: values.file_owner,
    fileGroup: values.file_group,
    createCertDir: values.create_cert_dir,
    combinedPemFileName: output("combined_pem_file_name", values.combined_pem_file_name),
    federatedBundleDir: output("federated_bundle_dir", values.federated_bundle_dir),
    jwtBundleFormat: values.jwt_bundle_format,
    spiffeBundleMapFileName: output("spiffe_bundle_map_file_name", values.spiffe_bundle_map_file_name),
    pkcs12KeystoreFileName: output("pkcs12_keystore_file_name", values.pkcs12_keystore_file_name),
    pkcs12TruststoreFileName: output("pkcs12_truststore_file_name", values.pkcs12_truststore_file_name),
    pkcs12Password: readPassword(values, passwordFile, context),
    pkcs12PasswordFile: passwordFile,
    writeLayout: values.write_layout,
    execHook: hook,
    verifyReload: readVerifyReload(values, context, warnings),
    notifyAction: values.notify_action,
    notifyOn: values.notify_on,
    restartGracePeriodMs: values.restart_grace_period,
    restartPolicy: values.restart_policy,
    restartBackoffMaxMs: values.restart_backoff_max,
    cmdStartGraceMs: values.cmd_start_grace,
    notifyMinIntervalMs: values.notify_min_interval,
    oneShotTimeoutMs: values.one_shot_timeout,
    logLevel: values.log_level,
  };
}
