#!/usr/bin/env bash
# TimesFM 2.5 inference benchmark: the official `timesfm` package next to tsfm, interleaved.
#
#   bench/timesfm.sh [ROUNDS]        (default 3 rounds)
#
# Each round runs, for every model in $MODELS (default "timesfm timesfm-raw"), the Python side
# (bench/python/bench_timesfm.py infer MODEL) and then the Rust side, one process per
# measurement, so both see the same machine load; then prints a table of medians
# (bench/python/summarize.py) and the tsfm / official ratios.
#   timesfm      the official API: compile(ForecastConfig(max_context=512, max_horizon=128,
#                per_core_batch_size=64, all five flags on)) + forecast(64, ...): flip invariance
#                => two decode passes (x and -x); tsfm: Forecaster::forecast_with, same settings
#   timesfm-raw  one module.decode(64, ...) (one prefill forward, no flip pass); tsfm:
#                TimesFmModel::decode(64, ..., false)
# Workload: batch 64 random walks, context 512, horizon 64, CPU, float32, the real-size
# TimesFM-2.5-200m architecture with random weights (RMSNorm scales set to 1).
#
# The model: DIR/timesfm-2.5-200m (config.json with a `definition` block + model.safetensors).
# Build it once with shared/reference/scripts/build_models.py run from a writable copy of the
# scripts folder with common.MODELS_DIR pointed at DIR, and every `*ln.scale` parameter set to
# 1.0 before saving (the official init leaves them at 0, which makes every layer's output 0):
#   cp -r shared/reference/scripts /tmp/tfm && cd /tmp/tfm && /work/venv/bin/python - <<'PY'
#   import torch, common as C, build_models as B
#   C.MODELS_DIR = "/work/bench-models/models"
#   def real():
#       torch.manual_seed(0); m = C.build_timesfm()
#       with torch.no_grad():
#           for n, p in m.named_parameters():
#               if n.endswith("ln.scale"): p.add_(1.0)
#       return m, lambda mod, out: B.save_timesfm(mod, mod.config, out)
#   B.BUILDERS["timesfm-2.5-200m"] = real; B.main(["timesfm-2.5-200m"])
#   PY
#
# Environment:
#   TSFM_BENCH_PYTHON    Python with timesfm 3.0.2 + torch (default /work/venv/bin/python)
#   TSFM_BENCH_MODELS    folder with timesfm-2.5-200m/ (default /work/bench-models/models)
#   TSFM_BENCH_OUT       JSONL file the rows are appended to (default bench/results/timesfm-<time>.jsonl)
#   TSFM_BENCH_RUST_CMD  the Rust command, run as: $TSFM_BENCH_RUST_CMD infer MODEL --models DIR
#                        (default: the binary `cargo bench -p tsfm-models --bench forecast
#                        --no-run` reports, built before any timing). Set it empty for
#                        Python only.
#   TSFM_BENCH_VARIANT_CMD  optional second Rust command (e.g. a build with other features),
#                        run after the first in every round and recorded as side
#                        $TSFM_BENCH_VARIANT (default "rust-variant")
#   MODELS               models to run
#   BENCH_THREADS        torch threads of the Python side (default 2)
#   TSFM_NUM_THREADS     threads of tsfm's TimesFM decode (default: all cores)
set -euo pipefail
cd "$(dirname "$0")/.."
export TSFM_BENCH_OUT="${TSFM_BENCH_OUT:-bench/results/timesfm-$(date +%Y%m%d-%H%M%S).jsonl}"
exec bench/interleaved.sh timesfm "timesfm timesfm-raw" "${1:-3}"
