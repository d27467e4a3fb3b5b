import { readFile } from "node:fs/promises";
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import type { Node, Pair, YAMLMap } from "yaml";
import { describeError } from "../errors.js";
import { DURATION_FORMAT_HINT, parseDuration } from "../text/duration.js";
import { FakeAgentConfigError } from "./errors.js";
import { CLOSE_STATUSES, FAULT_KINDS, RPC_NAMES } from "./faults.js";
import type { Fault, FaultKind } from "./faults.js";
import { closestMatch } from "../text/closest-match.js";
import { KEY_TYPES, resolveOptions } from "./options.js";
import type { FakeAgentOptions, IdentityOptions, ResolvedOptions } from "./options.js";

type OptionKey = Exclude<keyof FakeAgentOptions, "logger">;
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Option values from one source (a config file or the flags), and for each the label that
 * names it in an error: `x509_ttl (agent.yaml:4)` or `--x509-ttl`.
 */
export interface ConfigLayer {
  readonly values: Partial<Pick<FakeAgentOptions, OptionKey>>;
  readonly labels: Partial<Record<OptionKey, string>>;
}

/** The YAML key for each option; the file is snake_case like the sidecar's own config. */
export const CONFIG_FILE_KEYS: Readonly<Record<string, OptionKey>> = {
  socket: "socketPath",
  trust_domain: "trustDomain",
  identities: "identities",
  x509_ttl: "x509TtlSeconds",
  jwt_ttl: "jwtTtlSeconds",
  rotation_jitter: "rotationJitterMs",
  rotation_overlap: "rotationOverlapMs",
  backdate: "backdateSeconds",
  key_type: "keyType",
  intermediate: "intermediate",
  federates_with: "federatesWith",
  federated_bundle_files: "federatedBundleFiles",
  faults: "faults",
  write_bundle: "writeBundlePath",
};

const IDENTITY_KEYS = ["spiffe_id", "hint"];

/** The keys each fault kind accepts besides `kind`. */
const FAULT_KEYS: Readonly<Record<FaultKind, readonly string[]>> = {
  deny: ["rpcs"],
  unavailable: ["rpcs"],
  delay: ["delay", "rpcs"],
  hang: ["rpcs"],
  "close-stream": ["after_messages", "status", "rpcs"],
  "malformed-der": ["spiffe_id"],
  "mismatched-key": ["spiffe_id"],
  "ca-leaf": ["spiffe_id"],
  "expired-leaf": ["spiffe_id"],
  "foreign-leaf": ["trust_domain", "spiffe_id"],
  "renamed-trust-domain": ["trust_domain", "spiffe_id"],
  "key-trailing-bytes": ["spiffe_id"],
  "long-chain": ["spiffe_id"],
  "huge-hint": ["spiffe_id"],
  "non-ca-in-bundle": [],
  "empty-svids": [],
  "jwt-bad-signature": ["spiffe_id"],
  "jwt-wrong-audience": ["spiffe_id"],
  "jwt-expired": ["spiffe_id"],
};

class FileReader {
  readonly #lines = new LineCounter();

  constructor(readonly file: string) {}

  get lineCounter(): LineCounter {
    return this.#lines;
  }

  at(node: Node | null | undefined): string {
    const offset = node?.range?.[0];
    return offset === undefined ? this.file : `${this.file}:${this.#lines.linePos(offset).line}`;
  }

  fail(node: Node | null | undefined, key: string, problem: string): never {
    throw new FakeAgentConfigError(`${this.at(node)}: ${key}: ${problem}`);
  }

  /** Each pair of a map, after checking every key against `allowed`. */
  pairs(map: YAMLMap, allowed: readonly string[], context: string): [string, Node | null, Node][] {
    return map.items.map((pair: Pair) => {
      const keyNode = pair.key as Node;
      const key = isScalar(keyNode) ? String(keyNode.value) : "";
      if (!allowed.includes(key)) {
        const suggestion = closestMatch(key, allowed);
        const fix = suggestion === undefined ? `valid keys: ${allowed.join(", ")}` : `did you mean "${suggestion}"?`;
        throw new FakeAgentConfigError(`${this.at(keyNode)}: unknown key "${key}" in ${context}; ${fix}`);
      }
      return [key, pair.value as Node | null, keyNode];
    });
  }

