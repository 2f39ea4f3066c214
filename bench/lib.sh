# Shared helpers for the on-demand performance benchmarks of issue 7 (bench/p*.sh,
# bench/run-all.sh). Sourced, never run. Never used in CI. See bench/README.md.
#
# Every script works alone (it installs what it needs, builds pgvault, starts its own
# throwaway PostgreSQL 15 and removes it) or under bench/run-all.sh, which does that once
# and hands the cluster, the binary and a shared work directory down through
# BENCH_CONN / PGVAULT_BIN / BENCH_SHARED_WORK.
#
# Common environment (all optional):
#   SCALE=50          P1/P2 pgbench scale (~16 MB per unit) + ~10 % incompressible bytea
#   SCALE_CHURN=20    P3/P5 pgbench scale of the uniform churn database (the issue's -s 20)
#   EVENTS_ROWS       P3 append-mostly: initial rows of the events table (SCALE_CHURN*50000)
#   WEEKS=12          P3/P5 weekly points per workload
#   SCALE_BIG=330     P4 scale (~5 GB);  P4_MIN_FREE_GB=20 (P4 is skipped below that)
#   SCALE6=5          P6 scale of each of the eight databases
#   P7_POINTS=100000  P7 synthetic points
#   REPS=3            repetitions; every time is the median of REPS runs
#   BENCH_TMP=/tmp    where clusters, dumps, vaults and repositories go
#   PORT_BASE=55800   first port tried for the throwaway cluster
#   PGVAULT_BIN=...   use this binary instead of `swift build -c release --product pgvault`
#   PGVAULT_BACKUP_ARGS  extra arguments for every `pgvault backup`
#   PGVAULT_INIT_ARGS    extra arguments for every `pgvault init` (e.g. "--delta-depth 4")
#   KEEP=1            keep the work directory (cluster data, vaults, logs)

set -euo pipefail
set -o errtrace

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$BENCH_ROOT"

SCALE=${SCALE:-50}
SCALE_CHURN=${SCALE_CHURN:-20}
WEEKS=${WEEKS:-12}
SCALE_BIG=${SCALE_BIG:-330}
SCALE6=${SCALE6:-5}
P7_POINTS=${P7_POINTS:-100000}
REPS=${REPS:-3}
BENCH_TMP=${BENCH_TMP:-/tmp}
PORT_BASE=${PORT_BASE:-55800}
P4_MIN_FREE_GB=${P4_MIN_FREE_GB:-20}
EVENTS_ROWS=${EVENTS_ROWS:-$((SCALE_CHURN * 50000))}
export SCALE SCALE_CHURN WEEKS SCALE_BIG SCALE6 P7_POINTS REPS BENCH_TMP PORT_BASE P4_MIN_FREE_GB EVENTS_ROWS
read -r -a PGV_EXTRA <<<"${PGVAULT_BACKUP_ARGS:-}"
read -r -a PGV_INIT_EXTRA <<<"${PGVAULT_INIT_ARGS:-}"

if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
  export PATH="/opt/swift/usr/bin:$PATH"
fi
export PATH="/usr/lib/postgresql/15/bin:$PATH"

