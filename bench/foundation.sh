#!/usr/bin/env bash
# On-demand benchmark: pgvault backup against plain pg_dump on the same database, same run.
# Never run in CI. See bench/README.md for what the numbers mean.
#
#   bench/foundation.sh                 # SCALE=50: pgbench database of ~800 MB
#   SCALE=2 REPS=1 bench/foundation.sh  # quick smoke run
#
# Environment:
#   SCALE=50         pgbench scale factor (1 ~ 16 MB of tables+indexes)
#   REPS=3           repetitions per measurement; the median is reported
#   BENCH_TMP=/tmp   where the throwaway cluster, dumps and vaults go (needs ~3x the DB size)
#   PORT_BASE=55700  first port tried for the throwaway cluster
#   PGVAULT_BACKUP_ARGS  extra arguments for `pgvault backup` (e.g. "--jobs 2")
#   KEEP=1           keep the temp dir (cluster data, dumps, last vault, logs)
#   PGVAULT_BIN=...  use this pgvault binary instead of building the release one
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
SCALE=${SCALE:-50}
REPS=${REPS:-3}
PORT_BASE=${PORT_BASE:-55700}
read -r -a EXTRA <<<"${PGVAULT_BACKUP_ARGS:-}"

if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
  export PATH="/opt/swift/usr/bin:$PATH"
fi
export PATH="/usr/lib/postgresql/15/bin:$PATH"
log() { echo "bench: $*" >&2; }

scripts/install-deps.sh
if [ -n "${PGVAULT_BIN:-}" ]; then
  BIN=$PGVAULT_BIN
  log "using PGVAULT_BIN=$BIN (no build)"
else
  log "swift build -c release"
  swift build -c release
  BIN="$(swift build -c release --show-bin-path)/pgvault"
fi
[ -x "$BIN" ] || { log "no binary at $BIN"; exit 1; }

work=$(mktemp -d "${BENCH_TMP:-/tmp}/pgvault-bench.XXXXXX")
chmod 0755 "$work"
cluster="$work/pg"
started=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -z "$started" ] || scripts/pg-cluster.sh stop "$cluster" || true
  if [ "${KEEP:-}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started=1
CONN=$(scripts/pg-cluster.sh start "$cluster" "auto:$PORT_BASE") || { log "could not start PostgreSQL"; exit 1; }
CONN_NODB=${CONN/ dbname=postgres/}
DB="$CONN_NODB dbname=bench"
log "PostgreSQL at $CONN"

log "pgbench -i -s $SCALE (this takes a while for large scales)"
createdb --maintenance-db="$CONN" bench
pgbench -i -q -s "$SCALE" "$DB" >"$work/pgbench-init.log" 2>&1 || { cat "$work/pgbench-init.log" >&2; exit 1; }
psql -X -q -c "VACUUM ANALYZE" -c "CHECKPOINT" "$DB"
db_bytes=$(psql -X -qAt -c "SELECT pg_database_size('bench')" "$DB")
log "database size: $db_bytes bytes"

# --- helpers ----------------------------------------------------------------------------
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "null"; else printf "%.3f", a / b }'; }
mb() { awk -v a="$1" 'BEGIN { printf "%.1f", a / 1048576 }'; }

t_fc=(); t_z0=(); t_zstd=(); t_vault=(); rss=()
fc_bytes=0; zstd_bytes=0; stored_bytes=0; vault_bytes=0

for ((r = 1; r <= REPS; r++)); do
  log "repetition $r/$REPS: pg_dump -Fc -f FILE"
  rm -f "$work/bench.dump"
  t0=$(now); pg_dump -Fc -f "$work/bench.dump" "$DB"; t1=$(now)
  t_fc+=("$(elapsed "$t0" "$t1")"); fc_bytes=$(stat -c %s "$work/bench.dump")

  log "repetition $r/$REPS: pg_dump -Fc -Z0 > /dev/null"
  t0=$(now); pg_dump -Fc -Z0 "$DB" >/dev/null; t1=$(now)
  t_z0+=("$(elapsed "$t0" "$t1")")

  log "repetition $r/$REPS: pg_dump -Fc -Z0 | zstd -3 -T1 > FILE"
  rm -f "$work/bench.dump.zst"
  t0=$(now); pg_dump -Fc -Z0 "$DB" | zstd -q -3 -T1 >"$work/bench.dump.zst"; t1=$(now)
  t_zstd+=("$(elapsed "$t0" "$t1")"); zstd_bytes=$(stat -c %s "$work/bench.dump.zst")

  log "repetition $r/$REPS: pgvault backup (fresh vault)"
  vault="$work/vault"
  rm -rf "$vault"
  "$BIN" init "$vault" >"$work/init.log" 2>&1 || { cat "$work/init.log" >&2; exit 1; }
  t0=$(now)
  /usr/bin/time -v -o "$work/time.txt" "$BIN" backup --vault "$vault" --conninfo "$CONN" \
    --database bench --server-name bench "${EXTRA[@]}" >"$work/backup.log" 2>&1 \
    || { cat "$work/backup.log" "$work/time.txt" >&2; exit 1; }
  t1=$(now)
  t_vault+=("$(elapsed "$t0" "$t1")")
  rss+=("$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$work/time.txt")")
  if [ -d "$vault/chunks" ]; then stored_bytes=$(du -sb "$vault/chunks" | cut -f1); else stored_bytes=$(du -sb "$vault" | cut -f1); fi
  vault_bytes=$(du -sb "$vault" | cut -f1)
