#!/usr/bin/env node
import { parseArgs } from "node:util";
import type { Logger, LevelWithSilent } from "pino";
import { describeError } from "../errors.js";
import { closestMatch } from "../text/closest-match.js";
import type { ConfigLayer } from "../fakeagent/config-file.js";
import { startConfiguredAgent } from "../fakeagent/configured-agent.js";
import { createAgentLogger } from "../fakeagent/logger.js";
import { DURATION_FORMAT_HINT, parseDuration } from "../text/duration.js";
import type { KeyType } from "../fakeagent/options.js";
import type { FakeAgent } from "../fakeagent/server.js";
import { ExitCode } from "./exit-codes.js";
import { UsageError } from "./usage-error.js";

const HELP = `spiffe-fake-agent: a SPIFFE Workload API server for development and tests

Usage:
  spiffe-fake-agent --socket PATH --trust-domain NAME --id SPIFFE-ID [--id ...] [options]
  spiffe-fake-agent --config FILE [options]

Options (flags win over the config file):
  --socket PATH             Unix socket to serve on (its directory is created)
  --trust-domain NAME       the agent's trust domain, e.g. example.org
  --id SPIFFE-ID            an identity to issue SVIDs for (repeatable)
  --x509-ttl DURATION       X.509-SVID lifetime, whole seconds (default 60s); rotated at half-life
  --jwt-ttl DURATION        JWT-SVID lifetime, whole seconds (default 5m)
  --rotation-jitter DUR     random extra delay added to each rotation (default 0s)
  --rotation-overlap DUR    how long a new CA or JWT key is published before it issues
                            (default half the X.509 TTL); the old one goes after the longer
                            of this and the TTL
  --federate NAME           a federated trust domain (repeatable)
  --federated-bundle-file NAME=FILE
                            take federated trust domain NAME's X.509 bundle from the PEM
                            FILE (another agent's --write-bundle) instead of a CA of its own;
                            NAME must also be given to --federate (repeatable)
  --intermediate            issue from an intermediate CA (chains are leaf + intermediate)
  --key-type TYPE           ec-p256 (default) or rsa-2048
  --write-bundle FILE       keep FILE holding the trust bundle as PEM
  --config FILE             YAML config (identities with hints, faults, ...); edits apply live
  --log-level LEVEL         trace, debug, info (default), warn, error, silent
  -h, --help                this text

Durations: 500ms, 10s, 2m, 1h. Signals: SIGUSR1 rotates the SVIDs now, SIGUSR2 rotates the CA,
SIGTERM and SIGINT stop the agent and remove the socket. Exit code 2: bad flag or config.
`;

const OPTIONS = {
  socket: { type: "string" },
  "trust-domain": { type: "string" },
  id: { type: "string", multiple: true },
  "x509-ttl": { type: "string" },
  "jwt-ttl": { type: "string" },
  "rotation-jitter": { type: "string" },
  "rotation-overlap": { type: "string" },
  federate: { type: "string", multiple: true },
  "federated-bundle-file": { type: "string", multiple: true },
  intermediate: { type: "boolean" },
  "key-type": { type: "string" },
  "write-bundle": { type: "string" },
  config: { type: "string" },
  "log-level": { type: "string", default: "info" },
  help: { type: "boolean", short: "h" },
} as const;

const LOG_LEVELS: readonly LevelWithSilent[] = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

type Flags = ReturnType<typeof parseFlags>["values"];

function parseFlags(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false });
  } catch (error: unknown) {
    const flag = /'(-[^']*)'/.exec(describeError(error))?.[1];
    const known = Object.keys(OPTIONS).map((name) => `--${name}`);
    const suggestion = flag === undefined ? undefined : closestMatch(flag, known);
    const hint = suggestion === undefined ? 'run "spiffe-fake-agent --help" for the flags' : `did you mean ${suggestion}?`;
    throw new UsageError(`${describeError(error).split(". ")[0] ?? "bad command line"}; ${hint}`);
  }
}

function durationMs(flag: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new UsageError(`--${flag}: "${text}" is not a duration; ${DURATION_FORMAT_HINT}`);
  return ms;
}

/** `NAME=FILE` pairs; the names are checked as trust domains with the other options. */
function bundleFiles(flag: string, pairs: readonly string[]): Record<string, string> {
  const files = new Map<string, string>();
  for (const pair of pairs) {
    const separator = pair.indexOf("=");
    const name = pair.slice(0, separator);
    if (separator < 1 || separator === pair.length - 1) {
      throw new UsageError(`--${flag}: "${pair}" is not NAME=FILE; write e.g. other.org=/tmp/other.org.pem`);
    }
    if (files.has(name)) throw new UsageError(`--${flag}: ${name} is given twice; give each trust domain one file`);
    files.set(name, pair.slice(separator + 1));
  }
  return Object.fromEntries(files);
}

