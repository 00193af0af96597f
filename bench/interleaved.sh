#!/usr/bin/env bash
# The interleaved side-by-side run every family's benchmark script shares (bench/timesfm.sh,
# bench/chronos2.sh say what they measure and which variables they read):
#
#   bench/interleaved.sh FAMILY "DEFAULT MODELS" [ROUNDS]
#
# Each round runs, for every model, the official package (bench/python/bench_FAMILY.py) and
# then tsfm (and an optional variant), one process per measurement through measure.py, so both
# sides see the same machine load; then a table of medians and the ratios. TSFM_BENCH_OUT
# names the JSONL file the rows go to.
set -euo pipefail
cd "$(dirname "$0")/.."
family="$1"
models="${MODELS:-$2}"
rounds="${3:-3}"
py="${TSFM_BENCH_PYTHON:-/work/venv/bin/python}"
models_dir="${TSFM_BENCH_MODELS:-/work/bench-models/models}"
out="${TSFM_BENCH_OUT:?the caller names the output file}"
mkdir -p "$(dirname "$out")"
export OMP_NUM_THREADS="${BENCH_THREADS:-2}"

if [ -z "${TSFM_BENCH_RUST_CMD+set}" ]; then
  # The bench binary of this checkout (built now if it is stale, before anything is timed).
  TSFM_BENCH_RUST_CMD="$(bench/bench_bin.sh tsfm-models forecast)"
fi
if [ -z "$TSFM_BENCH_RUST_CMD" ]; then
  echo "TSFM_BENCH_RUST_CMD empty: Python side only" >&2
fi
echo "rows -> $out; load now: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores" >&2
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores," \
  "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)," \
  "$(grep -o -m1 -w -E 'avx512f|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')" >&2
echo "rust: ${TSFM_BENCH_RUST_CMD:-none}" >&2
for round in $(seq 1 "$rounds"); do
  for model in $models; do
    python3 bench/python/measure.py --side python --model "$model" --round "$round" --out "$out" -- \
      "$py" "bench/python/bench_$family.py" infer "$model" --models "$models_dir"
    if [ -n "$TSFM_BENCH_RUST_CMD" ]; then
      # shellcheck disable=SC2086  # the command is a word list on purpose
      python3 bench/python/measure.py --side rust --model "$model" --round "$round" --out "$out" -- \
        $TSFM_BENCH_RUST_CMD infer "$model" --models "$models_dir"
    fi
    if [ -n "${TSFM_BENCH_VARIANT_CMD:-}" ]; then
      # shellcheck disable=SC2086
      python3 bench/python/measure.py --side "${TSFM_BENCH_VARIANT:-rust-variant}" --model "$model" \
        --round "$round" --out "$out" -- $TSFM_BENCH_VARIANT_CMD infer "$model" --models "$models_dir"
    fi
  done
done
python3 bench/python/summarize.py "$out"
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(model, side, key):
    v = [r[key] for r in rows if r["model"] == model and r["side"] == side and "error" not in r
         and isinstance(r.get(key), (int, float))]
    return statistics.median(v) if v else None
for model in sorted({r["model"] for r in rows}):
    py, pc = med(model, "python", "samples_per_s"), med(model, "python", "median_cpu_s_per_call")
    for side in sorted({r["side"] for r in rows if r["side"] != "python"}):
        rs, rc = med(model, side, "samples_per_s"), med(model, side, "median_cpu_s_per_call")
        if py and rs:
            line = f"ratio {model}: {side} / official = {rs / py:.2f}x samples/s"
            if pc and rc:
                line += f", {pc / rc:.2f}x less CPU time per call"
            print(line)
PY
