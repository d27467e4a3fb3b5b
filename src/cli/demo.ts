import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startFakeAgent } from "../fakeagent/index.js";
import { loadConfigFile } from "../sidecar/config/index.js";
import { runSidecar } from "../sidecar/daemon/run-sidecar.js";
import { createLogger } from "../sidecar/logger.js";
import { UsageError } from "./usage-error.js";

const printerScript = fileURLToPath(new URL("../../examples/demo/reload-printer.mjs", import.meta.url));

/** A config like config.example.yaml, pointing at the embedded agent and the demo directory. */
function demoConfig(socketPath: string, certDir: string): string {
  return `# Written by \`npm run demo\`; see config.example.yaml for every key.
agent_address: unix://${socketPath}
cert_dir: ${certDir}
svid_file_name: svid.pem
svid_key_file_name: svid_key.pem
svid_bundle_file_name: svid_bundle.pem
include_federated_domains: true
jwt_bundle_file_name: jwt_bundle.json
jwt_svids:
  - jwt_audience: demo-audience
    jwt_svid_file_name: jwt_svid.token
cmd: ${process.execPath}
cmd_args: [${JSON.stringify(printerScript)}, ${JSON.stringify(join(certDir, "svid.pem"))}]
renew_signal: SIGHUP
health_checks:
  listener_enabled: true
  bind_port: 0
log_level: info
`;
}

/**
 * `spiffe-sidecar demo`: the fake agent in-process (5 s SVIDs, a federated trust domain) and
 * the sidecar writing real files into ./demo/, with a child that prints every reload. Runs
 * until Ctrl-C, or for `--duration`.
 */
export async function runDemo(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: { dir: { type: "string", default: "demo" }, duration: { type: "string" } },
  });
  const durationSeconds = values.duration === undefined ? undefined : Number(values.duration);
  if (durationSeconds !== undefined && !(durationSeconds > 0)) {
    throw new UsageError(`--duration takes a number of seconds, not "${values.duration}"`);
  }
  const demoDir = resolve(values.dir);
  const certDir = join(demoDir, "certs");
  await mkdir(certDir, { recursive: true });
  const agent = await startFakeAgent({
    socketPath: join(demoDir, "agent.sock"),
    trustDomain: "example.org",
    identities: [{ spiffeId: "spiffe://example.org/demo-app" }],
    x509TtlSeconds: 5,
    jwtTtlSeconds: 10,
    federatesWith: ["partner.org"],
  });
  const configPath = join(demoDir, "config.yaml");
  await writeFile(configPath, demoConfig(agent.socketPath, certDir));
  process.stderr.write(
    `demo: fake agent on ${agent.address}; sidecar config ${configPath}; files in ${certDir}\n` +
      `demo: SVIDs live 5 s and rotate every ~2.5 s; watch the [app] lines. Ctrl-C stops.\n`,
  );
  const config = await loadConfigFile(configPath);
  const timer =
    durationSeconds === undefined ? undefined : setTimeout(() => process.kill(process.pid, "SIGTERM"), durationSeconds * 1000);
  try {
    const code = await runSidecar({ config, logger: await createLogger(config.logLevel) });
    // The child exits 0 on SIGTERM; a demo stopped on purpose is a success.
    return code;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    await agent.stop();
  }
}