function wholeSeconds(flag: string, text: string): number {
  const ms = durationMs(flag, text);
  if (ms % 1000 !== 0) throw new UsageError(`--${flag}: "${text}" is not a whole number of seconds; use e.g. ${Math.max(1, Math.round(ms / 1000))}s`);
  return ms / 1000;
}

type LayerValues = { -readonly [K in keyof ConfigLayer["values"]]: ConfigLayer["values"][K] };
type LayerLabels = { -readonly [K in keyof ConfigLayer["labels"]]: ConfigLayer["labels"][K] };

/** The flags as a config layer that wins over the file; each value is labelled with its flag. */
function flagLayer(flags: Flags): ConfigLayer {
  const values: LayerValues = {};
  const labels: LayerLabels = {};
  const set = <K extends keyof LayerValues>(option: K, flag: string, value: LayerValues[K]): void => {
    values[option] = value;
    labels[option] = `--${flag}`;
  };
  if (flags.socket !== undefined) set("socketPath", "socket", flags.socket);
  if (flags["trust-domain"] !== undefined) set("trustDomain", "trust-domain", flags["trust-domain"]);
  if (flags.id !== undefined) set("identities", "id", flags.id.map((spiffeId) => ({ spiffeId })));
  if (flags["x509-ttl"] !== undefined) set("x509TtlSeconds", "x509-ttl", wholeSeconds("x509-ttl", flags["x509-ttl"]));
  if (flags["jwt-ttl"] !== undefined) set("jwtTtlSeconds", "jwt-ttl", wholeSeconds("jwt-ttl", flags["jwt-ttl"]));
  if (flags["rotation-jitter"] !== undefined) set("rotationJitterMs", "rotation-jitter", durationMs("rotation-jitter", flags["rotation-jitter"]));
  if (flags["rotation-overlap"] !== undefined) set("rotationOverlapMs", "rotation-overlap", durationMs("rotation-overlap", flags["rotation-overlap"]));
  if (flags.federate !== undefined) set("federatesWith", "federate", flags.federate);
  if (flags["federated-bundle-file"] !== undefined) {
    set("federatedBundleFiles", "federated-bundle-file", bundleFiles("federated-bundle-file", flags["federated-bundle-file"]));
  }
  if (flags.intermediate !== undefined) set("intermediate", "intermediate", flags.intermediate);
  // Checked with the other options, so the message lists the supported types.
  if (flags["key-type"] !== undefined) set("keyType", "key-type", flags["key-type"] as KeyType);
  if (flags["write-bundle"] !== undefined) set("writeBundlePath", "write-bundle", flags["write-bundle"]);
  return { values, labels };
}

function logLevel(text: string): LevelWithSilent {
  const level = LOG_LEVELS.find((known) => known === text);
  if (level === undefined) throw new UsageError(`--log-level: "${text}" is not one of ${LOG_LEVELS.join(", ")}`);
  return level;
}

/**
 * Installed before the agent starts, so a signal that arrives while it starts is not lost
 * (the default action would kill the process and leave the socket behind).
 */
function handleSignals(logger: Logger): (agent: FakeAgent) => void {
  let running: FakeAgent | undefined;
  let stopRequested: NodeJS.Signals | undefined;
  const report = (what: string) => (error: unknown) => logger.error({ error: describeError(error) }, `${what} failed`);
  const stop = (agent: FakeAgent, signal: NodeJS.Signals): void => {
    logger.info({ event: "signal", signal }, "stopping");
    agent.stop().then(
      () => process.exit(ExitCode.ok),
      (error: unknown) => {
        report("stop")(error);
        process.exit(1);
      },
    );
  };
  const onStopSignal = (signal: NodeJS.Signals): void => {
    if (running === undefined) stopRequested = signal;
    else stop(running, signal);
  };
  process.once("SIGTERM", onStopSignal);
  process.once("SIGINT", onStopSignal);
  process.on("SIGUSR1", () => {
    logger.info({ event: "signal", signal: "SIGUSR1" }, "rotating X.509-SVIDs now");
    running?.rotateNow().catch(report("rotation"));
  });
  process.on("SIGUSR2", () => {
    logger.info({ event: "signal", signal: "SIGUSR2" }, "rotating the CA");
    running?.rotateCa().catch(report("CA rotation"));
  });
  return (agent) => {
    running = agent;
    if (stopRequested !== undefined) stop(agent, stopRequested);
  };
}

async function main(argv: readonly string[]): Promise<void> {
  const { values: flags } = parseFlags(argv);
  if (flags.help === true) {
    process.stdout.write(HELP);
    return;
  }
  const overrides = flagLayer(flags);
  const logger = await createAgentLogger(logLevel(flags["log-level"]));
  const started = handleSignals(logger);
  started(await startConfiguredAgent({ ...(flags.config === undefined ? {} : { configFile: flags.config }), overrides, logger }));
}

main(process.argv.slice(2)).catch((error: unknown) => {
  // One line, never a stack trace; nothing was started, so there is nothing to clean up.
  process.stderr.write(`spiffe-fake-agent: ${describeError(error)}\n`);
  process.exitCode = ExitCode.usage;
});
