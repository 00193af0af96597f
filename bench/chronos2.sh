#!/usr/bin/env bash
# Chronos-2 inference benchmark: the official chronos-forecasting 2.3.2 pipeline next to tsfm,
# interleaved.
#
#   bench/chronos2.sh [ROUNDS]        (default 3 rounds)
#
# Each round runs, for every model in $MODELS (default "chronos2 chronos2-cov"), the Python side
# (bench/python/bench_chronos2.py infer MODEL) and then the Rust side, one process per
# measurement, so both see the same machine load; then prints a table of medians
# (bench/python/summarize.py), the tsfm / official ratios, and checks that both sides
# forecast the same values (`check_median`: the first series' median at 5 steps, relative
# difference <= 1e-3; exit status 1 if not).
#   chronos2      64 univariate series: Chronos2Pipeline.predict(64 tensors, prediction_length=64,
#                 batch_size=64); tsfm: Chronos2Model::predict (each row its own group)
#   chronos2-cov  64 series, each with 2 covariates (`a` past-only, `b` known-future): dict
#                 inputs, 3 rows per group, 192 rows, batch_size=192; tsfm:
#                 Chronos2Model::predict_with_future with group ids, future values NaN except on
#                 the known-future row
# Either way one model forward per predict (horizon 64 = 4 output patches). Inputs: the same
# SplitMix64 random walks on both sides (context 512), CPU, float32.
#
# The model: DIR/chronos2-120m, the released amazon/chronos-2 architecture (d_model 768, d_kv 64,
# 12 heads, d_ff 3072, 12 layers, patch 16, max_output_patches 64, 21 quantiles, arcsinh, [REG];
# 119,477,664 parameters) with random weights (the Mesh-TensorFlow init of
# shared/reference/scripts/common.py), saved by the package's save_pretrained:
#   cp -r shared/reference/scripts /tmp/c2 && cd /tmp/c2 && /work/venv/bin/python - <<'PY'
#   import torch, common as C
#   core = dict(C.CHRONOS2_FIXTURE_CORE, d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12)
#   cfg = dict(C.CHRONOS2_FIXTURE_CONFIG, context_length=8192, max_output_patches=64,
#              quantiles=[0.01, 0.05] + [round(0.1 + 0.05 * i, 2) for i in range(17)] + [0.95, 0.99])
#   torch.manual_seed(0); m = C.build_chronos2(core, cfg); C.chronos2_init_weights(m)
#   m.eval().save_pretrained("/work/bench-models/models/chronos2-120m")
#   PY
#
# Environment:
#   TSFM_BENCH_PYTHON    Python with chronos-forecasting 2.3.2 + torch (default /work/venv/bin/python)
#   TSFM_BENCH_MODELS    folder with chronos2-120m/ (default /work/bench-models/models)
#   TSFM_BENCH_OUT       JSONL file the rows are appended to (default bench/results/chronos2-<time>.jsonl)
#   TSFM_BENCH_RUST_CMD  the Rust command, run as: $TSFM_BENCH_RUST_CMD infer MODEL --models DIR
#                        (default: the binary `cargo bench -p tsfm-models --bench forecast
#                        --no-run` reports, built before any timing). Set it empty for
#                        Python only.
#   TSFM_BENCH_VARIANT_CMD  optional second Rust command (e.g. another build), run after the
#                        first in every round and recorded as side $TSFM_BENCH_VARIANT
#                        (default "rust-variant")
#   MODELS               models to run
#   BENCH_THREADS        torch threads of the Python side (default 2)
#   TSFM_NUM_THREADS     threads of tsfm's Chronos-2 forward (default: all cores)
set -euo pipefail
cd "$(dirname "$0")/.."
export TSFM_BENCH_OUT="${TSFM_BENCH_OUT:-bench/results/chronos2-$(date +%Y%m%d-%H%M%S).jsonl}"
out="$TSFM_BENCH_OUT"
bench/interleaved.sh chronos2 "chronos2 chronos2-cov" "${1:-3}"
python3 - "$out" <<'PY'
import json, sys
# Both sides must forecast the same values: the first series' median at 5 steps.
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
bad = 0
for model in sorted({r["model"] for r in rows}):
    ref = next((r["check_median"] for r in rows if r["model"] == model and r["side"] == "python"
                and "check_median" in r), None)
    for side in sorted({r["side"] for r in rows if r["side"] != "python"}):
        got = next((r["check_median"] for r in rows if r["model"] == model and r["side"] == side
                    and "check_median" in r), None)
        if ref is None or got is None:
            continue
        rel = max(abs(a - b) / max(abs(a), 1e-6) for a, b in zip(ref, got))
        ok = rel <= 1e-3
        bad += not ok
        print(f"check {model}: {side} {got} vs official {ref}: max relative difference {rel:.2e}"
              f" {'ok' if ok else 'MISMATCH (> 1e-3)'}")
sys.exit(1 if bad else 0)
PY