log() { echo "bench[${BENCH_NAME:-?}]: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- numbers ----------------------------------------------------------------------------
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
sum() { printf '%s\n' "$@" | awk '{ s += $1 } END { printf "%.3f\n", s }'; }
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) print "null"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "null" || b == "null" || b + 0 == 0) print "null"; else printf "%.3f", a / b }'; }
bytes_of() { du -sb "$1" | cut -f1; }
max_rss_kb() { awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$1"; }
# Runs "$@" and prints its wall time in seconds (stdout of the command goes to stderr); fails
# when the command fails, so that a broken step stops the benchmark instead of timing an error.
timed() { local t0 t1 rc=0; t0=$(now); "$@" >&2 || rc=$?; t1=$(now); elapsed "$t0" "$t1"; return "$rc"; }

# CPU accounting, for the targets a 2-core machine may not be able to reach (P5, P6): a target
# "≤ k × T wall" allows at most k × T × NCPU CPU-seconds even with every core busy all along.
NCPU=$(nproc)
# machine_cpu: CPU time every process (and the kernel's own threads: writeback) has used since
# boot, in clock ticks (/proc/stat: user, nice, system, irq, softirq, steal).
machine_cpu() { awk '/^cpu / { printf "%d", $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
# cpu_between TICKS0 TICKS1: the CPU-seconds between two machine_cpu readings.
cpu_between() { awk -v a="$1" -v b="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", (b - a) / hz }'; }
# cpu_of FILE: user + system seconds from `/usr/bin/time -f '%U %S' -o FILE` (the process and
# its children).
cpu_of() { awk 'NF == 2 { printf "%.3f", $1 + $2 }' "$1"; }

# --- packages ---------------------------------------------------------------------------
# need_packages PKG...: install the Debian packages that dpkg-query does not report installed.
need_packages() {
  local missing=() p st
  for p in "$@"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "missing packages ${missing[*]}; run as root: apt-get install ${missing[*]}"
    sudo=(sudo)
  fi
  log "apt-get install ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
    || { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 \
         && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; }
}

# --- results ----------------------------------------------------------------------------
# rec KEY VALUE          one measurement (KEY dotted: "seconds.pg_dump_fc"); VALUE a number,
#                        null, or any other string
# recl KEY V1 V2 ...     a list (e.g. every repetition)
# target ID WHAT VALUE OP LIMIT   a target of issue 7 (OP is <= or <); PASS/FAIL at the end
# note TEXT              a remark printed and kept in the JSON
rec() { printf 'v\t%s\t%s\n' "$1" "$2" >>"$BENCH_RES"; }
recl() { local k=$1; shift; local IFS=,; printf 'l\t%s\t%s\n' "$k" "$*" >>"$BENCH_RES"; }
target() { printf 't\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$BENCH_RES"; }
note() { log "note: $*"; printf 'n\t%s\n' "$*" >>"$BENCH_RES"; }

# --- setup ------------------------------------------------------------------------------
# bench_init NAME: deps, binary, work dir, cluster. Sets BENCH_WORK, BIN, CONN, CONN_NODB.
bench_init() {
  export BENCH_NAME=$1
  export BENCH_RUN_DATE=${BENCH_RUN_DATE:-$(date -u +%Y-%m-%dT%H%M%SZ)}
  if [ -z "${BENCH_DEPS_DONE:-}" ]; then
    scripts/install-deps.sh
    need_packages time zstd python3 restic borgbackup openssl
    export BENCH_DEPS_DONE=1
  fi
  if [ -n "${PGVAULT_BIN:-}" ]; then
    BIN=$PGVAULT_BIN
  else
    log "swift build -c release --product pgvault"
    swift build -c release --product pgvault >&2
    BIN="$(swift build -c release --show-bin-path)/pgvault"
    export PGVAULT_BIN=$BIN
  fi
  [ -x "$BIN" ] || die "no pgvault binary at $BIN"

  BENCH_OWN_WORK=""
  if [ -n "${BENCH_SHARED_WORK:-}" ]; then
    BENCH_WORK="$BENCH_SHARED_WORK/$BENCH_NAME"
    mkdir -p "$BENCH_WORK"
  else
    mkdir -p "$BENCH_TMP"
    BENCH_WORK=$(mktemp -d "$BENCH_TMP/pgvault-bench-$BENCH_NAME.XXXXXX")
    BENCH_OWN_WORK=$BENCH_WORK
  fi
  chmod 0755 "$BENCH_WORK"
  BENCH_RES="$BENCH_WORK/results.tsv"
  : >"$BENCH_RES"
  BENCH_CLUSTER=""
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  if [ -n "${BENCH_CONN:-}" ]; then
    CONN=$BENCH_CONN
  else
    bench_start_cluster "$BENCH_WORK/pg"
  fi
  CONN_NODB=${CONN/ dbname=postgres/}
  log "PostgreSQL at $CONN; work dir $BENCH_WORK"
}

bench_start_cluster() {
  local dir=$1 port
  CONN=""
  BENCH_CLUSTER=$dir
  CONN=$(scripts/pg-cluster.sh start "$dir" "auto:$PORT_BASE") || die "could not start PostgreSQL"
  # No background autovacuum: the workloads vacuum explicitly, so every tool sees the same
  # states and timings are not disturbed. Bigger maintenance memory for faster index builds.
  psql -X -q -c "ALTER SYSTEM SET autovacuum = off" -c "ALTER SYSTEM SET maintenance_work_mem = '256MB'" \
    -c "ALTER SYSTEM SET max_wal_size = '4GB'" -c "SELECT pg_reload_conf()" "$CONN" >/dev/null
}

# bench_on_exit CMD...: run CMD (a string, eval'd) when the script ends, before the cluster
# stops (servers a script starts beside PostgreSQL).
BENCH_EXIT_CMDS=()
bench_on_exit() { BENCH_EXIT_CMDS+=("$*"); }

bench_cleanup() {
  local rc=$? c
  trap - EXIT INT TERM
  for c in "${BENCH_EXIT_CMDS[@]}"; do eval "$c" || true; done
  [ -z "${BENCH_CLUSTER:-}" ] || scripts/pg-cluster.sh stop "$BENCH_CLUSTER" || true
  if [ -n "${BENCH_OWN_WORK:-}" ]; then
    if [ "${KEEP:-}" = 1 ]; then log "kept $BENCH_OWN_WORK"; else rm -rf "$BENCH_OWN_WORK"; fi
  fi
  exit "$rc"
}

dbconn() { echo "$CONN_NODB dbname=$1"; }
sql() { local db=$1; shift; psql -X -q -v ON_ERROR_STOP=1 "$@" "$(dbconn "$db")"; }
sqlval() { psql -X -qAt -v ON_ERROR_STOP=1 -c "$2" "$(dbconn "$1")"; }
db_size() { sqlval postgres "SELECT pg_database_size('$1')"; }
drop_db() { psql -X -q -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS \"$1\"" "$CONN" >/dev/null; }

# --- pgvault ----------------------------------------------------------------------------
pgv_init() { rm -rf "$1"; "$BIN" init "$1" "${PGV_INIT_EXTRA[@]}" >"$BENCH_WORK/init.log" 2>&1 || { cat "$BENCH_WORK/init.log" >&2; die "pgvault init $1"; }; }
# pgv_backup VAULT TIMEFILE DB...: one backup of the given databases under /usr/bin/time -v;
# prints the wall time in seconds.
pgv_backup() {
  local vault=$1 tf=$2 t0 t1 args=()
  shift 2
  local d
  for d in "$@"; do args+=(--database "$d"); done
  t0=$(now)
  /usr/bin/time -v -o "$tf" "$BIN" backup --vault "$vault" --conninfo "$CONN" --server-name bench --quiet \
    "${args[@]}" "${PGV_EXTRA[@]}" >"$BENCH_WORK/backup.log" 2>&1 \
    || { cat "$BENCH_WORK/backup.log" "$tf" >&2; die "pgvault backup failed"; }
  t1=$(now)
  elapsed "$t0" "$t1"
}
# Bytes the vault keeps for data: chunks/ (and any other data directory a later format
# adds, e.g. for delta bases) = everything except manifests, jobs, audit and control.
pgv_total_bytes() { bytes_of "$1"; }
pgv_chunk_bytes() { if [ -d "$1/chunks" ]; then bytes_of "$1/chunks"; else bytes_of "$1"; fi; }

# --- databases and workloads --------------------------------------------------------------
# Random, incompressible bytes: pgcrypto's gen_random_bytes when available (postgresql-15
# ships contrib), else md5 hex of random() decoded.
bench_random_fn() {
  local db=$1
  if sql "$db" -c "CREATE EXTENSION IF NOT EXISTS pgcrypto" >/dev/null 2>&1; then
    sql "$db" -c "CREATE OR REPLACE FUNCTION bench_random_bytes(n int) RETURNS bytea LANGUAGE sql VOLATILE AS
      \$\$ SELECT string_agg(gen_random_bytes(1024), ''::bytea) FROM generate_series(1, greatest(1, n / 1024)) \$\$"
  else
    sql "$db" -c "CREATE OR REPLACE FUNCTION bench_random_bytes(n int) RETURNS bytea LANGUAGE sql VOLATILE AS
      \$\$ SELECT decode(string_agg(md5(random()::text || clock_timestamp()::text), ''), 'hex') FROM generate_series(1, greatest(1, n / 16)) \$\$"
  fi
}

# make_pgbench_db DB SCALE BYTEA_ROWS: pgbench -i -s SCALE plus table blobs of BYTEA_ROWS
# rows of 2 KB random bytea (default SCALE*850 rows, ~10 % of the database).
make_pgbench_db() {
  local db=$1 scale=$2 rows=${3:-$(($2 * 850))}
  drop_db "$db"
  createdb --maintenance-db="$CONN" "$db"
  log "creating $db: pgbench -i -s $scale + $rows rows of 2 KB random bytea"
  pgbench -i -q -s "$scale" "$(dbconn "$db")" >"$BENCH_WORK/pgbench-$db.log" 2>&1 \
    || { cat "$BENCH_WORK/pgbench-$db.log" >&2; die "pgbench -i failed"; }
  if [ "$rows" -gt 0 ]; then
    bench_random_fn "$db"
    sql "$db" -c "CREATE TABLE blobs (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(), data bytea NOT NULL)" \
      -c "INSERT INTO blobs (data) SELECT bench_random_bytes(2048) FROM generate_series(1, $rows)"
  fi
  sql "$db" -c "VACUUM ANALYZE" -c "CHECKPOINT"
}

# uniform_week DB WEEK [keep|rewrite]: one "week" of uniform churn: of the rows of
# pgbench_accounts and blobs, 2 % updated at random, 1 % inserted (blobs with new random
# payloads), 0.5 % deleted; then VACUUM ANALYZE. Deterministic row choice per week (setseed).
# An updated blob row either keeps its payload and gets a new created_at (keep, the default:
# the row moves in the table and in the dump, its bytes stay; this reproduces the issue's
# reference measurement, `zstd -3 --patch-from` of week 2 against week 1 = 1.3 MB here against
# its 1.4 MB) or gets a new random payload (rewrite: 0.7 MB more incompressible change a week,
# patch-from 2.0 MB).
uniform_week() {
  local db=$1 week=$2 payload=${3:-keep} blob_update
  case $payload in
  keep) blob_update="UPDATE blobs SET created_at = now() WHERE random() < 0.02;" ;;
  rewrite) blob_update="UPDATE blobs SET data = bench_random_bytes(2048) WHERE random() < 0.02;" ;;
  *) die "uniform_week: payload must be keep or rewrite, not $payload" ;;
  esac
  sql "$db" <<EOF
SELECT setseed(${week}::float8 / 1000);
UPDATE pgbench_accounts SET abalance = abalance + (random() * 10000)::int - 5000 WHERE random() < 0.02;
INSERT INTO pgbench_accounts (aid, bid, abalance, filler)
  SELECT m.m + g, 1 + (random() * (b.n - 1))::int, 0, ''
  FROM (SELECT max(aid) AS m, count(*) AS c FROM pgbench_accounts) m,
       (SELECT count(*) AS n FROM pgbench_branches) b,
       generate_series(1, (SELECT count(*) / 100 FROM pgbench_accounts)) g;
DELETE FROM pgbench_accounts WHERE random() < 0.005;
$blob_update
INSERT INTO blobs (data) SELECT bench_random_bytes(2048) FROM generate_series(1, (SELECT count(*) / 100 FROM blobs));
DELETE FROM blobs WHERE random() < 0.005;
VACUUM ANALYZE;
EOF
}

