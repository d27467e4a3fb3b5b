#!/usr/bin/env node
// Makes the V8 code cache of the single executable's app (scripts/build-sea.mjs): compiles the
// wrapped bundle exactly as src/cli/sea-main.ts does, runs the CLI once per command line given
// (one after the other, in this process), and writes the cache when the process exits, so it
// holds every function those runs compiled.
// Usage: node build-sea-train.mjs APP_JS CACHE_OUT 'ARGS_JSON' ['ARGS_JSON' ...]
import { writeFileSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { Script } from "node:vm";

const [appPath, cacheOut, ...runs] = process.argv.slice(2);
if (appPath === undefined || cacheOut === undefined || runs.length === 0) {
  throw new Error("usage: build-sea-train.mjs APP_JS CACHE_OUT ARGS_JSON...");
}
const script = new Script(readFileSync(appPath, "utf8"), { filename: "spiffe-sidecar.js" });
const app = script.runInThisContext();
const commandLines = runs.map((json) => JSON.parse(json));
const require = createRequire(import.meta.url);

function runNext() {
  const args = commandLines.shift();
  if (args === undefined) return false;
  process.argv = [process.argv[0], process.argv[1], ...args];
  app(require, process.execPath, dirname(process.execPath));
  return true;
}

// Each run ends when the event loop has nothing left; a failed run fails the build.
process.on("beforeExit", () => {
  if (process.exitCode !== undefined && process.exitCode !== 0) return;
  runNext();
});
process.on("exit", (code) => {
  if (code === 0) writeFileSync(cacheOut, script.createCachedData());
});
runNext();
