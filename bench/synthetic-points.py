#!/usr/bin/env python3
"""Fill a pgvault vault with synthetic recovery points for the P7 benchmark (issue 7).

    bench/synthetic-points.py VAULT COUNT [--template POINT_ID] [--step-hours H]

Takes one real manifest of VAULT (the newest, or --template) and writes COUNT more
`points/<id>.json` files with the same structure: the same databases, files and chunk
lists (so every synthetic point is restorable and deduplicates to the same chunks), but
new ids (`YYYYMMDDTHHMMSSZ-xxxxxxxx`), jobIds and times: the k-th synthetic point starts
k * H hours (default 1) before the template, so the points span the years before it.
Every timestamp of the manifest (startedAt, finishedAt, databases[].startedAt/finishedAt,
retainUntil) moves by the same amount. Files are written create-only via a `.tmp-` name
and made 0400 as pgvault does, the directory stays 0700; keys are sorted and the
serialisation (compact or indented) follows the template's bytes.

Only manifests are written: no job records, audit records or state. pgvault's own readers
treat a manifest as the point (vault/FORMAT.md); a catalog index that is rebuilt from the
vault has to be rebuilt afterwards (bench/p7-points.sh runs $P7_REBUILD_CMD if set).
"""
import argparse
import datetime as dt
import json
import os
import secrets
import subprocess
import sys

FMT = "%Y-%m-%dT%H:%M:%S"
COMPRESSED = b"pgvault-manifest+zstd\n"


def parse_ts(s):
    # RFC 3339 UTC with milliseconds: 2026-11-25T17:34:02.131Z
    base, _, frac = s.rstrip("Z").partition(".")
    t = dt.datetime.strptime(base, FMT).replace(tzinfo=dt.timezone.utc)
    if frac:
        t += dt.timedelta(microseconds=int(frac.ljust(6, "0")[:6]))
    return t


def fmt_ts(t):
    return t.strftime(FMT) + ".%03dZ" % (t.microsecond // 1000)


def shift(obj, delta):
    """Moves every RFC 3339 timestamp string in obj by delta (in place for dicts/lists)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, str) and k.endswith(("At", "Until")) and len(v) >= 20 and v.endswith("Z"):
                try:
                    obj[k] = fmt_ts(parse_ts(v) + delta)
                except ValueError:
                    pass
            else:
                shift(v, delta)
    elif isinstance(obj, list):
        for v in obj:
            shift(v, delta)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vault")
    ap.add_argument("count", type=int)
    ap.add_argument("--template")
    ap.add_argument("--step-hours", type=float, default=1.0)
    a = ap.parse_args()

    pdir = os.path.join(a.vault, "points")
    names = sorted(n for n in os.listdir(pdir) if n.endswith(".json") and not n.startswith(".tmp-"))
    if not names:
        sys.exit("synthetic-points: no manifest in %s: make one real backup first" % pdir)
    tname = (a.template + ".json") if a.template else names[-1]
    raw = open(os.path.join(pdir, tname), "rb").read()
    if raw.startswith(COMPRESSED):
        # A format-3 vault stores manifests as a marker line plus a zstd frame (vault/FORMAT.md
        # § Manifests, Stored form). The synthetic ones are written as plain JSON, which
        # readers accept in every vault format: one zstd process per manifest would make
        # writing 100,000 of them take minutes, and listings read the catalog, not them.
        raw = subprocess.run(["zstd", "-q", "-d", "-c"], input=raw[len(COMPRESSED):],
                             stdout=subprocess.PIPE, check=True).stdout
    template = json.loads(raw)
    indent = 2 if b"\n  " in raw else None
    seps = (",", ": ") if indent else (",", ":")
    trailing_newline = raw.endswith(b"\n")
    t0 = parse_ts(template["startedAt"])
    existing = set(n[:-5] for n in names)

    written = 0
    k = 0
    while written < a.count:
        k += 1
        delta = -dt.timedelta(hours=a.step_hours * k)
        m = json.loads(raw)
        shift(m, delta)
        start = t0 + delta
        stamp = start.strftime("%Y%m%dT%H%M%SZ")
        pid = "%s-%s" % (stamp, secrets.token_hex(4))
        if pid in existing:
            continue
        existing.add(pid)
        m["id"] = pid
        if "jobId" in m:
            m["jobId"] = "backup-%s-%s" % (stamp, secrets.token_hex(4))
        data = json.dumps(m, sort_keys=True, indent=indent, separators=seps, ensure_ascii=False).encode()
        if trailing_newline:
            data += b"\n"
        tmp = os.path.join(pdir, ".tmp-" + secrets.token_hex(8))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o400)
        os.link(tmp, os.path.join(pdir, pid + ".json"))
        os.unlink(tmp)
        written += 1
        if written % 10000 == 0:
            print("synthetic-points: %d/%d" % (written, a.count), file=sys.stderr)
    os.chmod(pdir, 0o700)
    print(json.dumps({"template": tname[:-5], "written": written, "oldest": pid}))


if __name__ == "__main__":
    main()