# Append-mostly database: events (EVENTS_ROWS rows, ~170 B each, text partly compressible)
# plus small reference tables users (EVENTS_ROWS/50) and kinds (50).
make_append_db() {
  local db=$1 rows=$2
  drop_db "$db"
  createdb --maintenance-db="$CONN" "$db"
  log "creating $db: events $rows rows + reference tables"
  sql "$db" >/dev/null <<EOF
SELECT setseed(0.5);
CREATE TABLE kinds (id int PRIMARY KEY, name text NOT NULL, description text NOT NULL);
INSERT INTO kinds SELECT g, 'kind-' || g, 'description of event kind ' || g || ' ' || md5(g::text) FROM generate_series(1, 50) g;
CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, email text NOT NULL, plan text NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO users SELECT g, 'user ' || g, 'u' || g || '@example.com', (ARRAY['free','pro','team'])[1 + (random() * 2)::int],
  timestamptz '2020-01-01' + g * interval '1 minute' FROM generate_series(1, greatest(100, $rows / 50)) g;
CREATE TABLE events (id bigserial PRIMARY KEY, at timestamptz NOT NULL, user_id int NOT NULL, kind_id int NOT NULL,
  status text NOT NULL, amount numeric(12,2) NOT NULL, payload text NOT NULL);
INSERT INTO events (at, user_id, kind_id, status, amount, payload)
  SELECT timestamptz '2024-01-01' + g * interval '1 second', 1 + (random() * (greatest(100, $rows / 50) - 1))::int,
         1 + (random() * 49)::int, 'new', round((random() * 1000)::numeric, 2),
         '{"ip":"10.' || (random() * 255)::int || '.' || (random() * 255)::int || '.1","ref":"' || md5(random()::text) || '","agent":"client/' || (random() * 20)::int || '"}'
  FROM generate_series(1, $rows) g;
CREATE INDEX events_at ON events (at);
VACUUM ANALYZE;
CHECKPOINT;
EOF
}

