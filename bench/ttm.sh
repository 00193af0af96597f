#!/usr/bin/env bash
# TTM-r2 512-96 training and inference, tsfm against PyTorch + granite-tsfm, side by side:
#
#   bench/ttm.sh [ROUNDS]            (default 3)
#
# Per round, one process per measurement (bench/python/measure.py), interleaved so both sides
# see the same machine: PyTorch's plain training loop (../shared/reference/scripts/bench.py
# train_plain, torch 2 threads) and the same model through HF `Trainer` (bench.py train_hf: the
# median step after 5 warm-up steps of 50), tsfm's (`cargo bench -p tsfm-train --bench ttm_r2 -- train`)
# unsharded and with the batch in 2 shards on 2 threads (`training.batch_shards: 2`), then
# inference: bench.py `infer ttm` and tsfm on 1 and 2 threads. Batch 64, context 512, horizon
# 96, random-init real-size TTM-r2 (805,280 parameters). Prints the table of medians and
# ratios and keeps the rows in bench/results/ttm-DATE.jsonl.
#
# Python: TSFM_BENCH_PYTHON (default /work/venv/bin/python) needs torch and granite-tsfm
# (`pip install -r ../shared/reference/scripts/requirements-lock.txt` in a venv outside the
# repo). bench.py writes its own results next to itself, so it runs from a scratch copy.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
py="${TSFM_BENCH_PYTHON:-/work/venv/bin/python}"
reference="${TSFM_BENCH_REFERENCE:-../shared/reference}"
out="${TSFM_BENCH_OUT:-bench/results/ttm-$(date -u +%Y%m%d-%H%M%S).jsonl}"
mkdir -p "$(dirname "$out")"
export TSFM_TTM_R2_DIR="${TSFM_TTM_R2_DIR:-$reference/models/ttm-r2-512-96}"
# bench.py waits up to 15 min for an idle machine by default; interleaving already shares load.
export BENCH_MAX_WAIT="${BENCH_MAX_WAIT:-60}"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp -r "$reference/scripts" "$scratch/scripts"
ln -s "$(cd "$reference/models" && pwd)" "$scratch/models"

bin="$(bench/bench_bin.sh tsfm-train ttm_r2)"

echo "rows -> $out; machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
measure() { python3 bench/python/measure.py --round "$round" --out "$out" "$@"; }
for round in $(seq 1 "$rounds"); do
  echo "round $round/$rounds" >&2
  measure --side pytorch --model train -- "$py" "$scratch/scripts/bench.py" train_plain
  measure --side pytorch-hf-trainer --model train -- "$py" "$scratch/scripts/bench.py" train_hf
  measure --side tsfm --model train -- env TSFM_BENCH_SHARDS=1 "$bin" train
  measure --side tsfm-2-shards --model train -- env TSFM_BENCH_SHARDS=2 "$bin" train
  measure --side pytorch --model infer -- "$py" "$scratch/scripts/bench.py" infer ttm
  measure --side tsfm --model infer -- env TSFM_NUM_THREADS=1 "$bin" infer
  measure --side tsfm-2-threads --model infer -- env TSFM_NUM_THREADS=2 "$bin" infer
done
python3 bench/python/ttm_table.py "$out"
