#!/usr/bin/env bash
# Builds the Go HCL oracle that test/config/hcl-differential.test.ts compares our helper.conf
# reader with: test/tools/hcl-oracle, on hashicorp/hcl v1.0.1-vault-7 (what spiffe-helper
# v0.11.0 pins) from the Go module proxy. Built into a cache outside the repository, never
# shipped; a second run finds it and returns.
#
#   INTEROP_BIN  where the binary goes (default ~/.cache/spiffe-sidecar/interop/bin)
set -euo pipefail

bin_dir="${INTEROP_BIN:-$HOME/.cache/spiffe-sidecar/interop/bin}"
source_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../test/tools/hcl-oracle" && pwd)"

if ! command -v go >/dev/null; then
  echo "hcl-oracle: go is not installed; the HCL differential test will be skipped" >&2
  exit 0
fi
if [ -x "$bin_dir/hcl-oracle" ] && [ "$bin_dir/hcl-oracle" -nt "$source_dir/main.go" ]; then
  echo "hcl-oracle: already built in $bin_dir"
  exit 0
fi
mkdir -p "$bin_dir"
started=$(date +%s)
(cd "$source_dir" && go build -trimpath -buildvcs=false -o "$bin_dir/hcl-oracle" .)
echo "hcl-oracle: built in $bin_dir in $(( $(date +%s) - started ))s"
