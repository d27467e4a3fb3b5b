import type { Logger } from "pino";
import { describeError } from "../errors.js";
import { mergeLayers, parseConfigText, readConfigText, resolveLayer } from "./config-file.js";
import type { ConfigLayer } from "./config-file.js";
import { FakeAgentConfigError } from "./errors.js";
import { watchFiles } from "./file-watch.js";
import type { StopWatching } from "./file-watch.js";
import type { FakeAgentOptions, ResolvedOptions } from "./options.js";
import { restartOnlyChange, startFakeAgent } from "./server.js";
import type { FakeAgent } from "./server.js";

export interface ConfiguredAgentOptions {
  /** A YAML config file, watched for edits while the agent runs. */
  readonly configFile?: string;
  /** Values that win over the file, key by key (the command-line flags). */
  readonly overrides: ConfigLayer;
  readonly logger: Logger;
  /** Quiet time after a file event before the file is read again. @default 100 */
  readonly debounceMs?: number;
}

const EMPTY_LAYER: ConfigLayer = { values: {}, labels: {} };

function toOptions(layer: ConfigLayer, resolved: ResolvedOptions, logger: Logger): FakeAgentOptions {
  return { ...layer.values, socketPath: resolved.socketPath, trustDomain: resolved.trustDomain.name, logger };
}

/**
 * Starts an agent from a config file and flags, and keeps it in step with the file: an edit
 * is applied live and pushed; a broken edit is logged and the last good config stays.
 * Every error at start names the key and where it was set, before anything is started.
 */
export async function startConfiguredAgent(options: ConfiguredAgentOptions): Promise<FakeAgent> {
  const { configFile, overrides, logger } = options;
  const load = (fileLayer: ConfigLayer): { layer: ConfigLayer; resolved: ResolvedOptions } => {
    const layer = mergeLayers(fileLayer, overrides);
    return { layer, resolved: resolveLayer(layer) };
  };
  if (configFile === undefined) {
    const { layer, resolved } = load(EMPTY_LAYER);
    return startFakeAgent(toOptions(layer, resolved, logger));
  }
  let lastText = await readConfigText(configFile);
  const initial = load(parseConfigText(lastText, configFile));
  const agent = await startFakeAgent(toOptions(initial.layer, initial.resolved, logger));

  let current = initial.resolved;
  const reload = async (): Promise<void> => {
    try {
      const text = await readConfigText(configFile);
      if (text === lastText) return;
      lastText = text;
      const next = load(parseConfigText(text, configFile));
      const changed = restartOnlyChange(current, next.resolved);
      if (changed !== undefined) {
        throw new FakeAgentConfigError(`${next.layer.labels[changed] ?? changed}: cannot change while the agent runs; restart the agent to apply it`);
      }
      await agent.reconfigure(toOptions(next.layer, next.resolved, logger));
      current = next.resolved;
      logger.info({ event: "config-reload", file: configFile }, "config file change applied");
    } catch (error: unknown) {
      logger.error(
        { event: "config-reload", file: configFile, error: describeError(error) },
        `config file change rejected, the last good config stays: ${describeError(error)}`,
      );
    }
  };
  let stopWatching: StopWatching;
  try {
    stopWatching = await watchFiles([configFile], reload, options.debounceMs ?? 100);
  } catch (error: unknown) {
    await agent.stop();
    throw error;
  }
  return {
    ...agent,
    async stop() {
      await stopWatching();
      await agent.stop();
    },
  };
}
