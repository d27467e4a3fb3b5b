#!/usr/bin/env bash
# Installs every peer the full test suite drives for real, so that no suite is skipped:
#   Debian packages  openssl, nginx, PostgreSQL (server and psql), util-linux (setpriv, runuser),
#                    systemd (systemd-analyze) and a Java runtime (keytool)
#   Go peers         SPIRE server and agent, the Go spiffe-helper, built by
#                    scripts/install-interop-tools.sh (needs Go >= 1.25 on PATH)
# Packages are installed only when missing, so a warm machine spends no time here; apt needs
# root. `npm test` passes without any of them: the suites that need one are skipped, counted
# and named at the end of the run.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
# Debian puts nginx in /usr/sbin (not on every PATH) and PostgreSQL's server programs in
# /usr/lib/postgresql/<major>/bin; some images also link them into /usr/local/bin.
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
if ! command -v initdb >/dev/null && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  need_apt+=(postgresql)
elif ! command -v psql >/dev/null; then
  need_apt+=(postgresql-client)
fi
{ command -v setpriv && { command -v runuser || [ -x /usr/sbin/runuser ]; }; } >/dev/null || need_apt+=(util-linux)
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
command -v python3 >/dev/null || need_apt+=(python3) # plays the notify socket in test/sidecar/systemd-notify.test.ts
command -v keytool >/dev/null || need_apt+=(default-jre-headless)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "test-peers: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

pg_bin=$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1 || true)
echo "test-peers: $(openssl version); $( (PATH="$PATH:/usr/sbin" nginx -v) 2>&1); $(PATH="$PATH:$pg_bin" postgres --version)"
bash scripts/install-interop-tools.sh