done

# The restore point's own statistics, if `points --json` works: every numeric field whose
# name mentions bytes/size/chunks, flattened to "path": value.
points_json=null
if "$BIN" points --vault "$vault" --json >"$work/points.json" 2>/dev/null && command -v python3 >/dev/null; then
  points_json=$(python3 - "$work/points.json" <<'EOF' || echo null
import json, sys
doc = json.load(open(sys.argv[1]))
out = {}
def walk(v, path):
    if isinstance(v, dict):
        for k, x in v.items(): walk(x, f"{path}.{k}" if path else k)
    elif isinstance(v, list):
        for i, x in enumerate(v): walk(x, f"{path}[{i}]")
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        low = path.lower()
        if ".files[" in low: return
        if any(w in low for w in ("byte", "size", "chunk", "stored")): out[path] = v
walk(doc, "")
print(json.dumps(out, sort_keys=True))
EOF
)
fi

m_fc=$(median "${t_fc[@]}"); m_z0=$(median "${t_z0[@]}"); m_zstd=$(median "${t_zstd[@]}")
m_vault=$(median "${t_vault[@]}"); m_rss_kb=$(median "${rss[@]}")
r_time_fc=$(ratio "$m_vault" "$m_fc"); r_time_zstd=$(ratio "$m_vault" "$m_zstd")
r_bytes_fc=$(ratio "$stored_bytes" "$fc_bytes"); rss_mb=$(awk -v k="$m_rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')

echo
echo "pgvault foundation benchmark: pgbench scale $SCALE, database $(mb "$db_bytes") MiB, median of $REPS"
printf '%-36s %12s %14s\n' "measurement" "seconds" "bytes"
printf '%-36s %12s %14s\n' "pg_dump -Fc -f FILE" "$m_fc" "$fc_bytes"
printf '%-36s %12s %14s\n' "pg_dump -Fc -Z0 > /dev/null" "$m_z0" "-"
printf '%-36s %12s %14s\n' "pg_dump -Fc -Z0 | zstd -3 -T1 > FILE" "$m_zstd" "$zstd_bytes"
printf '%-36s %12s %14s\n' "pgvault backup (stored chunks)" "$m_vault" "$stored_bytes"
echo
printf '%-36s %12s\n' "time  pgvault / pg_dump -Fc" "$r_time_fc"
printf '%-36s %12s\n' "time  pgvault / (-Z0 | zstd -3)" "$r_time_zstd"
printf '%-36s %12s\n' "bytes stored / pg_dump -Fc" "$r_bytes_fc"
printf '%-36s %12s\n' "pgvault peak RSS (MB)" "$rss_mb"

mkdir -p bench/results
out="bench/results/foundation-$(date -u +%Y-%m-%dT%H%M%SZ).json"
json_list() { local IFS=,; printf '[%s]' "$*"; }
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit-dirty"
cat >"$out" <<EOF
{
  "benchmark": "foundation",
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "commit": "$commit",
  "machine": {"cpus": $(nproc), "cpu": "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo | tr -d '"\\')", "mem_kb": $(awk '/MemTotal/ { print $2 }' /proc/meminfo)},
  "postgres": "$(pg_dump --version | tr -d '"\\')",
  "scale": $SCALE,
  "reps": $REPS,
  "database_bytes": $db_bytes,
  "seconds": {
    "pg_dump_fc": {"median": $m_fc, "all": $(json_list "${t_fc[@]}")},
    "pg_dump_fc_z0_devnull": {"median": $m_z0, "all": $(json_list "${t_z0[@]}")},
    "pg_dump_fc_z0_zstd3": {"median": $m_zstd, "all": $(json_list "${t_zstd[@]}")},
    "pgvault_backup": {"median": $m_vault, "all": $(json_list "${t_vault[@]}")}
  },
  "bytes": {
    "pg_dump_fc": $fc_bytes,
    "pg_dump_fc_z0_zstd3": $zstd_bytes,
    "pgvault_chunks": $stored_bytes,
    "pgvault_vault_total": $vault_bytes,
    "pgvault_point_stats": $points_json
  },
  "pgvault_max_rss_kb": {"median": $m_rss_kb, "all": $(json_list "${rss[@]}")},
  "ratios": {
    "time_pgvault_over_pg_dump_fc": $r_time_fc,
    "time_pgvault_over_z0_zstd3": $r_time_zstd,
    "bytes_stored_over_pg_dump_fc": $r_bytes_fc,
    "pgvault_rss_mb": $rss_mb
  }
}
EOF
echo
echo "wrote $out"
