import {
  boolean,
  commandArgs,
  duration,
  listOf,
  mode,
  oneOf,
  owner,
  port,
  secret,
  signal,
  stringList,
  text,
  textWithDefault,
  type Schema,
  type SchemaValues,
} from "./schema-fields.js";
import { listOfSections, section } from "./section-fields.js";
import { VERIFY_ESCALATIONS, VERIFY_PROTOCOLS } from "../verify/served-certificate.js";
import {
  DEFAULT_NOTIFY_ON,
  JWT_BUNDLE_FORMATS,
  LOG_LEVELS,
  NOTIFY_ACTIONS,
  NOTIFY_ON_KINDS,
  RESTART_POLICIES,
  WRITE_LAYOUTS,
} from "./sidecar-config.js";

/** spiffe-helper's default Workload API socket, used when neither the config nor the environment names one. */
export const DEFAULT_AGENT_ADDRESS = "/tmp/spire-agent/public/api.sock";

function checkUrlPath(value: string): string | undefined {
  return /^\/[\x21-\x7e]*$/.test(value) ? undefined : "is not an absolute URL path without spaces";
}

const jwtSvidSchema = {
  jwt_audience: text("Audience the JWT-SVID is requested for (required)."),
  jwt_extra_audiences: stringList("More audiences requested in the same token."),
  jwt_svid_file_name: text("File the token is written to, relative to cert_dir (required)."),
} satisfies Schema;

const healthChecksSchema = {
  listener_enabled: boolean("Serve the liveness, readiness and metrics endpoints.", false),
  bind_address: text("Address the health listener binds to; unset binds every interface, IPv4 and IPv6, as spiffe-helper does (extension)."),
  bind_port: port("Port of the health listener; 0 lets the OS choose (an extension).", 8081),
  liveness_path: textWithDefault("Path answering whether the sidecar is alive.", "/live", checkUrlPath),
  readiness_path: textWithDefault(
    "Path answering whether every output is written and the SVID is current.",
    "/ready",
    checkUrlPath,
  ),
  metrics_path: textWithDefault("Path of the Prometheus metrics (extension).", "/metrics", checkUrlPath),
} satisfies Schema;

const execHookSchema = {
  cmd: text("Program run after every complete update (required in exec_hook)."),
  args: commandArgs("Its arguments: one string split like a shell would, or a list."),
  timeout: duration("How long the hook may run before it is killed.", 10_000),
} satisfies Schema;

const verifyReloadSchema = {
  address: text("The app's TLS endpoint as host:port, [v6]:port for IPv6 (required in verify_reload)."),
  server_name: text("SNI sent in the probe; unset sends none for an IP address."),
  protocol: oneOf("tls: TLS from the first byte; postgres: PostgreSQL's SSLRequest first.", VERIFY_PROTOCOLS, "tls"),
  window: duration("How long the app may take to serve the new certificate; probes back off from 100ms.", 10_000),
  escalate: oneOf(
    "When the window passes: none reports; signal notifies again; restart notifies again, then restarts cmd.",
    VERIFY_ESCALATIONS,
    "none",
  ),
} satisfies Schema;

/**
 * Every configuration key, in the order config.example.yaml and `validate` list them. The
 * first block is spiffe-helper's keys with its defaults; the second is this project's
 * extensions. Unknown-key detection, `validate` output and the example file's test all read
 * this table, so a key cannot exist in one and be missing from another.
 */
