#!/usr/bin/env bash
# Fuzzes the op-delta engine (codec 4) with libFuzzer under AddressSanitizer and
# UndefinedBehaviorSanitizer: scripts/fuzz-delta.sh [SECONDS, default 60]. On demand, not in CI.
# Uses the clang of the Swift toolchain (it has the fuzzer runtime); exits non-zero on a finding
# (the crashing input is left in the current directory as crash-*).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
clang=${CLANG:-/opt/swift/usr/bin/clang}
out=$(mktemp -d "${TMPDIR:-/tmp}/pgvault-fuzz.XXXXXX")
trap 'rm -rf "$out"' EXIT
"$clang" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$root/Sources/CSystemShims/include" "$root/scripts/fuzz/delta_fuzz.c" "$root/Sources/CSystemShims/delta.c" \
  -o "$out/delta_fuzz" 2>/dev/null
mkdir "$out/corpus"
"$out/delta_fuzz" -max_total_time="${1:-60}" -max_len=8192 "$out/corpus" 2>&1 | tail -3
