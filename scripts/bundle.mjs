#!/usr/bin/env node
// Bundles the two CLIs into dist/bin with esbuild. Node 20's ESM loader pays per file: a
// one-shot run of the unbundled sidecar opens 271 JavaScript and JSON files before it is done,
// the bundled one 11 (strace -e openat, 2026-12-03), and loading was most of its run time
// (bench/RESULTS.md, one-shot start).
// One bundle per entry point, with code splitting so that what only some commands use (the
// fake agent and its jose behind `demo`, execa behind exec hooks, pino-pretty on a
// terminal) stays in chunks loaded on first use. dist/ from tsc remains the library.
import { build } from "esbuild";
import { chmod, readFile, rm } from "node:fs/promises";

const outdir = "dist/bin";
const { version } = JSON.parse(await readFile("package.json", "utf8"));
await rm(outdir, { recursive: true, force: true });
await build({
  entryPoints: { "spiffe-sidecar": "src/cli/spiffe-sidecar.ts", "spiffe-fake-agent": "src/cli/spiffe-fake-agent.ts" },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20.19",
  packages: "bundle",
  external: [
    // Required only by grpc-js's channelz and ORCA, which we never enable; bundling it would add
    // protobufjs to every start for nothing. It stays resolvable from node_modules.
    "@grpc/proto-loader",
    // Loaded through createRequire on the first PKCS#12 output only (src/sidecar/output/pkcs12.ts).
    "node-forge",
  ],
  // The bundled CommonJS packages (grpc-js, pino) call require() for Node's built-in modules.
  banner: { js: 'import { createRequire as __bundleRequire } from "node:module";\nconst require = __bundleRequire(import.meta.url);' },
  // src/cli/version.ts: -version without reading package.json at run time.
  define: { SPIFFE_SIDECAR_VERSION: JSON.stringify(version) },
  sourcemap: "linked",
  legalComments: "linked",
  logLevel: "warning",
});
await Promise.all(["spiffe-sidecar.js", "spiffe-fake-agent.js"].map((name) => chmod(`${outdir}/${name}`, 0o755)));
