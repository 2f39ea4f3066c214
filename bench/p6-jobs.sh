#!/usr/bin/env bash
# P6 (issue 7): eight databases (pgbench -s $SCALE6, default 5, each) backed up by one
# `pgvault backup --jobs 2` into an empty vault, against a sequential loop of
# `pg_dump -Fc -f FILE` over the same eight databases.
# Also reported (no target): the floor of any tool that spawns pg_dump -Z0 for each database,
# two at a time, and reads its output: the same eight `pg_dump -Fc -Z0 | cat >/dev/null`
# through `xargs -P $P6_JOBS`. On a 2-core machine the server backends and the pg_dumps alone
# keep both cores busy; see bench/README.md, P6.
#   bench/p6-jobs.sh
#   SCALE6=1 REPS=1 bench/p6-jobs.sh    # smoke run
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init p6
w=$BENCH_WORK
P6_DBS=${P6_DBS:-8}
P6_JOBS=${P6_JOBS:-2}

dbs=()
for ((i = 1; i <= P6_DBS; i++)); do
  make_pgbench_db "p6_$i" "$SCALE6" 0
  dbs+=("p6_$i")
done
total=0
for d in "${dbs[@]}"; do total=$((total + $(db_size "$d"))); done
rec databases "$P6_DBS"
rec database_bytes_total "$total"

conns=()
for d in "${dbs[@]}"; do conns+=("$(dbconn "$d")"); done
t_loop=(); t_vault=(); t_floor=(); c_loop=(); c_vault=(); c_floor=()
for ((r = 1; r <= REPS; r++)); do
  log "repetition $r/$REPS: sequential pg_dump -Fc loop"
  rm -rf "$w/dumps"; mkdir -p "$w/dumps"
  c0=$(machine_cpu); t0=$(now)
  for d in "${dbs[@]}"; do pg_dump -Fc -f "$w/dumps/$d.dump" "$(dbconn "$d")"; done
  t1=$(now); c1=$(machine_cpu)
  t_loop+=("$(elapsed "$t0" "$t1")"); c_loop+=("$(cpu_between "$c0" "$c1")")
  fc_total=$(bytes_of "$w/dumps")
  log "repetition $r/$REPS: floor: pg_dump -Fc -Z0 | cat >/dev/null, $P6_JOBS at a time"
  c0=$(machine_cpu); t0=$(now)
  printf '%s\n' "${conns[@]}" | xargs -d '\n' -P "$P6_JOBS" -I{} bash -c 'set -o pipefail; pg_dump -Fc -Z0 "$1" | cat >/dev/null' bash {} \
    || die "pg_dump for the floor failed"
  t1=$(now); c1=$(machine_cpu)
  t_floor+=("$(elapsed "$t0" "$t1")"); c_floor+=("$(cpu_between "$c0" "$c1")")
  log "repetition $r/$REPS: pgvault backup --jobs $P6_JOBS"
  pgv_init "$w/vault"
  saved=("${PGV_EXTRA[@]}")
  PGV_EXTRA+=(--jobs "$P6_JOBS")
  c0=$(machine_cpu)
  t_vault+=("$(pgv_backup "$w/vault" "$w/time.txt" "${dbs[@]}")")
  c1=$(machine_cpu); c_vault+=("$(cpu_between "$c0" "$c1")")
  PGV_EXTRA=("${saved[@]}")
  vault_total=$(pgv_total_bytes "$w/vault")
done
rec bytes.pg_dump_fc_total "$fc_total"
rec bytes.pgvault_vault_total "$vault_total"
rm -rf "$w/dumps" "$w/vault"
m_loop=$(median "${t_loop[@]}"); m_vault=$(median "${t_vault[@]}")
rec seconds.pg_dump_fc_loop "$m_loop"; recl seconds_all.pg_dump_fc_loop "${t_loop[@]}"
rec seconds.pgvault_backup_jobs "$m_vault"; recl seconds_all.pgvault_backup_jobs "${t_vault[@]}"
rec ratios.pgvault_jobs_over_loop "$(ratio "$m_vault" "$m_loop")"
m_floor=$(median "${t_floor[@]}")
rec seconds.floor_pg_dump_z0_jobs_into_cat "$m_floor"; recl seconds_all.floor_pg_dump_z0_jobs_into_cat "${t_floor[@]}"
rec ratios.floor_over_loop "$(ratio "$m_floor" "$m_loop")"
# The CPU the target leaves: 0.6 x the loop's wall time on every core. The machine's CPU
# (PostgreSQL's backends included) while the floor ran is what spawning pg_dump costs.
budget=$(awk -v t="$m_loop" -v n="$NCPU" 'BEGIN { printf "%.3f", 0.6 * t * n }')
m_cfloor=$(median "${c_floor[@]}")
rec cpus "$NCPU"
rec seconds_cpu.pg_dump_fc_loop "$(median "${c_loop[@]}")"; recl seconds_cpu_all.pg_dump_fc_loop "${c_loop[@]}"
rec seconds_cpu.floor "$m_cfloor"; recl seconds_cpu_all.floor "${c_floor[@]}"
rec seconds_cpu.pgvault_backup_jobs "$(median "${c_vault[@]}")"; recl seconds_cpu_all.pgvault_backup_jobs "${c_vault[@]}"
rec seconds_cpu.budget_at_target "$budget"
rec ratios.floor_cpu_over_budget "$(ratio "$m_cfloor" "$budget")"
note "P6 CPU budget: 0.6 x loop wall x $NCPU cores = $budget CPU-s; the floor alone (pg_dump -Z0 and its server backends) used $m_cfloor; CPU above the budget cannot meet the target on this machine however it is spread over the cores"
target P6 "backup --jobs $P6_JOBS of $P6_DBS dbs / sequential pg_dump -Fc loop" "$(ratio "$m_vault" "$m_loop")" "<=" 0.6
if [ "${BENCH_KEEP_DBS:-}" != 1 ]; then for d in "${dbs[@]}"; do drop_db "$d"; done; fi
bench_finish "P6 $P6_DBS databases (pgbench -s $SCALE6 each), --jobs $P6_JOBS"
