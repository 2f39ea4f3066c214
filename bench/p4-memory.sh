#!/usr/bin/env bash
# P4 (issue 7): peak resident memory of `pgvault backup` of a ~5 GB database
# (pgbench -s $SCALE_BIG, default 330, plus ~10 % 2 KB random bytea), from
# `/usr/bin/time -v` ("Maximum resident set size" of the pgvault process; its pg_dump child
# is a separate process and not counted). Skipped, with a note, when BENCH_TMP has less
# than P4_MIN_FREE_GB (default 20) GB free.
#
# Two kinds of point, because they hold different buffers: the first point (every chunk
# stored whole) and delta points (chunks encoded against the previous point's, whose bases
# are decoded through their chains). After the first-point repetitions, a week of uniform
# churn (bench/lib.sh uniform_week) and a second point, another week, then REPS third points,
# each into a copy of the two-point vault (chains two deep). P4 is the larger median.
#   bench/p4-memory.sh
#   SCALE_BIG=5 REPS=1 P4_MIN_FREE_GB=1 bench/p4-memory.sh    # smoke run
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init p4
w=$BENCH_WORK
DB=p4

free_gb=$(df -P -B1G "$BENCH_TMP" | awk 'NR == 2 { print $4 }')
rec free_gb_in_bench_tmp "$free_gb"
if [ "$free_gb" -lt "$P4_MIN_FREE_GB" ]; then
  note "P4 skipped: only $free_gb GB free in $BENCH_TMP (needs $P4_MIN_FREE_GB GB: database + vault)"
  target P4 "peak RSS of pgvault backup (MiB), ~5 GB database" skipped "<=" 150
  bench_finish "P4 peak memory (skipped)"
  exit 0
fi

make_pgbench_db "$DB" "$SCALE_BIG" "${BYTEA_ROWS_BIG:-}"
dbb=$(db_size "$DB")
rec database_bytes "$dbb"
t_vault=(); rss=()
for ((r = 1; r <= REPS; r++)); do
  log "repetition $r/$REPS: pgvault backup under /usr/bin/time -v"
  pgv_init "$w/vault"
  t_vault+=("$(pgv_backup "$w/vault" "$w/time.txt" "$DB")")
  rss+=("$(max_rss_kb "$w/time.txt")")
  vault_total=$(pgv_total_bytes "$w/vault")
  rm -rf "$w/vault"
done
rec bytes.pgvault_vault_total "$vault_total"
m_rss=$(median "${rss[@]}")
rec seconds.pgvault_backup "$(median "${t_vault[@]}")"; recl seconds_all.pgvault_backup "${t_vault[@]}"
rec pgvault_max_rss_kb "$m_rss"; recl pgvault_max_rss_kb_all "${rss[@]}"
rec pgvault_max_rss_mib "$(awk -v k="$m_rss" 'BEGIN { printf "%.1f", k / 1024 }')"

# Delta points: week 2 and its point, week 3, then REPS third points (chains two deep).
log "delta points: a week of churn, point 2, another week, then $REPS third points"
pgv_init "$w/vault2"
pgv_backup "$w/vault2" "$w/time.txt" "$DB" >/dev/null
uniform_week "$DB" 2 >/dev/null
sql "$DB" -c CHECKPOINT
pgv_backup "$w/vault2" "$w/time.txt" "$DB" >/dev/null
uniform_week "$DB" 3 >/dev/null
sql "$DB" -c CHECKPOINT
t_delta=(); rss_delta=()
for ((r = 1; r <= REPS; r++)); do
  log "repetition $r/$REPS: third point under /usr/bin/time -v"
  rm -rf "$w/vault3"; cp -a "$w/vault2" "$w/vault3"
  t_delta+=("$(pgv_backup "$w/vault3" "$w/time.txt" "$DB")")
  rss_delta+=("$(max_rss_kb "$w/time.txt")")
done
rm -rf "$w/vault2" "$w/vault3"
d_rss=$(median "${rss_delta[@]}")
rec seconds.pgvault_delta_backup "$(median "${t_delta[@]}")"; recl seconds_all.pgvault_delta_backup "${t_delta[@]}"
rec pgvault_delta_max_rss_kb "$d_rss"; recl pgvault_delta_max_rss_kb_all "${rss_delta[@]}"
rec pgvault_delta_max_rss_mib "$(awk -v k="$d_rss" 'BEGIN { printf "%.1f", k / 1024 }')"
rss_mb=$(awk -v a="$m_rss" -v b="$d_rss" 'BEGIN { printf "%.1f", (a > b ? a : b) / 1024 }')
target P4 "peak RSS of pgvault backup (MiB), first and delta points, $(awk -v b="$dbb" 'BEGIN { printf "%.1f", b / 1073741824 }') GiB db" "$rss_mb" "<=" 150
[ "${BENCH_KEEP_DBS:-}" = 1 ] || drop_db "$DB"
bench_finish "P4 peak memory: pgbench -s $SCALE_BIG + bytea, $(awk -v b="$dbb" 'BEGIN { printf "%.0f", b / 1048576 }') MiB"
