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
#     (they read its chunk list back);
#   - unless P8_S3=0, with an S3 server (SeaweedFS, scripts/s3-server.sh): REPS times
#     `pgvault copy` of that point into a new S3 vault with immutability unlocked (its
#     manifest goes up as a multipart upload as it is read, with its Object Lock), and
#     `pgvault serve` answering `GET /v1/points/<it>` (the whole manifest as JSON; the server's
#     peak RSS from /proc/PID/status VmHWM, wall time of `curl`).
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

# measured NAME CMD...: runs CMD under /usr/bin/time -v and appends its wall time and peak RSS
# to the arrays t_NAME and m_NAME.
measured() {
  local name=$1 t0 t1
  shift
  t0=$(now)
  /usr/bin/time -v -o "$w/$name-time.txt" "$@" >/dev/null
  t1=$(now)
  eval "t_$name+=(\"\$(elapsed $t0 $t1)\"); m_$name+=(\"\$(max_rss_kb $w/$name-time.txt)\")"
}
# report NAME KEY: records the medians (and every value) of t_NAME as seconds.KEY and of
# m_NAME as kib.KEY_peak_rss.
report() {
  local -n ts="t_$1" ms="m_$1"
  rec "seconds.$2" "$(median "${ts[@]}")"; recl "seconds_all.$2" "${ts[@]}"
  rec "kib.$2_peak_rss" "$(median "${ms[@]}")"; recl "kib_all.$2_peak_rss" "${ms[@]}"
}

t_backup=(); m_backup=(); t_show=(); m_show=(); t_gc=(); m_gc=()
for ((r = 1; r <= REPS; r++)); do
  log "repetition $r/$REPS: pgvault backup (previous point: $P8_CHUNKS chunks)"
  t_backup+=("$(pgv_backup "$VAULT" "$w/time.txt" p8)")
  m_backup+=("$(max_rss_kb "$w/time.txt")")
  log "repetition $r/$REPS: pgvault show $big"
  measured show "$BIN" show "$big" --vault "$VAULT"
  log "repetition $r/$REPS: pgvault purge --dry-run"
  measured gc "$BIN" purge --dry-run --vault "$VAULT"
done
[ "${BENCH_KEEP_DBS:-}" = 1 ] || drop_db p8
report backup backup
report show show
report gc purge_dry_run

# Restore, verify and copy read a point's chunk list back: a second point of $P8_CHUNKS
# entries that all name one real 64-byte chunk (its dump is $P8_CHUNKS x 64 bytes), so what
# is measured is again the list's cost.
log "writing a restorable point of $P8_CHUNKS entries of one 64-byte chunk"
small=$(python3 bench/synthetic-chunks.py "$VAULT" "$P8_CHUNKS" "$P8_DEPTH" restorable)
"$BIN" vault reindex --vault "$VAULT" >/dev/null
t_restore=(); m_restore=(); t_verify=(); m_verify=(); t_copy=(); m_copy=()
for ((r = 1; r <= REPS; r++)); do
  log "repetition $r/$REPS: pgvault restore $small"
  rm -rf "$w/restored"
  measured restore "$BIN" restore "$small" --vault "$VAULT" --to "$w/restored" --quiet
  log "repetition $r/$REPS: pgvault verify $small"
  measured verify "$BIN" verify "$small" --vault "$VAULT"
  log "repetition $r/$REPS: pgvault copy $small to a new vault"
  pgv_init "$w/copy"
  measured copy "$BIN" copy --from "$VAULT" --to "$w/copy" "$small"
  chmod -R u+w "$w/copy"; rm -rf "$w/copy"
done
rm -rf "$w/restored"
report restore restore
report verify verify
report copy copy
if [ "${P8_S3:-1}" = 1 ]; then
  need_packages curl
  bench_on_exit "scripts/s3-server.sh stop '$w/s3'"
  scripts/s3-server.sh start "$w/s3" >/dev/null || die "could not start the S3 server"
  # Credentials through the environment only (never on a command line).
  # shellcheck disable=SC1091
  source "$w/s3/credentials.env"
  export AWS_ACCESS_KEY_ID=$PGVAULT_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$PGVAULT_TEST_S3_SECRET_KEY \
    PGVAULT_S3_ENDPOINT=$PGVAULT_TEST_S3_ENDPOINT AWS_REGION=$PGVAULT_TEST_S3_REGION
  "$BIN" init "s3://p8-bench/first" --create-bucket --immutability unlocked >/dev/null
  t_s3copy=(); m_s3copy=()
  for ((r = 1; r <= REPS; r++)); do
    log "repetition $r/$REPS: pgvault copy $small to a new S3 vault (immutability unlocked)"
    "$BIN" init "s3://p8-bench/copy$r" --immutability unlocked >/dev/null
    measured s3copy "$BIN" copy --from "$VAULT" --to "s3://p8-bench/copy$r" "$small"
  done
  report s3copy copy_to_s3

  # serve: GET /v1/points/<id> of the same point. The policy's one server does not exist
  # (port 1): the scheduler's first pass fails at once and backs nothing up.
  printf 'vault: %s\nservers:\n  - name: nosuch\n    conninfo: "host=127.0.0.1 port=1 dbname=postgres"\nschedule:\n  weekly:\n    day: monday\n    time: "00:00"\n    timezone: UTC\nretention:\n  weekly: 8w\n  monthly: 12m\n  yearly: 10y\n  on-demand: 30d\n' "$VAULT" >"$w/policy.yaml"
  token="p8reader$(od -An -tx8 -N8 /dev/urandom | tr -d ' ')"
  printf 'p8 reader %s\n' "$token" >"$w/tokens"
  chmod 600 "$w/tokens"
  printf 'Authorization: Bearer %s\n' "$token" >"$w/curl-headers"
  t_get=(); m_get=()
  for ((r = 1; r <= REPS; r++)); do
    port=$((40000 + RANDOM % 20000))
    "$BIN" serve --policy "$w/policy.yaml" --tokens "$w/tokens" --listen "127.0.0.1:$port" --interval 3600 \
      >/dev/null 2>"$w/serve.log" &
    spid=$!
    for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
    log "repetition $r/$REPS: GET /v1/points/$small from pgvault serve"
    t0=$(now)
    curl -sf -H "@$w/curl-headers" -o "$w/get.json" "http://127.0.0.1:$port/v1/points/$small" \
      || { kill "$spid"; cat "$w/serve.log" >&2; die "GET /v1/points/$small failed"; }
    t1=$(now)
    t_get+=("$(elapsed "$t0" "$t1")")
    m_get+=("$(awk '/VmHWM/ { print $2 }' "/proc/$spid/status")")
    kill "$spid"; wait "$spid" 2>/dev/null || true
  done
  rec bytes.get_point_json "$(stat -c %s "$w/get.json")"
  rm -f "$w/get.json"
  report get serve_get_point
  scripts/s3-server.sh stop "$w/s3"
fi
note "reported only: the backup's peak RSS with a previous point of $P8_CHUNKS chunks, $P8_DEPTH-deep chains"
bench_finish "P8 a point of $P8_CHUNKS chunks: backup after it, show of it, purge --dry-run; restore, verify and copy (local, S3) of one as long; serve's GET of it"
