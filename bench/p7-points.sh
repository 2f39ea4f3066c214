#!/usr/bin/env bash
# P7 (issue 7): `pgvault points --json > /dev/null` over a vault with P7_POINTS (default
# 100,000) recovery points, and `pgvault show <id>` of one of them (from the middle).
# One real backup of a small database (pgbench -s 1) gives the template manifest;
# bench/synthetic-points.py writes the other P7_POINTS-1 manifests (same structure and
# chunks, new ids and times, one hour apart). P7_REBUILD_CMD then runs with VAULT and BIN
# set; by default `$BIN vault reindex --vault $VAULT`, which builds the catalog index from the
# manifests: a vault filled by real backups has its index already (each commit writes a loose
# entry, listings pack them), the synthetic manifests have none. P7_REBUILD_CMD= (empty)
# skips it: the first listing then reads every manifest and writes the pack itself. The first
# listing (cold) is reported apart; the medians are over REPS further runs.
#   bench/p7-points.sh
#   P7_POINTS=2000 REPS=1 bench/p7-points.sh    # smoke run
#   P7_REBUILD_CMD= bench/p7-points.sh          # no reindex: the first listing builds the index
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init p7
w=$BENCH_WORK
VAULT="$w/vault"

make_pgbench_db p7 1 0
pgv_init "$VAULT"
pgv_backup "$VAULT" "$w/time.txt" p7 >/dev/null
[ "${BENCH_KEEP_DBS:-}" = 1 ] || drop_db p7
log "writing $((P7_POINTS - 1)) synthetic manifests"
t_gen=$(timed python3 bench/synthetic-points.py "$VAULT" "$((P7_POINTS - 1))")
rec seconds.generate_manifests "$t_gen"
P7_REBUILD_CMD=${P7_REBUILD_CMD-'"$BIN" vault reindex --vault "$VAULT"'}
rec rebuild_cmd "${P7_REBUILD_CMD:-none}"
if [ -n "$P7_REBUILD_CMD" ]; then
  log "P7_REBUILD_CMD: $P7_REBUILD_CMD"
  rec seconds.rebuild_cmd "$(VAULT=$VAULT BIN=$BIN timed bash -c "$P7_REBUILD_CMD")"
fi
rec manifests_on_disk "$(find "$VAULT/points" -name '*.json' ! -name '.tmp-*' | wc -l)"
rec bytes.points_dir "$(bytes_of "$VAULT/points")"
rec bytes.catalog_packs "$(if [ -d "$VAULT/catalog/packs" ]; then bytes_of "$VAULT/catalog/packs"; else echo 0; fi)"
show_id=$(find "$VAULT/points" -name '*.json' ! -name '.tmp-*' -printf '%f\n' | sort | sed -n "$((P7_POINTS / 2))p")
show_id=${show_id%.json}
rec show_id "$show_id"

log "points --json (first, cold)"
t0=$(now); "$BIN" points --vault "$VAULT" --json >"$w/points.json"; t1=$(now)
t_first=$(elapsed "$t0" "$t1")
listed=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d if isinstance(d,list) else d.get("points",[])))' <"$w/points.json")
rec points_listed "$listed"
[ "$listed" = "$P7_POINTS" ] || note "points --json listed $listed points, expected $P7_POINTS (catalog not rebuilt? set P7_REBUILD_CMD)"
t_points=(); t_show=()
for ((r = 1; r <= REPS; r++)); do
  log "repetition $r/$REPS: points --json > /dev/null; show $show_id"
  t0=$(now); "$BIN" points --vault "$VAULT" --json >/dev/null; t1=$(now)
  t_points+=("$(elapsed "$t0" "$t1")")
  t0=$(now); "$BIN" show --vault "$VAULT" "$show_id" >/dev/null; t1=$(now)
  t_show+=("$(elapsed "$t0" "$t1")")
done
m_points=$(median "${t_points[@]}"); m_show=$(median "${t_show[@]}")
rec seconds.points_json_first "$t_first"
rec seconds.points_json "$m_points"; recl seconds_all.points_json "${t_points[@]}"
rec seconds.show "$m_show"; recl seconds_all.show "${t_show[@]}"
target P7a "points --json over $P7_POINTS points (s)" "$m_points" "<" 1
target P7b "show <id> with $P7_POINTS points in the vault (s)" "$m_show" "<" 0.1
rm -rf "$VAULT" "$w/points.json"
bench_finish "P7 listing: $P7_POINTS points"
