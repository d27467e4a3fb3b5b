#!/usr/bin/env node
// `npm run build:sea`: builds dist/sea/spiffe-sidecar, a single executable (Node's SEA) that runs
// the sidecar CLI without a Node installation, and starts faster than `node dist/bin/...`:
// the CLI is one CommonJS bundle shipped with a V8 code cache made by a real `once` run, so a
// start deserializes compiled code instead of parsing and compiling ~1 MB of JavaScript
// (README "Start-up time"). Needs `npm run build` first (the fake agent serves the training
// run) and postject (devDependency) to write the blob into a copy of this Node binary.
// Usage: node scripts/build-sea.mjs [--exec-argv=FLAG ...] [OUTPUT]   (default dist/sea/spiffe-sidecar)
// --exec-argv (Node >= 24.6: sea-config `execArgv`) bakes a Node flag into the binary, e.g.
// --max-semi-space-size=1 as the Docker image uses; the training runs with the same flags,
// since V8 rejects a code cache made under other flags.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { build } from "esbuild";

const repo = resolve(import.meta.dirname, "..");
const { values: flags, positionals } = parseArgs({ options: { "exec-argv": { type: "string", multiple: true, default: [] } }, allowPositionals: true });
const execArgv = flags["exec-argv"];
const output = resolve(positionals[0] ?? join(repo, "dist/sea/spiffe-sidecar"));
const SENTINEL_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

/** Thrown for what the user must fix; reported as one line, after the scratch directory is gone. */
class BuildSeaError extends Error {}

function fail(message) {
  throw new BuildSeaError(message);
}

function loadPostject() {
  try {
    return createRequire(import.meta.url)("postject");
  } catch {
    return fail("postject is not installed: npm install --save-dev postject@1.0.0-alpha.6");
  }
}

const { version } = JSON.parse(readFileSync(join(repo, "package.json"), "utf8"));
const fakeAgent = join(repo, "dist/bin/spiffe-fake-agent.js");

/** What this machine must have; checked before anything is written. */
function preflight() {
  if (!existsSync(fakeAgent)) fail(`${fakeAgent} is missing: run npm run build first`);
  if (!readFileSync(process.execPath).includes(SENTINEL_FUSE)) fail(`${process.execPath} cannot make a single executable (no SEA fuse)`);
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  if (execArgv.length > 0 && (major < 24 || (major === 24 && minor < 6))) fail(`--exec-argv needs Node >= 24.6 (sea-config execArgv), not ${process.version}`);
  return loadPostject();
}

/** What the single executable leaves out or must carry itself, resolved at bundle time. */
const seaModules = {
  name: "sea-modules",
  setup(builder) {
    // The demo runs a Node script from the npm package and brings the fake agent's CA code.
    builder.onResolve({ filter: /^\.\/demo\.js$/ }, (args) => ({ path: join(args.resolveDir, "demo-unavailable.ts") }));
    // pkcs12.ts loads node-forge through createRequire(import.meta.url), which the npm bundle
    // keeps outside (loaded from node_modules on the first PKCS#12 output). A single executable
    // has no node_modules: node-forge goes in the bundle, still evaluated on first use only.
    builder.onLoad({ filter: /src\/sidecar\/output\/pkcs12\.ts$/ }, (args) => {
      const text = readFileSync(args.path, "utf8");
      const loader = 'createRequire(import.meta.url)("node-forge")';
      if (!text.includes(loader)) fail(`${args.path} no longer loads node-forge as ${loader}: update ${import.meta.filename}`);
      return { contents: text.replace(loader, 'require("node-forge")'), loader: "ts" };
    });
  },
};

