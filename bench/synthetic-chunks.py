#!/usr/bin/env python3
"""Write one large synthetic recovery point for the P8 benchmark (bench/p8-large-manifest.sh).

    bench/synthetic-chunks.py VAULT CHUNKS DEPTH [restorable]

Takes the newest manifest of VAULT and writes a copy of it one day later (new id, times moved
by a day) whose dump file lists CHUNKS chunks: random 64-hex ids, each chunk a delta with a
base and a chain of DEPTH-1 further random ids, a 16-byte head, an 8-value sketch and a cut,
sizes around 1.6 MB (so the file claims the size of a ~1 TiB dump). The chunk objects do not
exist: the point is for measuring what reading its manifest costs, not for restoring. Written
as pgvault writes manifests of format 3+ (`pgvault-manifest+zstd` and one zstd frame with its
content size), create-only via a temporary name, mode 0400. Prints the new point's id.

With `restorable`, the point is one day older than the newest (no backup takes its delta
bases from it) and every entry names one and the same real chunk instead: 64 bytes stored as
is (codec 0, written here if missing), so the dump file is CHUNKS x 64 bytes (41 MB for
650,000) and restore and verify of the point read it back whole; each entry keeps its
random head, sketch and cut, and a chain as deep that names the same chunk (a full chunk's
chain is not read on restore; copy finds every link), so the list costs what a real one of
that length costs to decode.
"""
import hashlib
import datetime as dt
import json
import os
import random
import secrets
import subprocess
import sys

COMPRESSED = b"pgvault-manifest+zstd\n"


def load(path):
    raw = open(path, "rb").read()
    if raw.startswith(COMPRESSED):
        raw = subprocess.run(["zstd", "-q", "-d", "-c"], input=raw[len(COMPRESSED):], capture_output=True, check=True).stdout
    return json.loads(raw)


def shift(ts, days):
    t = dt.datetime.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S") + dt.timedelta(days=days)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ts[19:]


def main():
    vault, n, depth = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    points = os.path.join(vault, "points")
    newest = sorted(f for f in os.listdir(points) if f.endswith(".json"))[-1]
    m = load(os.path.join(points, newest))
    rnd = random.Random(7)
    hexd = lambda k: "%0*x" % (k, rnd.getrandbits(4 * k))
    restorable = len(sys.argv) > 4 and sys.argv[4] == "restorable"
    if restorable:
        plain = bytes(range(64))
        same = hashlib.sha256(plain).hexdigest()
        obj = os.path.join(vault, "chunks", same[:2], same)
        if not os.path.exists(obj):
            os.makedirs(os.path.dirname(obj), mode=0o700, exist_ok=True)
            with open(obj, "wb") as out:
                out.write(b"PGVC" + bytes([1, 0, 0, 0]) + len(plain).to_bytes(4, "little") + plain)
            os.chmod(obj, 0o400)
    chunks = []
    for _ in range(n):
        c = {"id": hexd(64), "size": 1_400_000 + rnd.randrange(400_000), "head": hexd(32), "sketch": hexd(128), "cut": hexd(11)}
        if depth > 0:
            c["base"] = hexd(64)
        if depth > 1:
            c["chain"] = [hexd(64) for _ in range(depth - 1)]
        if restorable:
            c["id"], c["size"] = same, len(plain)
            if "base" in c:
                c["base"] = same
            if "chain" in c:
                c["chain"] = [same] * len(c["chain"])
        chunks.append(c)
    for f in m["files"]:
        if f["kind"] == "dump":
            f["chunks"] = chunks
            f["size"] = sum(c["size"] for c in chunks)
            if restorable:
                f["sha256"] = hashlib.sha256(plain * n).hexdigest()
    days = -1 if restorable else 1   # a restorable point is older than the template: never a backup's delta base
    start = shift(m["startedAt"], days)
    m["id"] = start[:19].replace("-", "").replace(":", "") + "Z-" + secrets.token_hex(4)
    for k in ("startedAt", "finishedAt", "retainUntil"):
        if m.get(k):
            m[k] = shift(m[k], days)
    for d in m.get("databases", []):
        for k in ("startedAt", "finishedAt"):
            if d.get(k):
                d[k] = shift(d[k], days)
    js = json.dumps(m, indent=2, sort_keys=True).encode()
    # From a pipe, zstd writes the content size (which readers need) only when told it.
    frame = subprocess.run(["zstd", "-q", "-3", "-c", "--content-size", "--stream-size=%d" % len(js)],
                           input=js, capture_output=True, check=True).stdout
    tmp = os.path.join(points, ".tmp-" + secrets.token_hex(8))
    final = os.path.join(points, m["id"] + ".json")
    with open(tmp, "wb") as out:
        out.write(COMPRESSED + frame)
    os.chmod(tmp, 0o400)
    os.link(tmp, final)
    os.unlink(tmp)
    print(m["id"])


if __name__ == "__main__":
    main()
