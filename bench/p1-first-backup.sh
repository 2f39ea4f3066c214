#!/usr/bin/env bash
# P1 + P2 (issue 7): first backup of one database.
#   P1  pgvault backup wall time vs `pg_dump -Fc -f FILE` and vs `pg_dump -Fc -Z0 | zstd -3 -T1 > FILE`
#   P2  bytes stored for that first point vs the -Fc file
# Database: pgbench -s $SCALE (default 50) plus BYTEA_ROWS incompressible 2 KB bytea rows
# (default SCALE*340: 17,000 rows, 35 MB of random bytes, the same as the P3 uniform database,
# so that the whole is the issue's "~800 MB": 802 MiB; pgbench -s 50 alone is 767 MiB).
# BYTEA_ROWS=42500 gives the 872 MiB database (13 % bytea) this script used until 2026-11-26.
#   bench/p1-first-backup.sh
#   SCALE=2 REPS=1 bench/p1-first-backup.sh     # smoke run
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init p1
w=$BENCH_WORK
DB=p1

make_pgbench_db "$DB" "$SCALE" "${BYTEA_ROWS:-$((SCALE * 340))}"
dbb=$(db_size "$DB")
blob_bytes=$(sqlval "$DB" "SELECT pg_total_relation_size('blobs')")
rec database_bytes "$dbb"
rec bytea_share_of_database "$(ratio "$blob_bytes" "$dbb")"

t_fc=(); t_zstd=(); t_vault=(); rss=()
for ((r = 1; r <= REPS; r++)); do
  log "repetition $r/$REPS: pg_dump -Fc -f FILE"
  rm -f "$w/p1.dump"
  t_fc+=("$(timed pg_dump -Fc -f "$w/p1.dump" "$(dbconn "$DB")")")
  fc_bytes=$(stat -c %s "$w/p1.dump")

  log "repetition $r/$REPS: pg_dump -Fc -Z0 | zstd -3 -T1 > FILE"
  rm -f "$w/p1.dump.zst"
  t0=$(now); pg_dump -Fc -Z0 "$(dbconn "$DB")" | zstd -q -3 -T1 >"$w/p1.dump.zst"; t1=$(now)
  t_zstd+=("$(elapsed "$t0" "$t1")")
  zstd_bytes=$(stat -c %s "$w/p1.dump.zst")

  log "repetition $r/$REPS: pgvault backup into an empty vault"
  pgv_init "$w/vault"
  t_vault+=("$(pgv_backup "$w/vault" "$w/time.txt" "$DB")")
  rss+=("$(max_rss_kb "$w/time.txt")")
  vault_total=$(pgv_total_bytes "$w/vault")
  vault_chunks=$(pgv_chunk_bytes "$w/vault")
done
stored_point=$("$BIN" points --vault "$w/vault" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); d=d if isinstance(d,list) else d.get("points",[]); p=d[0] if d else {}; v=p.get("storedBytes", p.get("stats",{}).get("storedBytes")); print("null" if v is None else v)' 2>/dev/null || echo null)

m_fc=$(median "${t_fc[@]}"); m_zstd=$(median "${t_zstd[@]}"); m_vault=$(median "${t_vault[@]}")
rec seconds.pg_dump_fc "$m_fc";           recl seconds_all.pg_dump_fc "${t_fc[@]}"
rec seconds.pg_dump_z0_zstd3 "$m_zstd";   recl seconds_all.pg_dump_z0_zstd3 "${t_zstd[@]}"
rec seconds.pgvault_backup "$m_vault";    recl seconds_all.pgvault_backup "${t_vault[@]}"
rec bytes.pg_dump_fc "$fc_bytes"
rec bytes.pg_dump_z0_zstd3 "$zstd_bytes"
rec bytes.pgvault_vault_total "$vault_total"
rec bytes.pgvault_chunks "$vault_chunks"
rec bytes.pgvault_point_stored "$stored_point"
rec pgvault_max_rss_kb "$(median "${rss[@]}")"
rec ratios.p1_time_over_pg_dump_fc "$(ratio "$m_vault" "$m_fc")"
rec ratios.p1_time_over_z0_zstd3 "$(ratio "$m_vault" "$m_zstd")"
rec ratios.p2_vault_bytes_over_pg_dump_fc "$(ratio "$vault_total" "$fc_bytes")"
target P1a "backup time / pg_dump -Fc time" "$(ratio "$m_vault" "$m_fc")" "<=" 0.65
target P1b "backup time / (pg_dump -Fc -Z0 | zstd -3) time" "$(ratio "$m_vault" "$m_zstd")" "<=" 1.15
target P2 "first point vault bytes / pg_dump -Fc bytes" "$(ratio "$vault_total" "$fc_bytes")" "<=" 0.8
[ "${BENCH_KEEP_DBS:-}" = 1 ] || drop_db "$DB"
bench_finish "P1/P2 first backup: pgbench -s $SCALE + bytea, $(awk -v b="$dbb" 'BEGIN { printf "%.0f", b / 1048576 }') MiB"
