#!/usr/bin/env python3
"""Write one large synthetic recovery point for the P8 benchmark (bench/p8-large-manifest.sh).

    bench/synthetic-chunks.py VAULT CHUNKS DEPTH

Takes the newest manifest of VAULT and writes a copy of it one day later (new id, times moved
by a day) whose dump file lists CHUNKS chunks: random 64-hex ids, each chunk a delta with a
base and a chain of DEPTH-1 further random ids, a 16-byte head, an 8-value sketch and a cut,
sizes around 1.6 MB (so the file claims the size of a ~1 TiB dump). The chunk objects do not
exist: the point is for measuring what reading its manifest costs, not for restoring. Written
as pgvault writes manifests of format 3+ (`pgvault-manifest+zstd` and one zstd frame with its
content size), create-only via a temporary name, mode 0400. Prints the new point's id.
"""
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
    chunks = []
    for _ in range(n):
        c = {"id": hexd(64), "size": 1_400_000 + rnd.randrange(400_000), "head": hexd(32), "sketch": hexd(128), "cut": hexd(11)}
        if depth > 0:
            c["base"] = hexd(64)
        if depth > 1:
            c["chain"] = [hexd(64) for _ in range(depth - 1)]
        chunks.append(c)
    for f in m["files"]:
        if f["kind"] == "dump":
            f["chunks"] = chunks
            f["size"] = sum(c["size"] for c in chunks)
    start = shift(m["startedAt"], 1)
    m["id"] = start[:19].replace("-", "").replace(":", "") + "Z-" + secrets.token_hex(4)
    for k in ("startedAt", "finishedAt", "retainUntil"):
        if m.get(k):
            m[k] = shift(m[k], 1)
    for d in m.get("databases", []):
        for k in ("startedAt", "finishedAt"):
            if d.get(k):
                d[k] = shift(d[k], 1)
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
