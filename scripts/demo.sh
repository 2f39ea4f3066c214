#!/usr/bin/env bash
# End-to-end demo of pgvault on a fresh Debian 12 machine.
#
#   scripts/demo.sh          (or: make demo)
#
# Installs the packages, builds pgvault (release), starts a throwaway PostgreSQL 15 under
# ./demo/pg on a free port, fills it with sample data (pgbench database `shop` with a
# bytea table, a database named `crm "eu" café`, a role `app_reader`), then backs it up
# into ./demo/vault, lists and shows the restore point, restores it to
# ./demo/restore-<timestamp>, verifies the files with sha256sum, loads shop.dump into a
# new database and compares row counts. Every pgvault / PostgreSQL command is echoed
# (`+ ...`) before it runs. The cluster is stopped at the end; ./demo/vault and the
# restore directory are kept. Re-runnable: the cluster and the vault are recreated.
#
# Environment: PGVAULT_DEMO_PORT_BASE (default 55600).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
  export PATH="/opt/swift/usr/bin:$PATH"
fi
export PATH="/usr/lib/postgresql/15/bin:$PATH"

# --- echo-then-run ------------------------------------------------------------------------
if [ -t 1 ]; then B=$'\033[1m' H=$'\033[1;34m' N=$'\033[0m'; else B='' H='' N=''; fi
quote() {
  local a=$1
  if [[ -n "$a" && "$a" =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then printf '%s' "$a"
  elif [[ "$a" != *"'"* ]]; then printf "'%s'" "$a"
  elif [[ "$a" != *[\"\$\`\\]* ]]; then printf '"%s"' "$a"
  else printf "'%s'" "${a//\'/\'\\\'\'}"; fi
}
show() {
  local out="+" a first=1
  for a in "$@"; do
    if [ $first = 1 ] && [ "$a" = "${PGVAULT:-}" ]; then a=pgvault; fi
    first=0
    out+=" $(quote "$a")"
  done
  printf "\n$B%s$N\n" "$out"
}
run() { show "$@"; "$@"; }
section() { printf "\n$H== %s ==$N\n" "$*"; }

# --- 1. dependencies and build -------------------------------------------------------------
section "Dependencies"
run scripts/install-deps.sh

section "Build (release)"
run swift build -c release
PGVAULT="$(swift build -c release --show-bin-path)/pgvault"
pgvault() { run "$PGVAULT" "$@"; }

# --- 2. a throwaway PostgreSQL 15 ----------------------------------------------------------
section "Throwaway PostgreSQL 15 under ./demo/pg"
mkdir -p demo
cluster="$root/demo/pg"
# A previous run killed hard may have left it running: stop it, then start from scratch.
scripts/pg-cluster.sh stop "$cluster" || true
rm -rf "$cluster"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  scripts/pg-cluster.sh stop "$cluster" || true
  if [ "$rc" -ne 0 ]; then
    echo "demo.sh: failed (exit $rc); server log was in $cluster/server.log" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

base=${PGVAULT_DEMO_PORT_BASE:-55600}
CONNINFO=$(scripts/pg-cluster.sh start "$cluster" "auto:$base") || { echo "demo.sh: could not start PostgreSQL" >&2; exit 1; }
show scripts/pg-cluster.sh start ./demo/pg "auto:$base"
echo "$CONNINFO"

# conninfo for one database: CONNINFO with its dbname replaced
CONN_NODB=${CONNINFO/ dbname=postgres/}
db() {
  local n=$1
  if [[ "$n" =~ ^[A-Za-z0-9_]+$ ]]; then printf '%s dbname=%s' "$CONN_NODB" "$n"; return; fi
  n=${n//\\/\\\\}; n=${n//\'/\\\'}
  printf "%s dbname='%s'" "$CONN_NODB" "$n"
}
sql() { local d=$1; shift; run psql -X -q -v ON_ERROR_STOP=1 "$(db "$d")" "$@"; }

# --- 3. sample data ------------------------------------------------------------------------
section "Sample data"
CRM='crm "eu" café'
run createdb --maintenance-db="$CONNINFO" shop
run pgbench -i -s 2 -q "$(db shop)"
sql shop -c "
  CREATE TABLE images(id serial PRIMARY KEY, name text NOT NULL, data bytea NOT NULL);
  -- 300 images of 4 KiB of random bytes each (incompressible, like real JPEGs)
  INSERT INTO images(name, data)
    SELECT 'img-' || g || '.jpg',
           decode(string_agg(md5(random()::text || g || i), ''), 'hex')
      FROM generate_series(1, 300) g, generate_series(1, 256) i
     GROUP BY g ORDER BY g;"
sql postgres -c "CREATE DATABASE \"crm \"\"eu\"\" café\";"
sql "$CRM" -c "
  CREATE TABLE customers(id int PRIMARY KEY, name text, country text);
  INSERT INTO customers VALUES (1, 'Zoë Ångström', 'SE'), (2, 'José Müller', 'DE'),
                               (3, 'Łukasz Żółć', 'PL'), (4, '山田 太郎', 'JP');"
sql postgres -c "CREATE ROLE app_reader LOGIN PASSWORD 'demo-only';"
sql shop -c "GRANT CONNECT ON DATABASE shop TO app_reader;
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO app_reader;"
run psql -X -q "$CONNINFO" -c '\l+'

# --- 4. pgvault ----------------------------------------------------------------------------
section "pgvault: create a vault, check, back up"
rm -rf demo/vault
VAULT=./demo/vault
pgvault init "$VAULT"
pgvault check --vault "$VAULT" --conninfo "$CONNINFO"
pgvault backup --vault "$VAULT" --conninfo "$CONNINFO" --server-name demo

section "pgvault: restore points"
pgvault points --vault "$VAULT"
pgvault show --vault "$VAULT" latest

section "pgvault: restore"
RESTORE="./demo/restore-$(date +%Y%m%d-%H%M%S)"
pgvault restore --vault "$VAULT" latest --to "$RESTORE"
run ls -l "$RESTORE"
printf "\n$B+ (cd %s && sha256sum -c SHA256SUMS)$N\n" "$(quote "$RESTORE")"
(cd "$RESTORE" && sha256sum -c SHA256SUMS)

section "Load shop.dump into a new database and compare"
run createdb --maintenance-db="$CONNINFO" shop_restored
run pg_restore --no-owner --exit-on-error -d "$(db shop_restored)" "$RESTORE/shop.dump"

q() { psql -X -qAt -v ON_ERROR_STOP=1 "$(db "$1")" -c "$2"; }
mismatch=0
printf '\n%-18s %14s %14s  %s\n' table shop shop_restored ""
for t in pgbench_accounts pgbench_branches pgbench_tellers pgbench_history images; do
  a=$(q shop "SELECT count(*) FROM $t"); b=$(q shop_restored "SELECT count(*) FROM $t")
  ok=ok; [ "$a" = "$b" ] || { ok=MISMATCH; mismatch=1; }
  printf '%-18s %14s %14s  %s\n' "$t" "$a" "$b" "$ok"
done
h='SELECT md5(string_agg(md5(data), $$$$ ORDER BY id)) FROM images'
a=$(q shop "$h"); b=$(q shop_restored "$h")
ok=ok; [ "$a" = "$b" ] || { ok=MISMATCH; mismatch=1; }
printf '%-18s %14s %14s  %s\n' "images bytea md5" "${a:0:12}" "${b:0:12}" "$ok"

section "pgvault: job log"
pgvault jobs --vault "$VAULT"

section "Done"
echo "vault:            $root/demo/vault"
echo "restored files:   $root/${RESTORE#./}"
echo "PostgreSQL (stopped): $cluster  (re-running this script recreates it)"
if [ "$mismatch" -ne 0 ]; then
  echo "demo.sh: restored data differs from the original" >&2
  exit 1
fi
