#!/usr/bin/env bash
# The performance benchmark suite of issue 7, all in one run (never in CI):
# installs what it needs, builds pgvault once, starts one throwaway PostgreSQL 15 and runs
#   P1/P2 bench/p1-first-backup.sh   P3 bench/p3-churn.sh   P5 bench/p5-restore.sh
#   P6    bench/p6-jobs.sh           P7 bench/p7-points.sh  P4 bench/p4-memory.sh
# against it (P5 restores the newest point of P3's uniform vault), then prints every target
# with the measured value and PASS/FAIL and writes bench/results/all-<date>.json (each
# script also writes its own bench/results/<name>-<date>.json).
#
#   bench/run-all.sh                                  # full run: ~17 min on 2 cores, ~30 GB of BENCH_TMP
#   SCALE=2 SCALE_CHURN=2 EVENTS_ROWS=50000 WEEKS=3 SCALE_BIG=5 SCALE6=1 P7_POINTS=2000 \
#     REPS=1 P4_MIN_FREE_GB=1 bench/run-all.sh        # smoke run, a few minutes
#   ONLY="p1 p7" bench/run-all.sh                     # a subset
# Knobs: see bench/lib.sh and bench/README.md.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init all
ONLY=${ONLY:-p1 p3 p5 p6 p7 p4}

export BENCH_CONN=$CONN BENCH_SHARED_WORK=$BENCH_WORK PGVAULT_BIN=$BIN BENCH_RUN_DATE BENCH_DEPS_DONE=1
export BENCH_SUMMARY="$BENCH_WORK/summary.jsonl"
: >"$BENCH_SUMMARY"

declare -A script=([p1]=p1-first-backup.sh [p3]=p3-churn.sh [p4]=p4-memory.sh [p5]=p5-restore.sh
  [p6]=p6-jobs.sh [p7]=p7-points.sh)
failed=()
t_start=$(now)
for p in $ONLY; do
  [ -n "${script[$p]:-}" ] || die "unknown benchmark $p (one of ${!script[*]})"
  log "=== $p: bench/${script[$p]}"
  t0=$(now)
  if ! (unset BENCH_NAME; bash "bench/${script[$p]}"); then
    failed+=("$p")
    log "$p FAILED; continuing"
    printf '{"benchmark": "%s", "file": null, "failed": true, "targets": [], "notes": ["script failed"]}\n' "$p" >>"$BENCH_SUMMARY"
  fi
  log "=== $p done in $(elapsed "$t0" "$(now)") s"
done
total=$(elapsed "$t_start" "$(now)")

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit-dirty"
out="bench/results/all-$BENCH_RUN_DATE.json"
BENCH_COMMIT=$commit BENCH_TOTAL=$total python3 - "$BENCH_SUMMARY" "$out" <<'EOF'
import json, os, platform, sys
summary, out = sys.argv[1], sys.argv[2]
parts = [json.loads(l) for l in open(summary) if l.strip()]
cpu = "unknown"
for l in open("/proc/cpuinfo"):
    if l.startswith("model name"): cpu = l.split(":", 1)[1].strip(); break
mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
doc = {"benchmark": "all", "date": os.environ["BENCH_RUN_DATE"], "commit": os.environ["BENCH_COMMIT"],
       "seconds_total": float(os.environ["BENCH_TOTAL"]),
       "machine": {"hostname": platform.node(), "cpus": os.cpu_count(), "cpu": cpu, "mem_kb": mem, "kernel": platform.release()},
       "config": {k: os.environ.get(k) for k in ("SCALE", "SCALE_CHURN", "EVENTS_ROWS", "WEEKS", "SCALE_BIG", "SCALE6", "P7_POINTS", "REPS", "PGVAULT_BACKUP_ARGS")},
       "targets": [], "benchmarks": {}}
for p in parts:
    doc["targets"] += p["targets"]
    body = json.load(open(p["file"])) if p.get("file") else {"failed": True}
    doc["benchmarks"][p["benchmark"]] = body
with open(out, "w") as fh: json.dump(doc, fh, indent=2); fh.write("\n")
def fmt(v):
    if v is None: return "-"
    if isinstance(v, float): return f"{v:.3f}"
    return str(v)
c = doc["config"]
print()
print(f"== pgvault performance suite (issue 7), {doc['date']}, commit {doc['commit']}, {cpu}, {os.cpu_count()} cpus, {mem // 1048576} GiB")
print(f"   SCALE={c['SCALE']} SCALE_CHURN={c['SCALE_CHURN']} EVENTS_ROWS={c['EVENTS_ROWS']} WEEKS={c['WEEKS']} SCALE_BIG={c['SCALE_BIG']} SCALE6={c['SCALE6']} P7_POINTS={c['P7_POINTS']} REPS={c['REPS']}, {doc['seconds_total']:.0f} s in all")
print(f"  {'target':<6} {'what':<58} {'value':>10} {'limit':>9}  result")
for t in doc["targets"]:
    print(f"  {t['id']:<6} {t['what']:<58} {fmt(t['value']):>10} {t['op']+' '+fmt(t['limit']):>9}  {t['result']}")
for p in parts:
    for n in p.get("notes", []): print(f"  note ({p['benchmark']}): {n}")
n = {r: sum(1 for t in doc["targets"] if t["result"] == r) for r in ("PASS", "FAIL", "n/a")}
print(f"  {n['PASS']} PASS, {n['FAIL']} FAIL, {n['n/a']} n/a")
print(f"  wrote {out}")
EOF
[ ${#failed[@]} -eq 0 ] || die "benchmarks failed: ${failed[*]}"
