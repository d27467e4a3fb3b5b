import { execFileSync } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** Our CLI as built by `npm run build`; `BENCH_SIDECAR_JS` points at another build, e.g. a baseline. */
export const SIDECAR_JS = process.env["BENCH_SIDECAR_JS"] ?? join(REPO_ROOT, "dist/bin/spiffe-sidecar.js");
/** The single executable as `npm run bench` builds it (scripts/build-sea.mjs); `BENCH_SIDECAR_SEA` points at another. */
export const SIDECAR_SEA = process.env["BENCH_SIDECAR_SEA"] ?? join(REPO_ROOT, "dist/sea/spiffe-sidecar");
export const PROBE_APP = join(REPO_ROOT, "bench/probe-app.mjs");

/** The two sidecars under test, by the names the results use. */
export type ToolName = "ours" | "helper";

/** Where scripts/install-interop-tools.sh puts the Go spiffe-helper. */
export function helperBinary(): string | undefined {
  const dir = process.env["INTEROP_BIN"] ?? join(homedir(), ".cache/spiffe-sidecar/interop/bin");
  const path = join(dir, "spiffe-helper");
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    return undefined;
  }
}

/** The single executable, when one was built (it is only measured in the one-shot scenario). */
export function seaBinary(): string | undefined {
  try {
    accessSync(SIDECAR_SEA, constants.X_OK);
    return SIDECAR_SEA;
  } catch {
    return undefined;
  }
}

export function helperVersion(binary: string): string {
  try {
    // -version prints to stderr or stdout depending on the build; take whichever has text.
    const output = execFileSync(binary, ["-version"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return output.trim() || "unknown";
  } catch (error: unknown) {
    const stderr = error !== null && typeof error === "object" && "stderr" in error ? String(error.stderr).trim() : "";
    return stderr || "unknown";
  }
}

export function ourVersion(): string {
  const packageJson: unknown = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8"));
  return typeof packageJson === "object" && packageJson !== null && "version" in packageJson ? String(packageJson.version) : "unknown";
}

/** What both configurations say, in each tool's own syntax. */
export interface SidecarSetup {
  readonly agentSocket: string;
  readonly certDir: string;
  readonly x509: boolean;
  readonly includeFederatedDomains?: boolean;
  /** The probe as `cmd`, signalled with SIGHUP on every update. */
  readonly probe?: { readonly reportSocket: string };
  readonly jwtAudiences?: readonly string[];
  readonly daemonMode: boolean;
}

export const CERT_FILE = "svid.pem";
export const KEY_FILE = "svid_key.pem";
export const BUNDLE_FILE = "svid_bundle.pem";

export function probeArgs(setup: SidecarSetup & { readonly probe: { readonly reportSocket: string } }): string[] {
  return [PROBE_APP, setup.probe.reportSocket, join(setup.certDir, CERT_FILE), join(setup.certDir, KEY_FILE)];
}

export function jwtTokenFile(index: number): string {
  return `jwt_${index}.token`;
}

/** Our YAML; JSON strings are valid YAML scalars, so every path is quoted safely. */
export function ourConfig(setup: SidecarSetup): string {
  const q = (text: string): string => JSON.stringify(text);
  const lines = [`agent_address: ${q(setup.agentSocket)}`, `cert_dir: ${q(setup.certDir)}`, `daemon_mode: ${String(setup.daemonMode)}`];
  if (setup.x509) {
    lines.push(`svid_file_name: ${CERT_FILE}`, `svid_key_file_name: ${KEY_FILE}`, `svid_bundle_file_name: ${BUNDLE_FILE}`);
  }
  if (setup.includeFederatedDomains === true) lines.push("include_federated_domains: true");
  if (setup.probe !== undefined) {
    lines.push(`cmd: ${q(process.execPath)}`, `cmd_args: ${JSON.stringify(probeArgs({ ...setup, probe: setup.probe }))}`, "renew_signal: SIGHUP");
    // The harness pushes the next rotation as soon as the probe has read the last one. The
    // default notify_min_interval (1 s) would hold each of those signals back to one a second,
    // which measures the flood guard, not a rotation; spiffe-helper signals every update.
    lines.push("notify_min_interval: 1ms");
  }
  const audiences = setup.jwtAudiences ?? [];
  if (audiences.length > 0) {
    lines.push("jwt_svids:");
    audiences.forEach((audience, index) => lines.push(`  - jwt_audience: ${q(audience)}`, `    jwt_svid_file_name: ${jwtTokenFile(index)}`));
  }
  return `${lines.join("\n")}\n`;
}

/** spiffe-helper's HCL; its cmd_args is one string split on spaces, so paths must have none. */
export function helperConfig(setup: SidecarSetup): string {
  const q = (text: string): string => JSON.stringify(text);
  const lines = [`agent_address = ${q(setup.agentSocket)}`, `cert_dir = ${q(setup.certDir)}`, `daemon_mode = ${String(setup.daemonMode)}`];
  if (setup.x509) {
    lines.push(`svid_file_name = ${q(CERT_FILE)}`, `svid_key_file_name = ${q(KEY_FILE)}`, `svid_bundle_file_name = ${q(BUNDLE_FILE)}`);
  }
  if (setup.includeFederatedDomains === true) lines.push("include_federated_domains = true");
  if (setup.probe !== undefined) {
    const args = probeArgs({ ...setup, probe: setup.probe });
    if (args.some((arg) => /\s|"/.test(arg))) throw new Error(`spiffe-helper cannot pass arguments with spaces or quotes: ${args.join(" ")}`);
    lines.push(`cmd = ${q(process.execPath)}`, `cmd_args = ${q(args.join(" "))}`, `renew_signal = "SIGHUP"`);
  }
  const audiences = setup.jwtAudiences ?? [];
  if (audiences.length > 0) {
    const entries = audiences.map((audience, index) => `  { jwt_audience = ${q(audience)}, jwt_svid_file_name = ${q(jwtTokenFile(index))} }`);
    lines.push(`jwt_svids = [\n${entries.join(",\n")}\n]`);
  }
  return `${lines.join("\n")}\n`;
}

/** Extra node flags for our sidecar, e.g. `BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"` to profile it. */
export function ourNodeArgs(): string[] {
  return (process.env["BENCH_NODE_ARGS"] ?? "").split(" ").filter((arg) => arg !== "");
}

/** The command line that runs a tool on a config file. */
export function commandFor(tool: ToolName, configPath: string, helper: string | undefined): { file: string; args: string[] } {
  if (tool === "ours") return { file: process.execPath, args: [...ourNodeArgs(), SIDECAR_JS, "run", "-c", configPath] };
  if (helper === undefined) throw new Error("spiffe-helper is not installed");
  return { file: helper, args: ["-config", configPath] };
}
