#!/usr/bin/env node
// Node 20's test runner takes no globs, so this finds the test files and hands them over.
// Extra arguments are passed through (e.g. `npm test -- --test-name-pattern=inspect`), and
// extra paths run only those files (`npm test -- test/e2e/nginx.test.ts`).
// It closes the run with everything that was skipped, suites included, and why (skip-reporter.mjs).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const roots = ["src", "test", "examples"];
const passed = process.argv.slice(2);
const chosen = passed.filter((arg) => arg.endsWith(".test.ts"));
const flags = passed.filter((arg) => !arg.endsWith(".test.ts"));
const files =
  chosen.length > 0
    ? chosen
    : roots.flatMap((root) => {
        try {
          return readdirSync(root, { recursive: true, encoding: "utf8" })
            .filter((name) => name.endsWith(".test.ts"))
            .map((name) => join(root, name));
        } catch {
          return [];
        }
      });
files.sort();

const scratch = mkdtempSync(join(tmpdir(), "spiffe-sidecar-tests-"));
const skipLog = join(scratch, "skipped.jsonl");
// Node pairs each --test-reporter with a --test-reporter-destination by position. The reporter
// asked for (`npm test -- --test-reporter=dot`), else the one node would pick by itself (spec on
// a terminal, TAP otherwise), shows the run on stdout; ours comes last, into the skip log.
const count = (prefix) => flags.filter((flag) => flag.startsWith(prefix)).length;
const askedReporters = count("--test-reporter=");
const shown =
  askedReporters === 0
    ? [`--test-reporter=${process.stdout.isTTY ? "spec" : "tap"}`, "--test-reporter-destination=stdout"]
    : Array.from({ length: askedReporters - count("--test-reporter-destination=") }, () => "--test-reporter-destination=stdout");
const result = spawnSync(
  process.execPath,
  [
    ...["--import", "tsx", "--test", "--test-concurrency=2"],
    ...flags,
    ...shown,
    `--test-reporter=${join(import.meta.dirname, "skip-reporter.mjs")}`,
    `--test-reporter-destination=${skipLog}`,
    ...files,
  ],
  { stdio: "inherit" },
);

// What --test-name-pattern leaves out was asked for, not missing.
const FILTERED_OUT = "test name does not match pattern";
let skipped = [];
try {
  skipped = readFileSync(skipLog, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line))
    .filter((entry) => entry.reason !== FILTERED_OUT);
} catch {
  // No file: the runner stopped before any test reported.
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
if (skipped.length > 0) {
  const kinds = (kind) => skipped.filter((entry) => entry.kind === kind).length;
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const byReason = new Map();
  for (const entry of skipped) byReason.set(entry.reason, [...(byReason.get(entry.reason) ?? []), entry]);
  const lines = [
    `# skipped ${skipped.length} in all: ${plural(kinds("suite"), "whole suite")} and ${plural(kinds("test"), "test")} did not run` +
      " (node's count above leaves out whole suites). Why:",
  ];
  for (const [reason, entries] of byReason) {
    lines.push(`#   ${reason}`);
    for (const entry of entries) lines.push(`#     ${entry.kind} ${entry.file}: ${entry.name}`);
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}
process.exit(result.status ?? 1);
