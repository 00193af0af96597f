#!/usr/bin/env bash
# The path of a cargo bench binary, built now if it is stale (before anything is timed):
#
#   bench/bench_bin.sh PACKAGE BENCH        e.g. bench/bench_bin.sh tsfm-models forecast
#
# Prints the executable cargo reports for bench target BENCH of PACKAGE; exits 1 if none.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(cargo bench -q --locked -p "$1" --bench "$2" --no-run --message-format=json |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]:
        print(m["executable"])' "$2")"
[ -n "$bin" ] || { echo "could not build: cargo bench -p $1 --bench $2 --no-run" >&2; exit 1; }
echo "$bin"
