#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL 15 cluster for tests and the demo.
#   scripts/pg-cluster.sh start DIR PORT         -> prints a conninfo on stdout
#   scripts/pg-cluster.sh start DIR auto:BASE    -> the first free port from BASE (100 tried)
#   scripts/pg-cluster.sh stop DIR
# Works as root (the cluster runs as the `postgres` user) and as an ordinary user.
set -euo pipefail
cmd=${1:?usage: pg-cluster.sh start DIR PORT|auto:BASE | stop DIR}
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
  want=${3:?port or auto:BASE}
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
  start_on() {
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $1 -k $sockopt -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  }
  port_in_use() {
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    if command -v ss >/dev/null 2>&1 && ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; then return 0; fi
    return 1
  }
  if [[ "$want" == auto:* ]]; then
    base=${want#auto:}
    port=""
    for ((p = base; p < base + 100; p++)); do
      port_in_use "$p" && continue
      if start_on "$p"; then port=$p; break; fi
      echo "pg-cluster.sh: could not start on port $p (lost a race?), trying the next one" >&2
    done
    [ -n "$port" ] || { cat "$dir/server.log" >&2; echo "pg-cluster.sh: no port in $base..$((base + 99)) worked" >&2; exit 1; }
  else
    port=$want
    start_on "$port" || { cat "$dir/server.log" >&2; exit 1; }
  fi
  echo "host=127.0.0.1 port=$port user=postgres dbname=postgres"
  ;;
stop)
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  ;;
*) echo "usage: pg-cluster.sh start DIR PORT|auto:BASE | stop DIR" >&2; exit 2 ;;
esac
