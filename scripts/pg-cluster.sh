#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL 15 cluster for tests and the demo.
#   scripts/pg-cluster.sh start DIR PORT   -> prints a conninfo on stdout
#   scripts/pg-cluster.sh stop DIR
# Works as root (the cluster runs as the `postgres` user) and as an ordinary user.
set -euo pipefail
cmd=${1:?usage: pg-cluster.sh start DIR PORT | stop DIR}
dir=${2:?data directory}
bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
if [ ! -x "$bindir/initdb" ]; then
  echo "pg-cluster.sh: $bindir/initdb not found; run scripts/install-deps.sh (installs postgresql-15)" >&2
  exit 1
fi
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$cmd" in
start)
  port=${3:?port}
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  sock="$dir/sock"
  mkdir -p "$dir/data" "$sock"
  if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$dir"; chmod 0755 "$dir"; fi
  chmod 0700 "$dir/data"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  # Unix socket paths are limited to ~107 bytes; the conninfo uses TCP anyway, so
  # fall back to no socket when DIR is deep. pg_ctl runs the options through /bin/sh,
  # hence the single quotes (DIR may contain spaces).
  if [ $(( ${#sock} + 20 )) -gt 100 ] || [[ "$sock" == *"'"* ]]; then sockopt="''"; else sockopt="'$sock'"; fi
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $sockopt -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
  echo "host=127.0.0.1 port=$port user=postgres dbname=postgres"
  ;;
stop)
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  ;;
*) echo "usage: pg-cluster.sh start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