# One "week" of append-mostly churn: events grows by 1 %; updates touch only the newest 2 %
# of events (a quarter of them change status/amount); 0.5 % of users change plan, 0.2 % new
# users; kinds unchanged. Then VACUUM ANALYZE.
append_week() {
  local db=$1 week=$2
  sql "$db" <<EOF
SELECT setseed(${week}::float8 / 1000);
INSERT INTO events (at, user_id, kind_id, status, amount, payload)
  SELECT m.at + g * interval '1 second', 1 + (random() * (m.u - 1))::int, 1 + (random() * 49)::int, 'new',
         round((random() * 1000)::numeric, 2),
         '{"ip":"10.' || (random() * 255)::int || '.' || (random() * 255)::int || '.1","ref":"' || md5(random()::text) || '","agent":"client/' || (random() * 20)::int || '"}'
  FROM (SELECT max(at) AS at, count(*) / 100 AS n, (SELECT count(*) FROM users) AS u FROM events) m,
       generate_series(1, (SELECT count(*) / 100 FROM events)) g;
UPDATE events SET status = (ARRAY['settled','refunded','disputed'])[1 + (random() * 2)::int], amount = amount + 1
  WHERE id > (SELECT max(id) - count(*) / 50 FROM events) AND random() < 0.25;
UPDATE users SET plan = (ARRAY['free','pro','team'])[1 + (random() * 2)::int] WHERE random() < 0.005;
INSERT INTO users SELECT m + g, 'user ' || (m + g), 'u' || (m + g) || '@example.com', 'free', now()
  FROM (SELECT max(id) AS m, count(*) AS c FROM users) x, generate_series(1, greatest(1, (SELECT count(*) / 500 FROM users))) g;
VACUUM ANALYZE;
EOF
}

