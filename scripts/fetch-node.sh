#!/usr/bin/env bash
# Prints the bin directory of an official Node.js build of the given major version, fetched
# once into a cache outside the repository. The binaries come from the npm registry's
# node-linux-<arch> packages (what the `node` package installs), the one route to other Node
# versions that CI machines here have.
#
#   scripts/fetch-node.sh 24     -> ~/.cache/spiffe-sidecar/node/24/bin
set -euo pipefail
major="${1:?usage: fetch-node.sh MAJOR}"
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "fetch-node: no Node.js package for $(uname -m)" >&2; exit 1 ;;
esac
dir="${NODE_CACHE:-$HOME/.cache/spiffe-sidecar/node}/$major"
if [ ! -x "$dir/bin/node" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "node-linux-${arch}@${major}" >/dev/null)
  tar -xzf "$work"/node-linux-*.tgz -C "$work"
  mkdir -p "$dir"
  cp -R "$work/package/." "$dir/"
fi
"$dir/bin/node" --version >&2
echo "$dir/bin"