async function bundle(entry, options) {
  const result = await build({
    entryPoints: [join(repo, entry)],
    bundle: true,
    write: false,
    format: "cjs",
    platform: "node",
    target: "node20.19",
    outfile: "out.cjs",
    logLevel: "silent",
    ...options,
  });
  // import.meta is empty in CommonJS: a module that still uses it would fail at run time.
  // version.ts's use is the branch that SPIFFE_SIDECAR_VERSION's definition makes dead.
  const warnings = result.warnings.filter((warning) => !warning.location?.file.endsWith("src/cli/version.ts"));
  if (warnings.length > 0) fail(warnings.map((warning) => `${warning.location?.file ?? ""}: ${warning.text}`).join("\n"));
  return result.outputFiles[0].text.replace(/^#!.*\n/, "");
}

async function buildApp() {
  const code = await bundle("src/cli/spiffe-sidecar.ts", {
    // Required by grpc-js's channelz and ORCA only, which the sidecar never enables.
    external: ["@grpc/proto-loader"],
    define: { SPIFFE_SIDECAR_VERSION: JSON.stringify(version) },
    plugins: [seaModules],
    // Half the bytes to parse and to hash; names are kept, error classes report theirs.
    minify: true,
    keepNames: true,
    legalComments: "none",
  });
  // Compiled by sea-main.ts (and build-sea-train.mjs) into a function that takes the CLI's
  // `require` (built-in modules only) and its file names.
  return `(function (require, __filename, __dirname) {${code}\n})`;
}

/** Runs `once` against a fake agent, with a YAML and a helper.conf, to fill the code cache. */
async function train(appPath, cachePath) {
  const socket = join(work, "agent.sock");
  const agent = spawn(process.execPath, [fakeAgent, "--socket", socket, "--trust-domain", "example.org", "--id", "spiffe://example.org/app", "--log-level", "warn"], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  try {
    for (let waited = 0; !existsSync(socket); waited += 50) {
      if (waited > 20_000 || agent.exitCode !== null) fail("the fake agent did not start");
      await sleep(50);
    }
    const outputs = ["svid.pem", "svid_key.pem", "svid_bundle.pem"];
    const yamlCerts = join(work, "certs-yaml");
    const hclCerts = join(work, "certs-hcl");
    mkdirSync(yamlCerts);
    mkdirSync(hclCerts);
    const keys = ["svid_file_name", "svid_key_file_name", "svid_bundle_file_name"];
    writeFileSync(
      join(work, "train.yaml"),
      [`agent_address: ${JSON.stringify(socket)}`, `cert_dir: ${JSON.stringify(yamlCerts)}`, ...keys.map((key, i) => `${key}: ${outputs[i]}`)].join("\n"),
    );
    writeFileSync(
      join(work, "helper.conf"),
      [`agent_address = ${JSON.stringify(socket)}`, `cert_dir = ${JSON.stringify(hclCerts)}`, ...keys.map((key, i) => `${key} = "${outputs[i]}"`)].join("\n"),
    );
    const runs = [["once", "-config", join(work, "train.yaml")], ["once", "-config", join(work, "helper.conf")]];
    const trainer = join(import.meta.dirname, "build-sea-train.mjs");
    const result = spawnSync(process.execPath, [...execArgv, trainer, appPath, cachePath, ...runs.map((run) => JSON.stringify(run))], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    if (result.status !== 0) fail(`the training run failed (exit ${String(result.status)})`);
    for (const dir of [yamlCerts, hclCerts]) {
      for (const name of outputs) if (!existsSync(join(dir, name))) fail(`the training run did not write ${join(dir, name)}`);
    }
  } finally {
    agent.kill("SIGTERM");
    if (agent.exitCode === null) await once(agent, "exit");
  }
}

/** A cache V8 rejects (other flags, a changed source) would silently cost the whole gain. */
function checkCache(appPath, cachePath) {
  const check = `const { Script } = require("node:vm"); const fs = require("node:fs");
const script = new Script(fs.readFileSync(${JSON.stringify(appPath)}, "utf8"), { filename: "spiffe-sidecar.js", cachedData: fs.readFileSync(${JSON.stringify(cachePath)}) });
process.exit(script.cachedDataRejected ? 1 : 0);`;
  const result = spawnSync(process.execPath, [...execArgv, "-e", check], { stdio: "inherit" });
  if (result.status !== 0) fail("V8 rejects the code cache it just made (were V8 flags changed during the run?)");
}

const work = mkdtempSync(join(tmpdir(), "spiffe-sidecar-sea-"));
try {
  const postject = preflight();
  const appPath = join(work, "app.js");
  const cachePath = join(work, "app.cache");
  const mainPath = join(work, "main.cjs");
  writeFileSync(appPath, await buildApp());
  writeFileSync(mainPath, await bundle("src/cli/sea-main.ts", {}));
  await train(appPath, cachePath);
  checkCache(appPath, cachePath);
  const blobPath = join(work, "sea-prep.blob");
  const config = {
    main: mainPath,
    output: blobPath,
    disableExperimentalSEAWarning: true,
    assets: { "app.js": appPath, "app.cache": cachePath },
    ...(execArgv.length > 0 ? { execArgv } : {}),
  };
  writeFileSync(join(work, "sea-config.json"), JSON.stringify(config));
  const prepared = spawnSync(process.execPath, ["--experimental-sea-config", join(work, "sea-config.json")], { stdio: ["ignore", "ignore", "inherit"] });
  if (prepared.status !== 0) fail("node --experimental-sea-config failed");
  mkdirSync(dirname(output), { recursive: true });
  rmSync(output, { force: true });
  copyFileSync(process.execPath, output);
  chmodSync(output, 0o755);
  await postject.inject(output, "NODE_SEA_BLOB", readFileSync(blobPath), { sentinelFuse: SENTINEL_FUSE });
  const printed = spawnSync(output, ["-version"], { encoding: "utf8" });
  if (printed.stdout.trim() !== version) fail(`${output} -version printed ${JSON.stringify(printed.stdout)} ${printed.stderr}`);
  process.stdout.write(`build-sea: ${output} (${version}, Node ${process.version})\n`);
} catch (error) {
  if (!(error instanceof BuildSeaError)) throw error;
  process.stderr.write(`build-sea: ${error.message}\n`);
  process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