  string(node: Node | null, key: string): string {
    if (!isScalar(node) || typeof node.value !== "string" || node.value === "") {
      this.fail(node, key, "expected a non-empty string");
    }
    return node.value;
  }

  boolean(node: Node | null, key: string): boolean {
    if (!isScalar(node) || typeof node.value !== "boolean") this.fail(node, key, "expected true or false");
    return node.value;
  }

  durationMs(node: Node | null, key: string): number {
    const value: unknown = isScalar(node) ? node.value : undefined;
    const ms = typeof value === "string" ? parseDuration(value) : undefined;
    if (ms === undefined) this.fail(node, key, `${JSON.stringify(value ?? null)} is not a duration; ${DURATION_FORMAT_HINT}`);
    return ms;
  }

  stringList(node: Node | null, key: string): string[] {
    if (!isSeq(node)) this.fail(node, key, "expected a list, e.g. [a, b]");
    return node.items.map((item) => this.string(item as Node, key));
  }

  /** A map of non-empty strings to non-empty strings; `example` shows one entry. */
  stringMap(node: Node | null, key: string, example: string): Record<string, string> {
    if (!isMap(node)) this.fail(node, key, `expected a map, e.g. {${example}}`);
    return Object.fromEntries(
      node.items.map((pair) => {
        const name = this.string(pair.key as Node, key);
        return [name, this.string(pair.value as Node | null, `${key}: ${name}`)];
      }),
    );
  }
}

function readIdentity(reader: FileReader, node: Node): IdentityOptions {
  if (isScalar(node)) return { spiffeId: reader.string(node, "identities") };
  if (!isMap(node)) reader.fail(node, "identities", "each entry is a SPIFFE ID or a map with spiffe_id and hint");
  const identity: Mutable<IdentityOptions> = { spiffeId: "" };
  for (const [key, value] of reader.pairs(node, IDENTITY_KEYS, "an identity")) {
    if (key === "spiffe_id") identity.spiffeId = reader.string(value, key);
    else identity.hint = reader.string(value, key);
  }
  if (identity.spiffeId === "") reader.fail(node, "identities", "each identity needs spiffe_id: spiffe://<trust-domain>/<path>");
  return identity;
}

function readFault(reader: FileReader, node: Node): Fault {
  if (!isMap(node)) reader.fail(node, "faults", "each fault is a map with a kind, e.g. {kind: deny}");
  const kindNode = node.get("kind", true) as Node | undefined;
  const kind = isScalar(kindNode) ? String(kindNode.value) : "";
  if (!(FAULT_KINDS as readonly string[]).includes(kind)) {
    const suggestion = closestMatch(kind, FAULT_KINDS);
    const fix = suggestion === undefined ? `use one of: ${FAULT_KINDS.join(", ")}` : `did you mean "${suggestion}"?`;
    reader.fail(kindNode ?? node, "faults", `unknown fault kind "${kind}"; ${fix}`);
  }
  const fault: Record<string, unknown> = { kind };
  for (const [key, value] of reader.pairs(node, ["kind", ...FAULT_KEYS[kind as FaultKind]], `fault "${kind}"`)) {
    if (key === "kind") continue;
    if (key === "delay") fault["delayMs"] = reader.durationMs(value, key);
    else if (key === "after_messages") fault["afterMessages"] = readCount(reader, value, key);
    else if (key === "status") fault["status"] = readChoice(reader, value, key, CLOSE_STATUSES);
    else if (key === "rpcs") fault["rpcs"] = reader.stringList(value, key).map((rpc) => checkChoice(reader, value, key, rpc, RPC_NAMES));
    else if (key === "spiffe_id") fault["spiffeId"] = reader.string(value, key);
    else fault["trustDomain"] = reader.string(value, key);
  }
  if (kind === "delay" && fault["delayMs"] === undefined) reader.fail(node, "faults", 'fault "delay" needs delay, e.g. delay: 200ms');
  if (kind === "close-stream" && fault["afterMessages"] === undefined) {
    reader.fail(node, "faults", 'fault "close-stream" needs after_messages, e.g. after_messages: 1');
  }
  return fault as unknown as Fault;
}

function readCount(reader: FileReader, node: Node | null, key: string): number {
  const value: unknown = isScalar(node) ? node.value : undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) reader.fail(node, key, "expected a whole number, 0 or more");
  return value;
}

