#!/usr/bin/env bash
# Packs the package and uses it as a user would after `npm install -g`: the tarball is installed
# into an empty prefix with the production dependencies only, and the installed commands run
# from an empty directory, so nothing from this checkout (node_modules, examples) can stand in
# for what the tarball lacks. Prints the tarball's file list and size; fails on a file that must
# not ship (tests, sources, source maps, benchmarks) or on any command that does not work.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(mktemp -d)
agent_pid=""
cleanup() {
  if [ -n "$agent_pid" ]; then kill "$agent_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "pack-smoke: FAILED: $*" >&2
  exit 1
}

# `npm pack` runs prepack (the build), as `npm publish` would.
npm pack --loglevel=warn --pack-destination "$work" >&2
tarball=$(compgen -G "$work/spiffe-sidecar-*.tgz")
echo "pack-smoke: $(basename "$tarball"): $(stat -c %s "$tarball") bytes packed, $(tar -tzvf "$tarball" | awk '{ sum += $3 } END { print sum }') bytes unpacked, $(tar -tzf "$tarball" | wc -l) files:"
tar -tzvf "$tarball" | awk '{ printf "  %9d  %s\n", $3, $6 }' | sort -k2
unwanted=$(tar -tzf "$tarball" | grep -E '\.map$|\.test\.|^package/(src|test|bench|scripts|proto)/' || true)
[ -z "$unwanted" ] || fail "the tarball ships files no user needs:
$unwanted"

prefix="$work/prefix"
# --omit=dev: esbuild, tsx and TypeScript must not be needed at run time.
(cd "$work" && npm install -g --prefix "$prefix" --omit=dev --no-audit --no-fund --loglevel=error "$tarball")
export PATH="$prefix/bin:$PATH"
run_dir="$work/run"
mkdir -p "$run_dir"
cd "$run_dir"
[ "$(command -v spiffe-sidecar)" = "$prefix/bin/spiffe-sidecar" ] || fail "spiffe-sidecar is not the installed one"

# The library: the CLIs are bundles, but `import "spiffe-sidecar"` loads dist/ file by file, and
# the package ships only the folders the library's entry point reaches. Every relative import
# in a shipped .js or .d.ts must name a shipped file, and the entry point must load.
package_dir="$prefix/lib/node_modules/spiffe-sidecar"
node --input-type=module - "$package_dir" <<'JS' || fail "the installed library is incomplete"
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { pathToFileURL } from "node:url";
const root = process.argv[2];
const files = readdirSync(join(root, "dist"), { recursive: true, encoding: "utf8" }).filter((name) => /\.(js|d\.ts)$/.test(name));
const missing = [];
for (const name of files) {
  const path = join(root, "dist", name);
  for (const [, target] of readFileSync(path, "utf8").matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
    const resolved = join(dirname(path), target);
    const candidates = name.endsWith(".d.ts") ? [resolved.replace(/\.js$/, ".d.ts")] : [resolved];
    if (!candidates.some(existsSync)) missing.push(`${relative(root, path)} -> ${target}`);
  }
}
if (missing.length > 0) {
  console.error(missing.join("\n"));
  process.exit(1);
}
const library = await import(pathToFileURL(join(root, "dist/index.js")).href);
for (const name of ["parseSpiffeId", "X509Source", "JwtSource", "createSpiffeTlsContext"]) {
  if (typeof library[name] !== "function") throw new Error(`the library does not export ${name}`);
}
console.log(`pack-smoke: the library loads from the package; ${files.length} .js/.d.ts files, every relative import shipped`);
JS

version=$(spiffe-sidecar --version)
expected=$(node -p 'require(process.argv[1]).version' "$repo/package.json")
[ "$version" = "$expected" ] || fail "--version printed '$version', package.json says $expected"
echo "pack-smoke: spiffe-sidecar --version: $version"

timeout 60 spiffe-sidecar demo --duration 5 >"$work/demo.log" 2>&1 || { cat "$work/demo.log"; fail "demo exited $?"; }
for file in svid.pem svid_key.pem svid_bundle.pem jwt_bundle.json jwt_svid.token; do
  [ -s "demo/certs/$file" ] || { cat "$work/demo.log"; fail "demo did not write demo/certs/$file"; }
done
grep -q '^\[app\] started with spiffe://example.org/demo-app' "$work/demo.log" || { cat "$work/demo.log"; fail "the demo's app did not start"; }
echo "pack-smoke: demo --duration 5 wrote $(ls demo/certs | tr '\n' ' ')and its app printed $(grep -c '^\[app\]' "$work/demo.log") lines"

socket="$run_dir/agent/api.sock"
spiffe-fake-agent --socket "$socket" --trust-domain example.org --id spiffe://example.org/smoke >"$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 100); do
  [ -S "$socket" ] && break
  kill -0 "$agent_pid" 2>/dev/null || { cat "$work/agent.log"; fail "spiffe-fake-agent exited"; }
  sleep 0.1
done
[ -S "$socket" ] || { cat "$work/agent.log"; fail "spiffe-fake-agent did not create $socket within 10 s"; }
cat >sidecar.yaml <<YAML
agent_address: unix://$socket
cert_dir: $run_dir/certs
svid_file_name: svid.pem
svid_key_file_name: svid_key.pem
svid_bundle_file_name: svid_bundle.pem
YAML
mkdir -p certs
timeout 60 spiffe-sidecar once -c sidecar.yaml >"$work/once.log" 2>&1 || { cat "$work/once.log"; fail "once exited $?"; }
report=$(spiffe-sidecar inspect --cert certs/svid.pem --key certs/svid_key.pem --bundle certs/svid_bundle.pem) \
  || { echo "$report"; fail "inspect judged the files invalid"; }
grep -q 'spiffe://example.org/smoke' <<<"$report" || { echo "$report"; fail "inspect does not show the SPIFFE ID"; }
echo "pack-smoke: once against the installed spiffe-fake-agent wrote files that inspect accepts:"
sed 's/^/  /' <<<"$report"
kill "$agent_pid"
wait "$agent_pid" || fail "spiffe-fake-agent did not stop cleanly on SIGTERM"
agent_pid=""
echo "pack-smoke: ok"
