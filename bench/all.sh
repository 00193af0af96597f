#!/usr/bin/env bash
# Every performance target in one run, tsfm against the official Python packages on this
# machine, and the table BENCHMARKS.md's first section shows:
#
#   bench/all.sh [ROUNDS]          (default 1; each family's rounds are interleaved)
#
# Runs, one after the other, each with its own interleaved rounds (see each script's header
# for what it measures): bench/ttm.sh (TTM-r2 training and inference), bench/predict.sh
# (2,048 series end to end, and one series for the cold start), bench/train_e2e.sh (the demo's
# `tsfm train` against HF Trainer, then the same job with the real-size TTM-r2 512-96 on the
# demo's glucose alone: family train_e2e_r2), bench/chronos.sh (Chronos-Bolt tiny and small, Chronos-T5
# tiny), bench/timesfm.sh, bench/chronos2.sh. Their rows go to DIR/<family>.jsonl, the machine
# and the versions to DIR/machine.txt, and bench/python/standing.py DIR prints the table of
# medians, ratios and targets (also kept as DIR/standing.md).
#
# Needs what those scripts need: a Python venv outside the repo with
# ../shared/reference/scripts/requirements-lock.txt installed (TSFM_BENCH_PYTHON, default
# /work/venv/bin/python), the real-size random-init models in TSFM_BENCH_MODELS (default
# /work/bench-models/models: chronos-bolt-tiny, chronos-bolt-small, chronos-t5-tiny,
# timesfm-2.5-200m, chronos2-120m; the recipes are in bench/chronos.sh, bench/timesfm.sh and
# bench/chronos2.sh) and ../shared/reference/models/ttm-r2-512-96. Everything is built before
# anything is timed. One round takes about 35 minutes on 2 cores. TSFM_BENCH_DIR names the
# output folder (default bench/results/all-<UTC time>).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-1}"
py="${TSFM_BENCH_PYTHON:-/work/venv/bin/python}"
models="${TSFM_BENCH_MODELS:-/work/bench-models/models}"
dir="${TSFM_BENCH_DIR:-bench/results/all-$(date -u +%Y%m%d-%H%M%S)}"
unset MODELS
mkdir -p "$dir"

missing=0
for m in chronos-bolt-tiny chronos-bolt-small chronos-t5-tiny timesfm-2.5-200m chronos2-120m; do
  [ -d "$models/$m" ] || { echo "missing $models/$m (its recipe: bench/chronos.sh, timesfm.sh, chronos2.sh)" >&2; missing=1; }
done
[ -x "$py" ] || { echo "no Python at $py (TSFM_BENCH_PYTHON)" >&2; missing=1; }
ttm_r2="$(realpath -e "${TSFM_TTM_R2_DIR:-../shared/reference/models/ttm-r2-512-96}" 2>/dev/null)" ||
  { echo "no TTM-r2 512-96 checkpoint (TSFM_TTM_R2_DIR, default ../shared/reference/models/ttm-r2-512-96)" >&2; missing=1; }
[ "$missing" = 0 ] || exit 1

# Built separately: one cargo command would unify the example's dev-dependency feature
# (tsfm-io/fault-injection) into the measured `tsfm`.
echo "building (release) ..." >&2
cargo build -q --release --locked -p tsfm-cli --bin tsfm
cargo build -q --release --locked -p tsfm-cli --example export_windows
TSFM_BENCH_RUST_CMD="$(bench/bench_bin.sh tsfm-models forecast)"
export TSFM_BENCH_RUST_CMD
bench/bench_bin.sh tsfm-train ttm_r2 >/dev/null

{
  echo "Run: \`bench/all.sh $rounds\`, $(date -u '+%Y-%m-%d %H:%M') UTC, commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' (with uncommitted changes)')."
  echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores," \
    "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r), load before $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "Versions: $(rustc --version | cut -d' ' -f1-2); $("$py" - <<'PY'
from importlib.metadata import version
import sys
names = ["torch", "transformers", "granite-tsfm", "chronos-forecasting", "timesfm", "pandas"]
print(f"Python {sys.version.split()[0]}, " + ", ".join(f"{n} {version(n)}" for n in names))
PY
)."
  echo "The Python side runs torch on ${BENCH_THREADS:-2} threads; tsfm on all cores unless a row says otherwise."
} >"$dir/machine.txt"
cat "$dir/machine.txt" >&2

# A failing family is reported and the others still run; its rows read "missing".
family() {
  local name="$1"
  shift
  echo "== $name: $*" >&2
  TSFM_BENCH_OUT="$dir/$name.jsonl" "$@" || echo "== $name failed (exit $?)" >&2
}
family ttm bench/ttm.sh "$rounds"
family predict bench/predict.sh "$rounds"
family cold_start bench/predict.sh 5 1
family train_e2e bench/train_e2e.sh "$rounds"
# TTM-r2 reads one channel (the glucose) and 512 steps of context, 96 ahead.
family train_e2e_r2 bench/train_e2e.sh "$rounds" --set "model.model_path=$ttm_r2" \
  --set model.params.context_length=512 --set model.params.prediction_length=96 --set 'data.past_covariates=[]'
family chronos env TSFM_BENCH_MODELS="$models" bench/chronos.sh "$rounds"
family timesfm env TSFM_BENCH_MODELS="$models" bench/timesfm.sh "$rounds"
family chronos2 env TSFM_BENCH_MODELS="$models" bench/chronos2.sh "$rounds"

python3 bench/python/standing.py "$dir" | tee "$dir/standing.md"
