import { extname } from "node:path";
import { Document, isMap, LineCounter, parseDocument, type Node, type YAMLError } from "yaml";
import { buildConfig } from "./build-config.js";
import { ConfigError } from "./config-error.js";
import { checkConfigRules } from "./config-rules.js";
import { systemConfigHost, type ConfigHost } from "./config-host.js";
import {
  hclAsYaml,
  HclDecodeError,
  hclSourceText,
  HclSyntaxError,
  lineCounterOf,
  readHclConfig,
  type HclConfigDocument,
} from "./hcl/index.js";
import { ReadContext } from "./read-context.js";
import { configSchema } from "./schema.js";
import { describeNode } from "./schema-fields.js";
import { hclShapeOf, readSection } from "./section-fields.js";
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

/** spiffe-helper's helper.conf (HCL v1, or its JSON flavour) or this project's YAML. */
export type ConfigSyntax = "hcl" | "yaml";

// An HCL item (`key = `, `key {`, `"key" =`, `key "label" {`) or a comment form YAML lacks.
const HCL_FIRST_LINE = /^(?:\/\/|\/\*|(?:"[^"\n]*"|[A-Za-z_][\w.-]*)(?:\s+(?:"[^"\n]*"|[A-Za-z_][\w.-]*))*\s*[={])/;
const YAML_FIRST_LINE = /^(?:"[^"\n]*"|'[^'\n]*'|[^\s#:{}[\],][^:\n]*?)\s*:(?:\s|$)/;

/** The first line that is neither blank nor a `#` comment, which both syntaxes share. */
function firstSignificantLine(text: string): string {
  return text.split("\n").find((line) => !/^\s*(?:#.*)?$/.test(line))?.trimStart() ?? "";
}

/**
 * `.conf`/`.hcl` are HCL and `.yaml`/`.yml` YAML, whatever they hold. Any other name is
 * sniffed: JSON (`{` first) goes to hcl's JSON flavour as spiffe-helper would read it, a first
 * line such as `key = value` or `key {` to HCL, anything else to YAML.
 */
export function configSyntaxOf(text: string, sourceName: string): ConfigSyntax {
  const extension = extname(sourceName).toLowerCase();
  if (extension === ".conf" || extension === ".hcl") return "hcl";
  if (extension === ".yaml" || extension === ".yml") return "yaml";
  const line = firstSignificantLine(text);
  return line.startsWith("{") || HCL_FIRST_LINE.test(line) ? "hcl" : "yaml";
}

interface ConfigDocument {
  readonly root: Node | null;
  readonly context: ReadContext;
}

function readYamlDocument(yamlText: string, sourceName: string, host: ConfigHost): ConfigDocument {
  const lineCounter = new LineCounter();
  const document = parseDocument(yamlText, { lineCounter, prettyErrors: false, version: "1.2", schema: "core" });
  const firstError = document.errors[0];
  if (firstError !== undefined) throw syntaxError(firstError, yamlText, sourceName, lineCounter);
  const context = new ReadContext(sourceName, host, document, lineCounter);
  return { root: context.deref(document.contents), context };
}

function hclError(error: HclSyntaxError | HclDecodeError, text: string, sourceName: string): ConfigError {
  const { line, col } = lineCounterOf(text).linePos(error.offset);
  const position = { line, column: col };
  if (error instanceof HclDecodeError) {
    return new ConfigError({ file: sourceName, key: error.key, position, problem: error.problem, fix: error.fix });
  }
  const looksLikeYaml = YAML_FIRST_LINE.test(firstSignificantLine(text));
  return new ConfigError({
    file: sourceName,
    key: "",
    position,
    problem: `HCL syntax error (as spiffe-helper's parser reads it): ${error.message}`,
    fix: looksLikeYaml
      ? "this file looks like YAML: name it .yaml, or write `key = value` lines"
      : error.message.includes("octal")
        ? "a leading 0 makes a number octal (digits 0-7): write e.g. 0644, or drop the 0 for decimal"
        : 'write `key = "value"` items and `name { ... }` blocks',
  });
}

/**
 * `jwt_svids { jwt_audience = "a" ... }`, and a list of objects in hcl's JSON flavour, decode in
 * hcl v1 to one entry per key, each missing the others, so spiffe-helper refuses them for a
 * missing jwt_audience. Said here with the fix.
 */
function refuseSplitBlocks({ decoded, text, flavour }: HclConfigDocument, sourceName: string): void {
  for (const entry of decoded.entries) {
    if (entry.value?.kind !== "list" || !entry.value.splitBlock) continue;
    const { line, col } = lineCounterOf(text).linePos(entry.keyOffset);
    const written = flavour === "json" ? "is a list of objects in JSON" : "is written as a block";
    throw new ConfigError({
      file: sourceName,
      key: entry.key,
      position: { line, column: col },
      problem: `${written}, which HCL v1 (and so spiffe-helper) reads as one entry per key inside it`,
      fix: `write it in HCL as a list of objects: ${entry.key} = [{ jwt_audience = "...", jwt_svid_file_name = "..." }]`,
    });
  }
}

function readHclDocument(hclText: string, sourceName: string, host: ConfigHost): ConfigDocument {
  let document: HclConfigDocument;
  try {
    document = readHclConfig(hclText, hclShapeOf(configSchema));
  } catch (error: unknown) {
    if (error instanceof HclSyntaxError || error instanceof HclDecodeError) {
      throw hclError(error, hclSourceText(hclText), sourceName);
    }
    throw error;
  }
  refuseSplitBlocks(document, sourceName);
  const { root, lineCounter, literals } = hclAsYaml(document.decoded, document.text);
  const context = new ReadContext(sourceName, host, new Document(), lineCounter, literals);
  return { root: root.items.length === 0 ? null : root, context };
}

/**
 * Parses and validates a sidecar configuration: spiffe-helper's helper.conf (HCL v1, decoded
 * as hashicorp/hcl v1 does) or YAML 1.2 with the core schema (DESIGN §4), chosen by
 * `configSyntaxOf`. Keys and defaults are spiffe-helper's, plus this project's extensions (see
 * config.example.yaml). Pure apart from its defaults (`process.env`, `process.cwd()`) and the
 * host, which is only consulted for user or group names and a PKCS#12 password file. Throws a
 * `ConfigError` naming the file, line, key and fix.
 */
export function parseConfig(
  configText: string,
  sourceName: string,
  env: NodeJS.ProcessEnv = process.env,
  options: ParseConfigOptions = {},
): SidecarConfig {
  const host = options.host ?? systemConfigHost;
  const document =
    configSyntaxOf(configText, sourceName) === "hcl"
      ? readHclDocument(configText, sourceName, host)
      : readYamlDocument(configText, sourceName, host);
  // Annotated, so that TypeScript sees `fail` never returns.
  const context: ReadContext = document.context;
  const root = document.root;
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
  const warnings: string[] = [...context.warnings];
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
