#!/usr/bin/env bash
# Chronos inference benchmark: the official Python package next to tsfm, interleaved.
#
#   bench/chronos.sh [ROUNDS]        (default 3 rounds)
#
# Each round runs, for every model in $MODELS (default "bolt-tiny bolt-small t5-tiny"), the Python
# side (bench/python/bench_chronos.py infer MODEL) and then the Rust side, one process per
# measurement, so Python and Rust see the same machine load; then prints a table of medians.
# Workload: batch 64 random walks, context 512, horizon 64, CPU (T5: 20 samples).
#
# Environment:
#   TSFM_BENCH_PYTHON   Python with chronos-forecasting 2.3.2 (default /work/venv/bin/python)
#   TSFM_BENCH_MODELS   folder with chronos-bolt-tiny/, chronos-bolt-small/, chronos-t5-tiny/
#                       (default /work/bench-models/models; build them with
#                       shared/reference/scripts/build_models.py, see tools/reference/README.md)
#   TSFM_BENCH_OUT      JSONL file the rows are appended to (default bench/results/chronos-<time>.jsonl)
#   MODELS              models to run
#   BENCH_THREADS       torch threads of the Python side (default 2)
#
# ---- Rust hook ------------------------------------------------------------------------------
#   TSFM_BENCH_RUST_CMD  the Rust command, run as: $TSFM_BENCH_RUST_CMD infer MODEL --models DIR
#                        It must print (last line of stdout) one JSON object with at least
#                        "samples_per_s" (64 / median seconds per forecast call), and should add
#                        "min_call_s", "median_cpu_s_per_call", "peak_rss_mb" and "loadavg_1m_before"
#                        like the Python side.  For example (once the coordinator adds it):
#                          TSFM_BENCH_RUST_CMD="cargo run -q --release -p tsfm-cli --bin tsfm-bench --"
#                        Build it before running this script so compile time is not measured.
#                        Unset: only the Python side runs (the table says so).
# ---------------------------------------------------------------------------------------------
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
py="${TSFM_BENCH_PYTHON:-/work/venv/bin/python}"
models_dir="${TSFM_BENCH_MODELS:-/work/bench-models/models}"
models="${MODELS:-bolt-tiny bolt-small t5-tiny}"
out="${TSFM_BENCH_OUT:-bench/results/chronos-$(date +%Y%m%d-%H%M%S).jsonl}"
mkdir -p "$(dirname "$out")"
export OMP_NUM_THREADS="${BENCH_THREADS:-2}"

if [ -z "${TSFM_BENCH_RUST_CMD:-}" ]; then
  echo "TSFM_BENCH_RUST_CMD unset: Python side only" >&2
fi
echo "rows -> $out; load now: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores" >&2
for round in $(seq 1 "$rounds"); do
  for model in $models; do
    python3 bench/python/measure.py --side python --model "$model" --round "$round" --out "$out" -- \
      "$py" bench/python/bench_chronos.py infer "$model" --models "$models_dir"
    if [ -n "${TSFM_BENCH_RUST_CMD:-}" ]; then
      # shellcheck disable=SC2086  # the command is a word list on purpose
      python3 bench/python/measure.py --side rust --model "$model" --round "$round" --out "$out" -- \
        $TSFM_BENCH_RUST_CMD infer "$model" --models "$models_dir"
    fi
  done
done
python3 bench/python/summarize.py "$out"