function checkChoice<T extends string>(reader: FileReader, node: Node | null, key: string, value: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) reader.fail(node, key, `"${value}" is not one of ${choices.join(", ")}`);
  return value as T;
}

function readChoice<T extends string>(reader: FileReader, node: Node | null, key: string, choices: readonly T[]): T {
  return checkChoice(reader, node, key, reader.string(node, key), choices);
}

function readWholeSeconds(reader: FileReader, node: Node | null, key: string): number {
  const ms = reader.durationMs(node, key);
  if (ms % 1000 !== 0) reader.fail(node, key, `must be a whole number of seconds, e.g. ${Math.max(1, Math.round(ms / 1000))}s`);
  return ms / 1000;
}

function readValue(reader: FileReader, option: OptionKey, key: string, node: Node | null): unknown {
  switch (option) {
    case "socketPath":
    case "trustDomain":
    case "writeBundlePath":
      return reader.string(node, key);
    case "keyType":
      return readChoice(reader, node, key, KEY_TYPES);
    case "intermediate":
      return reader.boolean(node, key);
    case "x509TtlSeconds":
    case "jwtTtlSeconds":
    case "backdateSeconds":
      return readWholeSeconds(reader, node, key);
    case "rotationJitterMs":
    case "rotationOverlapMs":
      return reader.durationMs(node, key);
    case "federatesWith":
      return reader.stringList(node, key);
    case "federatedBundleFiles":
      return reader.stringMap(node, key, "other.org: /tmp/other.org.pem");
    case "identities":
      if (!isSeq(node)) reader.fail(node, key, "expected a list of identities");
      return node.items.map((item) => readIdentity(reader, item as Node));
    case "faults":
      if (!isSeq(node)) reader.fail(node, key, "expected a list of faults");
      return node.items.map((item) => readFault(reader, item as Node));
  }
}

/** Parses the text of a fake agent config file; `file` is used only in messages. */
export function parseConfigText(text: string, file: string): ConfigLayer {
  const reader = new FileReader(file);
  const document = parseDocument(text, { lineCounter: reader.lineCounter, prettyErrors: true, uniqueKeys: true });
  const [firstError] = document.errors;
  if (firstError !== undefined) {
    throw new FakeAgentConfigError(`${file}: not valid YAML: ${firstError.message.split("\n")[0] ?? ""}`);
  }
  const root = document.contents;
  if (root === null) return { values: {}, labels: {} };
  if (!isMap(root)) throw new FakeAgentConfigError(`${file}: expected a map of settings at the top, e.g. "trust_domain: example.org"`);
  const values: Record<string, unknown> = {};
  const labels: Partial<Record<OptionKey, string>> = {};
  for (const [key, node, keyNode] of reader.pairs(root, Object.keys(CONFIG_FILE_KEYS), "the config file")) {
    const option = CONFIG_FILE_KEYS[key];
    if (option === undefined) continue;
    values[option] = readValue(reader, option, key, node);
    labels[option] = `${key} (${reader.at(keyNode)})`;
  }
  return { values: values as ConfigLayer["values"], labels };
}

/** The text of a config file; a missing or unreadable file is a config error too. */
export async function readConfigText(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (error: unknown) {
    throw new FakeAgentConfigError(`cannot read config file ${file}: ${describeError(error)}`, { cause: error });
  }
}


/** Layers later in the list win, key by key (flags over the config file). */
export function mergeLayers(...layers: readonly ConfigLayer[]): ConfigLayer {
  return {
    values: Object.assign({}, ...layers.map((layer) => layer.values)) as ConfigLayer["values"],
    labels: Object.assign({}, ...layers.map((layer) => layer.labels)) as ConfigLayer["labels"],
  };
}

/** Checks a merged layer and resolves it; a missing socket or trust domain says where to set it. */
export function resolveLayer(layer: ConfigLayer): ResolvedOptions {
  const { values, labels } = layer;
  const { socketPath, trustDomain } = values;
  if (socketPath === undefined) {
    throw new FakeAgentConfigError("no socket path: pass --socket PATH or set socket: in the config file");
  }
  if (trustDomain === undefined) {
    throw new FakeAgentConfigError("no trust domain: pass --trust-domain NAME (e.g. example.org) or set trust_domain: in the config file");
  }
  return resolveOptions({ ...values, socketPath, trustDomain }, (key) => (key === "logger" ? key : labels[key]) ?? key);
}
