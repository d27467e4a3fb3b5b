#!/usr/bin/env bash
# Installs the real SPIFFE peers the interop tests and benchmarks run against: SPIRE's server
# and agent, and the Go spiffe-helper. They come from the Go module proxy, are built once into a
# cache outside the repository, and are never committed. A second run finds them and returns.
#
#   INTEROP_BIN  where the binaries go (default ~/.cache/spiffe-sidecar/interop/bin)
set -euo pipefail

SPIRE_VERSION="${SPIRE_VERSION:-v1.13.3}"
# The proxy lists no versions of spiffe-helper, so `@latest` is refused; v0.11.0 is its newest
# tag that the proxy serves.
HELPER_VERSION="${HELPER_VERSION:-v0.11.0}"
bin_dir="${INTEROP_BIN:-$HOME/.cache/spiffe-sidecar/interop/bin}"
mkdir -p "$bin_dir"
export GOBIN="$bin_dir"
export GOFLAGS="${GOFLAGS:-} -trimpath"
# The checksum database answers 404 for this one SPIRE dependency through the module proxy
# reachable here; its hash still comes from the proxy and is pinned in the throwaway go.sum.
export GONOSUMDB="${GONOSUMDB:-github.com/GoogleCloudPlatform/cloudsql-proxy}"

if ! command -v go >/dev/null; then
  echo "interop: go is not installed; the interop tests will be skipped" >&2
  exit 0
fi

started=$(date +%s)
if [ -x "$bin_dir/spire-server" ] && [ -x "$bin_dir/spire-agent" ]; then
  echo "interop: SPIRE already built in $bin_dir"
else
  # SPIRE is only served as a module to `go get -tool` inside a module, so build it from a
  # throwaway one.
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (
    cd "$work"
    go mod init interop-tools >/dev/null 2>&1
    go get -tool "github.com/spiffe/spire/cmd/spire-server@${SPIRE_VERSION}"
    go get -tool "github.com/spiffe/spire/cmd/spire-agent@${SPIRE_VERSION}"
    go install github.com/spiffe/spire/cmd/spire-server github.com/spiffe/spire/cmd/spire-agent
  )
  echo "interop: built SPIRE ${SPIRE_VERSION} in $(( $(date +%s) - started ))s"
fi

if [ -x "$bin_dir/spiffe-helper" ]; then
  echo "interop: spiffe-helper already built in $bin_dir"
else
  helper_started=$(date +%s)
  # `go install pkg@version` asks the proxy for the version list, which it refuses for this
  # module; a throwaway module with `go get -tool` asks for the exact version only.
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (
    cd "$work"
    go mod init interop-helper >/dev/null 2>&1
    go get -tool "github.com/spiffe/spiffe-helper/cmd/spiffe-helper@${HELPER_VERSION}"
    go install github.com/spiffe/spiffe-helper/cmd/spiffe-helper
  )
  echo "interop: built spiffe-helper ${HELPER_VERSION} in $(( $(date +%s) - helper_started ))s"
fi
INTEROP_BIN="$bin_dir" "$(dirname "${BASH_SOURCE[0]}")/build-hcl-oracle.sh"
INTEROP_BIN="$bin_dir" "$(dirname "${BASH_SOURCE[0]}")/build-go-spiffe-peer.sh"
echo "interop: tools ready in $bin_dir ($(( $(date +%s) - started ))s)"
