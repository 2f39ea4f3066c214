#!/usr/bin/env bash
# Install what pgvault needs to build, test and run on Debian 12 (bookworm).
#
#   scripts/install-deps.sh
#
# Idempotent and fast (<1 s) when everything is already installed: it asks dpkg-query
# first and only runs `apt-get update` + `apt-get install` when a package is missing.
# As root it installs directly; otherwise through sudo when available; otherwise it
# prints the command to run and exits 1.
#
# PostgreSQL: Debian's postgresql-common would create and start a system cluster
# "15/main" on port 5432 when postgresql-15 is first installed. pgvault's scripts never
# use it (scripts/pg-cluster.sh starts throwaway clusters on other ports), so before a
# first install we drop `create_main_cluster = false` into
# /etc/postgresql-common/createcluster.d/ (read through createcluster.conf's include_dir).
set -euo pipefail

packages=(postgresql-15 postgresql-client-15 libpq-dev libarchive-dev libzstd-dev pkg-config zstd tar time)

say() { echo "install-deps: $*" >&2; }

# --- Swift toolchain ------------------------------------------------------------------
check_swift() {
  if command -v swift >/dev/null 2>&1; then return 0; fi
  if [ -x /opt/swift/usr/bin/swift ]; then
    say "swift is not on PATH, but /opt/swift/usr/bin/swift exists (scripts/test.sh and"
    say "scripts/demo.sh add it themselves). For your shell: export PATH=/opt/swift/usr/bin:\$PATH"
    return 0
  fi
  say "Swift 6 toolchain not found (neither on PATH nor at /opt/swift/usr/bin)."
  say "Install it from https://www.swift.org/install/linux/ (Debian 12 tarball), e.g. unpack"
  say "to /opt/swift so that /opt/swift/usr/bin/swift exists, or put its usr/bin on PATH."
  return 1
}

# --- Debian packages -------------------------------------------------------------------
missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  check_swift
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  say "missing packages: ${missing[*]}; this script only knows apt-get (Debian/Ubuntu)."
  say "Install the equivalents of: ${packages[*]}"
  exit 1
fi

if [ "$(id -u)" = 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  say "missing packages: ${missing[*]}"
  say "run as root:"
  say "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
  exit 1
fi

say "installing: ${missing[*]}"

# No system cluster "15/main" on first install of postgresql-15 (see header).
if [[ " ${missing[*]} " == *" postgresql-15 "* ]] && [ ! -e /etc/postgresql-common/createcluster.d/50-pgvault-no-main.conf ]; then
  "${SUDO[@]}" mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" | "${SUDO[@]}" tee /etc/postgresql-common/createcluster.d/50-pgvault-no-main.conf >/dev/null
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"

# Verify.
still=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || still+=("$p")
done
if [ ${#still[@]} -ne 0 ]; then
  say "still missing after apt-get install: ${still[*]}"
  exit 1
fi
say "done"
check_swift
