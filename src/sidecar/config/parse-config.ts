import { isMap, LineCounter, parseDocument, type YAMLError } from "yaml";
import { buildConfig } from "./build-config.js";
import { ConfigError } from "./config-error.js";
import { checkConfigRules } from "./config-rules.js";
import { systemConfigHost, type ConfigHost } from "./config-host.js";
import { ReadContext } from "./read-context.js";
import { configSchema } from "./schema.js";
import { describeNode } from "./schema-fields.js";
import { readSection } from "./section-fields.js";
import type { SidecarConfig } from "./sidecar-config.js";

export interface ParseConfigOptions {
  /**
   * Directory that relative `cert_dir`, `pid_file_name` and `pkcs12_password_file` resolve against.
   * @default process.cwd()
   */
  readonly cwd?: string;
  /** Overrides `daemon_mode` (`-daemon-mode=false`, `spiffe-sidecar once`). @default the file's value */
  readonly daemonMode?: boolean;
  /** User, group and secret-file lookups. @default systemConfigHost */
  readonly host?: ConfigHost;
}

function syntaxError(error: YAMLError, text: string, sourceName: string, lineCounter: LineCounter): ConfigError {
  const [start] = error.pos;
  const { line, col } = lineCounter.linePos(start);
  const position = { line, column: col };
  if (error.code === "DUPLICATE_KEY") {
    // The error points at the second occurrence; its text up to the colon is the key.
    const written = /^\s*(?:"([^"]*)"|'([^']*)'|([^:\n]*?))\s*:/.exec(text.slice(start));
    const key = written?.[1] ?? written?.[2] ?? written?.[3] ?? "";
    return new ConfigError({
      file: sourceName,
      key,
      position,
      problem: "is written twice in the same map",
      fix: "keep one of them",
    });
  }
  const message = error.message.split("\n")[0]?.replace(/ at line \d+, column \d+:?$/, "") ?? error.code;
  return new ConfigError({
    file: sourceName,
    key: "",
    position,
    problem: `YAML syntax error: ${message}`,
    fix: "fix the YAML at this position (a quoted string is always safe)",
  });
}

/**
 * Parses and validates a sidecar configuration (YAML 1.2, core schema; DESIGN §4). Keys and
 * defaults are spiffe-helper's, plus this project's extensions (see config.example.yaml).
 * Pure apart from its defaults (`process.env`, `process.cwd()`) and the host, which is only
 * consulted for user or group names and a PKCS#12 password file. Throws a `ConfigError`
 * naming the file, line, key and fix.
 */
export function parseConfig(
  yamlText: string,
  sourceName: string,
  env: NodeJS.ProcessEnv = process.env,
  options: ParseConfigOptions = {},
): SidecarConfig {
  const lineCounter = new LineCounter();
  const document = parseDocument(yamlText, { lineCounter, prettyErrors: false, version: "1.2", schema: "core" });
  const firstError = document.errors[0];
  if (firstError !== undefined) throw syntaxError(firstError, yamlText, sourceName, lineCounter);
  const context: ReadContext = new ReadContext(sourceName, options.host ?? systemConfigHost, document, lineCounter);
  const root = context.deref(document.contents);
  if (context.isUnset(root) || root === null) {
    context.fail(
      "",
      undefined,
      "the configuration is empty",
      "set at least the outputs, e.g. svid_file_name, svid_key_file_name and svid_bundle_file_name (see config.example.yaml)",
    );
  }
  if (!isMap(root)) {
    context.fail(
      "",
      root,
      `the top level must be a map of keys, got ${describeNode(root)}`,
      "write one `key: value` per line",
    );
  }
  const values = readSection(configSchema, root, "", context);
  const warnings: string[] = [];
  const draft = buildConfig(
    values,
    env,
    { cwd: options.cwd ?? process.cwd(), daemonMode: options.daemonMode },
    context,
    warnings,
  );
  warnings.push(...checkConfigRules(draft, context));
  return { ...draft, warnings };
}
