#!/usr/bin/env bash
# The test command (README, `make test`, CI's .ci/run all call this).
#
#   scripts/test.sh [swift test args...]      e.g. scripts/test.sh --filter EndToEnd
#
# 1. installs the Debian packages (scripts/install-deps.sh; quick when present),
# 2. builds the whole package including the tests (`swift build --build-tests`, debug),
# 3. starts a throwaway PostgreSQL 15 cluster (scripts/pg-cluster.sh) in a fresh temp dir
#    on a free port (55500 and up),
# 4. runs `swift test --disable-xctest "$@"` with
#      PGVAULT_TEST_CONNINFO  conninfo of that cluster (superuser `postgres`, trust auth)
#      PGVAULT_BIN            absolute path of the built debug `pgvault`
#      PGVAULT_TEST_TMP       a scratch directory removed afterwards
#      PGVAULT_TEST_S3_ENDPOINT / _ACCESS_KEY / _SECRET_KEY / _REGION
#                             a throwaway SeaweedFS S3 server with Object Lock (scripts/s3-server.sh)
#      PGVAULT_TEST_PYTHON    a Python with zstandard (venv from PyPI) for FORMAT.md's reader
# 5. stops the cluster and removes the temp dirs (trap on EXIT: also on failure or ^C),
#    and exits with swift test's status.
#
# Environment: PGVAULT_TEST_PORT_BASE (default 55500), PGVAULT_KEEP_TMP=1 keeps the temp
# dir (server log in it) for a post-mortem.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

log() { echo "test.sh: $*" >&2; }

if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
  export PATH="/opt/swift/usr/bin:$PATH"
fi

"$root/scripts/install-deps.sh"

log "swift build --build-tests"
swift build --build-tests

PGVAULT_BIN="$(swift build --show-bin-path)/pgvault"
if [ ! -x "$PGVAULT_BIN" ]; then
  log "built binary not found at $PGVAULT_BIN"
  exit 1
fi
export PGVAULT_BIN

# --- throwaway cluster ------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/pgvault-test.XXXXXX")
# The cluster runs as `postgres` when we are root: it must be able to traverse $work.
chmod 0755 "$work"
mkdir -p "$work/tmp"
chmod 0755 "$work/tmp"
cluster="$work/pg"
started=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$started" ]; then
    "$root/scripts/pg-cluster.sh" stop "$cluster" || true
  fi
  # S3 server (issue 6): SIGKILL, instant and safe
  if [ -n "${s3_started:-}" ]; then "$root/scripts/s3-server.sh" stop "$work/s3" || true; fi
  if [ "${PGVAULT_KEEP_TMP:-}" = 1 ]; then
    log "kept $work (server log: $cluster/server.log)"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

base=${PGVAULT_TEST_PORT_BASE:-55500}
started=1
conninfo=$("$root/scripts/pg-cluster.sh" start "$cluster" "auto:$base") || { log "could not start a PostgreSQL cluster"; exit 1; }
log "PostgreSQL 15 at: $conninfo"

export PGVAULT_TEST_CONNINFO="$conninfo"

# --- S3 server (issue 6): SeaweedFS with Object Lock, scripts/s3-server.sh ---------------
# exports PGVAULT_TEST_S3_ENDPOINT / _ACCESS_KEY / _SECRET_KEY / _REGION
s3_started=1
s3_env=$("$root/scripts/s3-server.sh" start "$work/s3") || { log "could not start the S3 server"; exit 1; }
eval "$s3_env"
log "S3 (SeaweedFS) at: $PGVAULT_TEST_S3_ENDPOINT"
# --- end S3 --------------------------------------------------------------------------------

# --- Python with zstandard (PyPI) for vault/FORMAT.md's reference reader --------------------
reader_venv="${PGVAULT_CACHE:-$HOME/.cache/pgvault}/reader-venv"
if ! "$reader_venv/bin/python" -c 'import zstandard' >/dev/null 2>&1; then
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    log "installing python3-venv"
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  log "installing zstandard into $reader_venv"
  rm -rf "$reader_venv"
  mkdir -p "$(dirname "$reader_venv")"
  python3 -m venv "$reader_venv"
  "$reader_venv/bin/pip" install -q "zstandard==0.25.0" >&2
fi
export PGVAULT_TEST_PYTHON="$reader_venv/bin/python"
export PGVAULT_TEST_TMP="$work/tmp"

log "swift test --disable-xctest $*"
set +e
swift test --disable-xctest "$@"
status=$?
set -e
if [ "$status" -ne 0 ]; then
  log "swift test failed (exit $status)"
fi
exit "$status"
