#!/usr/bin/env bash
# P8 (reported; issue 7 sets no target): memory and time of the commands that read a whole
# manifest when the point is as large as the limits allow. A 1 TiB database makes ~650,000
# chunks (1.6 MB average), each named in the manifest with its delta chain (11 links deep after
# twelve weekly points): ~950 MB of JSON. Nobody backs up 1 TiB in a benchmark, so:
#   - one real backup of a small database (pgbench -s $P8_SCALE) gives the template point;
#   - bench/synthetic-chunks.py writes a point of the same database, one day in the future
#     (so it is the newest: the next backup takes its delta bases from it), whose dump lists
#     P8_CHUNKS chunks with random ids, chains P8_DEPTH deep, sketches, heads and cuts;
#   - then, REPS times: `pgvault backup` of the database (peak RSS, wall time; its delta
#     bases come from the large point, whose chunk objects do not exist, so no base matches
#     and nothing is read: what is measured is the manifest's cost), `pgvault show` of
#     the large point, and `pgvault purge --dry-run` (garbage collection's mark reads every
#     manifest's chunk entries);
#   - then a second point as long whose entries all name one real 64-byte chunk, and REPS
#     times `pgvault restore`, `pgvault verify` and `pgvault copy` (into a new vault) of it
#     (they read its chunk list back).
#   bench/p8-large-manifest.sh
#   P8_CHUNKS=50000 REPS=1 bench/p8-large-manifest.sh    # smoke run
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
P8_CHUNKS=${P8_CHUNKS:-650000}
P8_DEPTH=${P8_DEPTH:-11}
P8_SCALE=${P8_SCALE:-5}
bench_init p8
w=$BENCH_WORK
VAULT="$w/vault"

make_pgbench_db p8 "$P8_SCALE" 0
pgv_init "$VAULT"
pgv_backup "$VAULT" "$w/time.txt" p8 >/dev/null
log "writing a point of $P8_CHUNKS chunks, chains $P8_DEPTH deep"
big=$(python3 bench/synthetic-chunks.py "$VAULT" "$P8_CHUNKS" "$P8_DEPTH")
"$BIN" vault reindex --vault "$VAULT" >/dev/null
rec chunks "$P8_CHUNKS"
rec depth "$P8_DEPTH"
rec bytes.manifest_stored "$(stat -c %s "$VAULT/points/$big.json")"
rec bytes.manifest_json "$("$BIN" show "$big" --vault "$VAULT" --json | wc -c)"

t_b=(); m_b=(); t_s=(); m_s=(); t_g=(); m_g=()
for ((r = 1; r <= REPS; r++)); do
  log "repetition $r/$REPS: pgvault backup (previous point: $P8_CHUNKS chunks)"
  t_b+=("$(pgv_backup "$VAULT" "$w/time.txt" p8)")
  m_b+=("$(max_rss_kb "$w/time.txt")")
  log "repetition $r/$REPS: pgvault show $big"
  t0=$(now)
  /usr/bin/time -v -o "$w/show-time.txt" "$BIN" show "$big" --vault "$VAULT" >/dev/null
  t1=$(now)
  t_s+=("$(elapsed "$t0" "$t1")")
  m_s+=("$(max_rss_kb "$w/show-time.txt")")
  log "repetition $r/$REPS: pgvault purge --dry-run"
  t0=$(now)
  /usr/bin/time -v -o "$w/gc-time.txt" "$BIN" purge --dry-run --vault "$VAULT" >/dev/null
  t1=$(now)
  t_g+=("$(elapsed "$t0" "$t1")")
  m_g+=("$(max_rss_kb "$w/gc-time.txt")")
done
[ "${BENCH_KEEP_DBS:-}" = 1 ] || drop_db p8
rec seconds.backup "$(median "${t_b[@]}")"; recl seconds_all.backup "${t_b[@]}"
rec kib.backup_peak_rss "$(median "${m_b[@]}")"; recl kib_all.backup_peak_rss "${m_b[@]}"
rec seconds.show "$(median "${t_s[@]}")"; recl seconds_all.show "${t_s[@]}"
rec kib.show_peak_rss "$(median "${m_s[@]}")"; recl kib_all.show_peak_rss "${m_s[@]}"
rec seconds.purge_dry_run "$(median "${t_g[@]}")"; recl seconds_all.purge_dry_run "${t_g[@]}"
rec kib.purge_dry_run_peak_rss "$(median "${m_g[@]}")"; recl kib_all.purge_dry_run_peak_rss "${m_g[@]}"

# Restore and verify read a point's chunk list back whole: a second point of $P8_CHUNKS
# entries that all name one real 64-byte chunk (its dump is $P8_CHUNKS x 64 bytes), so what
# is measured is again the list's cost.
log "writing a restorable point of $P8_CHUNKS entries of one 64-byte chunk"
small=$(python3 bench/synthetic-chunks.py "$VAULT" "$P8_CHUNKS" "$P8_DEPTH" restorable)
"$BIN" vault reindex --vault "$VAULT" >/dev/null
t_r=(); m_r=(); t_v=(); m_v=()
for ((r = 1; r <= REPS; r++)); do
  log "repetition $r/$REPS: pgvault restore $small"
  rm -rf "$w/restored"
  t0=$(now)
  /usr/bin/time -v -o "$w/restore-time.txt" "$BIN" restore "$small" --vault "$VAULT" --to "$w/restored" --quiet >/dev/null
  t1=$(now)
  t_r+=("$(elapsed "$t0" "$t1")")
  m_r+=("$(max_rss_kb "$w/restore-time.txt")")
  log "repetition $r/$REPS: pgvault verify $small"
  t0=$(now)
  /usr/bin/time -v -o "$w/verify-time.txt" "$BIN" verify "$small" --vault "$VAULT" >/dev/null
  t1=$(now)
  t_v+=("$(elapsed "$t0" "$t1")")
  m_v+=("$(max_rss_kb "$w/verify-time.txt")")
done
rm -rf "$w/restored"
t_c=(); m_c=()
for ((r = 1; r <= REPS; r++)); do
  log "repetition $r/$REPS: pgvault copy $small to a new vault"
  pgv_init "$w/copy"
  t0=$(now)
  /usr/bin/time -v -o "$w/copy-time.txt" "$BIN" copy --from "$VAULT" --to "$w/copy" "$small" >/dev/null
  t1=$(now)
  t_c+=("$(elapsed "$t0" "$t1")")
  m_c+=("$(max_rss_kb "$w/copy-time.txt")")
  chmod -R u+w "$w/copy"; rm -rf "$w/copy"
done
rec seconds.copy "$(median "${t_c[@]}")"; recl seconds_all.copy "${t_c[@]}"
rec kib.copy_peak_rss "$(median "${m_c[@]}")"; recl kib_all.copy_peak_rss "${m_c[@]}"
rec seconds.restore "$(median "${t_r[@]}")"; recl seconds_all.restore "${t_r[@]}"
rec kib.restore_peak_rss "$(median "${m_r[@]}")"; recl kib_all.restore_peak_rss "${m_r[@]}"
rec seconds.verify "$(median "${t_v[@]}")"; recl seconds_all.verify "${t_v[@]}"
rec kib.verify_peak_rss "$(median "${m_v[@]}")"; recl kib_all.verify_peak_rss "${m_v[@]}"
note "reported only: the backup's peak RSS with a previous point of $P8_CHUNKS chunks, $P8_DEPTH-deep chains"
bench_finish "P8 a point of $P8_CHUNKS chunks: backup after it, show of it, purge --dry-run; restore, verify and copy of one as long"
