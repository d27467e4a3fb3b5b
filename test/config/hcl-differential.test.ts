/**
 * Differential test: every file of test/fixtures/hcl-corpus is decoded by hashicorp/hcl v1 (the
 * Go oracle under test/tools/hcl-oracle, built by scripts/build-hcl-oracle.sh) and by our reader;
 * both must give the same values, the same keys spiffe-helper calls unknown, or both refuse.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, relative } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  readHclConfig,
  type DecodedMap,
  type DecodedValue,
  type StructShape,
} from "../../src/sidecar/config/hcl/index.js";
import { configSchema } from "../../src/sidecar/config/schema.js";
import { hclShapeOf } from "../../src/sidecar/config/section-fields.js";

/** HCL_CORPUS points the test at another directory, e.g. a larger generated one. */
const CORPUS = process.env["HCL_CORPUS"] ?? join(dirname(fileURLToPath(import.meta.url)), "../fixtures/hcl-corpus");
const ORACLE =
  process.env["HCL_ORACLE"] ?? join(process.env["INTEROP_BIN"] ?? join(homedir(), ".cache/spiffe-sidecar/interop/bin"), "hcl-oracle");

/** spiffe-helper's Config and health.Config fields with their Go zero values, as the oracle prints them. */
const HELPER_SCALARS = {
  add_intermediates_to_bundle: false,
  agent_address: "",
  cmd: "",
  cmd_args: "",
  pid_file_name: "",
  cert_dir: "",
  cert_file_mode: 0,
  key_file_mode: 0,
  jwt_bundle_file_mode: 0,
  jwt_svid_file_mode: 0,
  include_federated_domains: false,
  omit_expired: false,
  renew_signal: "",
  daemon_mode: null,
  hint: "",
  svid_file_name: "",
  svid_key_file_name: "",
  svid_bundle_file_name: "",
  jwt_bundle_file_name: "",
} as const;
const HEALTH_SCALARS = { listener_enabled: false, bind_port: 0, liveness_path: "", readiness_path: "" } as const;

interface OracleResult {
  readonly file: string;
  readonly config?: Record<string, unknown>;
  readonly unused?: Record<string, string[]>;
  readonly error?: string;
}

function corpusFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true })
    .flatMap((entry) => {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) return corpusFiles(path);
      return entry.name.endsWith(".conf") ? [path] : [];
    })
    .sort();
}

function entryValue(map: DecodedMap, key: string): DecodedValue | undefined {
  return map.entries.find((entry) => entry.key === key)?.value;
}

function scalars(map: DecodedMap | undefined, zeros: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const output: Record<string, unknown> = {};
  for (const [key, zero] of Object.entries(zeros)) {
    const value = map === undefined ? undefined : entryValue(map, key);
    output[key] = value?.kind === "scalar" ? value.value : value === undefined ? zero : `unexpected ${value.kind}`;
  }
  return output;
}

function strings(value: DecodedValue | undefined): unknown {
  if (value === undefined) return null;
  return value.kind === "list" ? value.items.map((item) => (item.kind === "scalar" ? item.value : item.kind)) : value.kind;
}

/** Our decoded document in the oracle's JSON shape. */
function asOracleShape(decoded: DecodedMap): Pick<OracleResult, "config" | "unused"> {
  const jwtValue = entryValue(decoded, "jwt_svids");
  const jwtEntries = jwtValue?.kind === "list" ? jwtValue.items : [];
  const unused: Record<string, string[]> = {};
  if (decoded.spiffeHelperUnusedKeys.length > 0) unused[""] = [...decoded.spiffeHelperUnusedKeys];
  const jwtSvids = jwtEntries.map((entry, index) => {
    if (entry.kind !== "map") return entry.kind;
    if (entry.spiffeHelperUnusedKeys.length > 0) unused[`jwt_svids[${index}]`] = [...entry.spiffeHelperUnusedKeys];
    return {
      jwt_audience: scalars(entry, { jwt_audience: "" })["jwt_audience"],
      jwt_extra_audiences: strings(entryValue(entry, "jwt_extra_audiences")),
      jwt_svid_file_name: scalars(entry, { jwt_svid_file_name: "" })["jwt_svid_file_name"],
    };
  });
  const health = entryValue(decoded, "health_checks");
  return {
    config: {
      ...scalars(decoded, HELPER_SCALARS),
      health_checks: scalars(health?.kind === "map" ? health : undefined, HEALTH_SCALARS),
      jwt_svids: jwtValue === undefined ? null : jwtSvids,
    },
    unused,
  };
}

/**
 * The production shape, except for the one key we deliberately widen: `cmd_args` may also be a
 * list here (an extension), where spiffe-helper refuses a list.
 */
const SHAPE: StructShape = { ...hclShapeOf(configSchema), cmd_args: { kind: "string" } };

function ours(path: string): Pick<OracleResult, "config" | "unused" | "error"> {
  try {
    return asOracleShape(readHclConfig(readFileSync(path, "utf8"), SHAPE).decoded);
  } catch (error: unknown) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

/** Key order differs between Go's struct and our object; compare canonical JSON. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === "object" && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([left], [right]) => left.localeCompare(right)))
      : inner,
  );
}

describe("helper.conf decoding matches hashicorp/hcl v1 (the Go oracle)", () => {
  const oracleMissing = !existsSync(ORACLE);
  it(
    "decodes every corpus file to the same values, or refuses it as hcl v1 does",
    { skip: oracleMissing ? `hcl-oracle not built at ${ORACLE}: run scripts/build-hcl-oracle.sh` : false },
    (context) => {
      const files = corpusFiles(CORPUS);
      const output = execFileSync(ORACLE, files, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
      const oracle = output.trim().split("\n").map((line) => JSON.parse(line) as OracleResult);
      assert.equal(oracle.length, files.length);
      const mismatches: string[] = [];
      let accepted = 0;
      let refused = 0;
      for (const expected of oracle) {
        const actual = ours(expected.file);
        const name = relative(CORPUS, expected.file);
        if (expected.error !== undefined || actual.error !== undefined) {
          if (expected.error === undefined || actual.error === undefined) {
            mismatches.push(`${name}: hcl v1 ${expected.error ?? "accepts"}; ours ${actual.error ?? "accepts"}`);
          } else {
            refused++;
          }
          continue;
        }
        const want = canonical({ config: expected.config, unused: expected.unused ?? {} });
        const got = canonical({ config: actual.config, unused: actual.unused });
        if (want === got) accepted++;
        else mismatches.push(`${name}:\n  hcl v1: ${want}\n  ours:   ${got}`);
      }
      context.diagnostic(
        `corpus: ${files.length} files; ${accepted + refused} match (${accepted} decoded alike, ${refused} refused by both); ${mismatches.length} differ`,
      );
      assert.deepEqual(mismatches, []);
    },
  );
});
