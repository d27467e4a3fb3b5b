#!/usr/bin/env bash
# Builds the go-spiffe peer that test/interop/go-spiffe.test.ts runs against the Node library:
# test/tools/go-spiffe-peer, on github.com/spiffe/go-spiffe/v2 v2.9.0 from the Go module proxy
# (pinned with its dependencies in that directory's go.sum). Built into a cache outside the
# repository, never shipped; a second run finds it and returns.
#
#   INTEROP_BIN  where the binary goes (default ~/.cache/spiffe-sidecar/interop/bin)
set -euo pipefail

bin_dir="${INTEROP_BIN:-$HOME/.cache/spiffe-sidecar/interop/bin}"
source_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../test/tools/go-spiffe-peer" && pwd)"

if ! command -v go >/dev/null; then
  echo "go-spiffe-peer: go is not installed; the go-spiffe interop test will be skipped" >&2
  exit 0
fi
if [ -x "$bin_dir/go-spiffe-peer" ] \
  && [ "$bin_dir/go-spiffe-peer" -nt "$source_dir/main.go" ] \
  && [ "$bin_dir/go-spiffe-peer" -nt "$source_dir/go.sum" ]; then
  echo "go-spiffe-peer: already built in $bin_dir"
  exit 0
fi
mkdir -p "$bin_dir"
started=$(date +%s)
(cd "$source_dir" && go build -trimpath -buildvcs=false -o "$bin_dir/go-spiffe-peer" .)
echo "go-spiffe-peer: built in $bin_dir in $(( $(date +%s) - started ))s"
