#!/usr/bin/env node
// Node 20's test runner takes no globs, so this finds the test files and hands them over.
// Extra arguments are passed through (e.g. `npm test -- --test-name-pattern=inspect`).
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

const roots = ["src", "test", "examples"];
const files = roots.flatMap((root) => {
  try {
    return readdirSync(root, { recursive: true, encoding: "utf8" })
      .filter((name) => name.endsWith(".test.ts"))
      .map((name) => join(root, name));
  } catch {
    return [];
  }
});
files.sort();

const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=2", ...process.argv.slice(2), ...files],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);