# --- output -----------------------------------------------------------------------------
# bench_finish TITLE: print the measurement table and the targets with PASS/FAIL, write
# bench/results/<name>-<date>.json; with BENCH_SUMMARY set (run-all) also append there.
bench_finish() {
  local title=$1 commit
  commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  git diff --quiet HEAD 2>/dev/null || commit="$commit-dirty"
  mkdir -p bench/results
  local out="bench/results/$BENCH_NAME-$BENCH_RUN_DATE.json"
  BENCH_TITLE=$title BENCH_COMMIT=$commit BENCH_PG="$(pg_dump --version)" python3 - "$BENCH_RES" "$out" "${BENCH_SUMMARY:-}" <<'EOF'
import json, os, sys, platform
res, out, summary = sys.argv[1], sys.argv[2], sys.argv[3]
def val(s):
    if s in ("", "null"): return None
    try: return int(s)
    except ValueError: pass
    try: return float(s)
    except ValueError: return s
doc = {}
flat, targets, notes = [], [], []
def put(key, v):
    d = doc
    parts = key.split(".")
    for p in parts[:-1]: d = d.setdefault(p, {})
    d[parts[-1]] = v
for line in open(res):
    f = line.rstrip("\n").split("\t")
    if f[0] == "v": put(f[1], val(f[2])); flat.append((f[1], val(f[2])))
    elif f[0] == "l": put(f[1], [val(x) for x in f[2].split(",") if x != ""])
    elif f[0] == "n": notes.append(f[1])
    elif f[0] == "t":
        tid, what, v, op, lim = f[1:6]
        v = val(v); lim = val(lim)
        if v is None or isinstance(v, str): verdict = "n/a"
        else: verdict = "PASS" if (v <= lim if op == "<=" else v < lim) else "FAIL"
        targets.append({"id": tid, "what": what, "value": v, "op": op, "limit": lim, "result": verdict})
cpu = "unknown"
try:
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"): cpu = l.split(":", 1)[1].strip(); break
except OSError: pass
mem = 0
for l in open("/proc/meminfo"):
    if l.startswith("MemTotal"): mem = int(l.split()[1]); break
full = {
    "benchmark": os.environ["BENCH_NAME"], "title": os.environ["BENCH_TITLE"],
    "date": os.environ["BENCH_RUN_DATE"], "commit": os.environ["BENCH_COMMIT"],
    "machine": {"hostname": platform.node(), "cpus": os.cpu_count(), "cpu": cpu, "mem_kb": mem, "kernel": platform.release()},
    "postgres": os.environ["BENCH_PG"],
    "config": {k: os.environ.get(k) for k in ("SCALE", "SCALE_CHURN", "EVENTS_ROWS", "WEEKS", "SCALE_BIG", "SCALE6", "P7_POINTS", "REPS", "PGVAULT_BACKUP_ARGS", "PGVAULT_INIT_ARGS")},
    "results": doc, "targets": targets, "notes": notes,
}
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w") as fh: json.dump(full, fh, indent=2); fh.write("\n")
def fmt(v):
    if v is None: return "-"
    if isinstance(v, float): return f"{v:.3f}"
    return str(v)
print()
print(f"== {os.environ['BENCH_TITLE']}  (median of {os.environ.get('REPS')} repetition(s))")
w = max([len(k) for k, _ in flat] + [20])
for k, v in flat: print(f"  {k:<{w}}  {fmt(v):>16}")
for n in notes: print(f"  note: {n}")
if targets:
    print()
    print(f"  {'target':<6} {'what':<58} {'value':>10} {'limit':>9}  result")
    for t in targets:
        print(f"  {t['id']:<6} {t['what']:<58} {fmt(t['value']):>10} {t['op']+' '+fmt(t['limit']):>9}  {t['result']}")
print(f"  wrote {out}")
if summary:
    with open(summary, "a") as fh:
        fh.write(json.dumps({"benchmark": os.environ["BENCH_NAME"], "file": out, "targets": targets, "notes": notes}) + "\n")
EOF
}
