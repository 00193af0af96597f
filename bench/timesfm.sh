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
rounds="${1:-3}"
py="${TSFM_BENCH_PYTHON:-/work/venv/bin/python}"
models_dir="${TSFM_BENCH_MODELS:-/work/bench-models/models}"
models="${MODELS:-timesfm timesfm-raw}"
out="${TSFM_BENCH_OUT:-bench/results/timesfm-$(date +%Y%m%d-%H%M%S).jsonl}"
mkdir -p "$(dirname "$out")"
export OMP_NUM_THREADS="${BENCH_THREADS:-2}"

if [ -z "${TSFM_BENCH_RUST_CMD+set}" ]; then
  # The bench binary of this checkout (built now if it is stale, before anything is timed).
  TSFM_BENCH_RUST_CMD="$(cargo bench -q -p tsfm-models --bench forecast --no-run --message-format=json |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "forecast":
        print(m["executable"])')"
  if [ -z "$TSFM_BENCH_RUST_CMD" ]; then
    echo "could not build the bench binary: cargo bench -p tsfm-models --bench forecast --no-run" >&2
    exit 1
  fi
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
      "$py" bench/python/bench_timesfm.py infer "$model" --models "$models_dir"
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