export const configSchema = {
  agent_address: text(
    "Workload API socket: a path, unix:///path or tcp://IP:port; falls back to SPIFFE_ENDPOINT_SOCKET.",
  ),
  cmd: text("Program the sidecar starts and keeps running."),
  cmd_args: commandArgs("Its arguments: one string split like a shell would (spiffe-helper's form), or a list."),
  pid_file_name: text("File holding the pid of a process to signal on each update."),
  renew_signal: signal("Signal sent to cmd or the pid_file_name process on each update; unset sends none."),
  cert_dir: text("Directory of the output files; relative to the working directory, as spiffe-helper does."),
  svid_file_name: text("X.509-SVID certificate chain, leaf first (PEM)."),
  svid_key_file_name: text("X.509-SVID private key (PKCS#8 PEM)."),
  svid_bundle_file_name: text("X.509 trust bundle (PEM)."),
  jwt_bundle_file_name: text("JWT bundle, in jwt_bundle_format."),
  jwt_svids: listOfSections("JWT-SVIDs to fetch, one token file each.", jwtSvidSchema, (): Schema => configSchema),
  include_federated_domains: boolean("Add the federated trust domains' CAs to svid_bundle_file_name.", false),
  add_intermediates_to_bundle: boolean("Add the SVID's intermediate CAs to svid_bundle_file_name.", false),
  omit_expired: boolean("Leave expired CA certificates out of the written bundles.", false),
  daemon_mode: boolean("Keep running and rotate; false writes once and exits (as `spiffe-sidecar once`).", true),
  hint: text("Pick the X.509-SVID with this hint; unset picks the first."),
  cert_file_mode: mode("Mode of certificate and bundle files.", 0o644),
  key_file_mode: mode("Mode of private key files.", 0o600),
  jwt_bundle_file_mode: mode("Mode of the JWT bundle file.", 0o600),
  jwt_svid_file_mode: mode("Mode of JWT-SVID token files.", 0o600),
  health_checks: section("Health and metrics HTTP listener.", healthChecksSchema, (): Schema => configSchema),

  file_owner: owner("Owner of every output file: a user name or uid.", "user"),
  file_group: owner("Group of every output file: a group name or gid.", "group"),
  create_cert_dir: boolean("Create a missing cert_dir, and its parents, with mode 0755 (spiffe-helper does not; its writes then fail).", true),
  combined_pem_file_name: text("One file holding the private key, then the certificate chain."),
  federated_bundle_dir: text("Directory of one <trust-domain>.pem bundle per federated trust domain."),
  jwt_bundle_format: oneOf("Format of jwt_bundle_file_name.", JWT_BUNDLE_FORMATS, "spiffe-helper"),
  spiffe_bundle_map_file_name: text(
    "SPIFFE bundle map of every trust domain's X.509 CAs, for gRPC's spiffe_trust_bundle_map_file (gRFC A87).",
  ),
  pkcs12_keystore_file_name: text("PKCS#12 keystore with the private key and certificate chain."),
  pkcs12_truststore_file_name: text("PKCS#12 truststore with the trust bundle's CA certificates."),
  pkcs12_password: secret("Password of the PKCS#12 files; prefer pkcs12_password_file."),
  pkcs12_password_file: text("File holding the PKCS#12 password (one trailing newline is ignored)."),
  write_layout: oneOf("files: each file replaced on its own; directory: ..data symlink swap.", WRITE_LAYOUTS, "files"),
  exec_hook: section(
    "Program run after each update notify_on selects, killed after its timeout.",
    execHookSchema,
    (): Schema => configSchema,
  ),
  verify_reload: section(
    "Check that the app serves the SVID just written (serial and SPIFFE ID); /ready and metrics report it.",
    verifyReloadSchema,
    (): Schema => configSchema,
  ),
  notify_action: oneOf(
    "How cmd learns of an update: signal sends renew_signal, restart restarts it.",
    NOTIFY_ACTIONS,
    "signal",
  ),
  restart_grace_period: duration("Time between SIGTERM and SIGKILL when cmd is stopped.", 10_000),
  restart_policy: oneOf(
    "When cmd is started again: on-renewal (spiffe-helper's), never, on-failure or always.",
    RESTART_POLICIES,
    "on-renewal",
  ),
  restart_backoff_max: duration("Longest wait between restarts of cmd.", 30_000),
  cmd_start_grace: duration("How long after cmd starts its renew_signal is held back.", 1_000),
  notify_on: listOf(
    "Which changed outputs notify the app: x509, bundles, jwt_svid, jwt_bundle.",
    NOTIFY_ON_KINDS,
    DEFAULT_NOTIFY_ON,
  ),
  notify_min_interval: duration("Shortest time between two notifications of the app.", 1_000),
  one_shot_timeout: duration("How long one-shot mode keeps trying before it fails.", 60_000),
  log_level: oneOf("Log level.", LOG_LEVELS, "info"),
  trust_domain: text("Trust domain the X.509-SVID must belong to; an update naming another is rejected (extension)."),
} satisfies Schema;

export type ConfigValues = SchemaValues<typeof configSchema>;

/** Every key as a dotted path, nested ones as `health_checks.bind_port` and `jwt_svids[].jwt_audience`. */
export function allConfigKeys(schema: Schema = configSchema, prefix = ""): string[] {
  return Object.entries(schema).flatMap(([name, field]) => {
    const key = prefix === "" ? name : `${prefix}.${name}`;
    if (field.children === undefined) return [key];
    const childPrefix = Array.isArray(field.defaultValue) ? `${key}[]` : key;
    return [key, ...allConfigKeys(field.children, childPrefix)];
  });
}
