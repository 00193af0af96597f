#!/usr/bin/env bash
# Where tsfm's time goes, per workload: `perf record` over one process each, then the samples
# grouped by kind of work (bench/python/profile_kinds.py), one markdown line per workload.
#
#   bench/profile.sh [WORKLOAD ...]
#
# Workloads (default all): ttm-train (TTM-r2 training bench, 1 shard), ttm-infer (1 thread),
# demo-train (`tsfm train` of the demo, its two shards), t5-tiny, bolt-small, bolt-tiny,
# timesfm, chronos2, chronos2-cov (the forecast bench, 1 thread). One thread where the
# workload allows it, so the shares are those of the work, not of waiting. Needs perf (Debian's
# linux-perf) and the models bench/all.sh needs (TSFM_BENCH_MODELS, TSFM_TTM_R2_DIR). The
# whole process is sampled, loading included (a small share for these runs: the benches time
# several calls after one warm-up).
set -euo pipefail
cd "$(dirname "$0")/.."
models="${TSFM_BENCH_MODELS:-/work/bench-models/models}"
export TSFM_TTM_R2_DIR="${TSFM_TTM_R2_DIR:-$(cd ../shared/reference/models/ttm-r2-512-96 2>/dev/null && pwd || true)}"
command -v perf >/dev/null || { echo "perf not found (Debian: apt-get install linux-perf)" >&2; exit 1; }
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(ttm-train ttm-infer demo-train t5-tiny bolt-small bolt-tiny timesfm chronos2 chronos2-cov)

forecast="$(bench/bench_bin.sh tsfm-models forecast)"
ttm="$(bench/bench_bin.sh tsfm-train ttm_r2)"
cargo build -q --release --locked -p tsfm-cli --bin tsfm
tsfm="$(pwd)/target/release/tsfm"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for w in "${workloads[@]}"; do
  case "$w" in
    ttm-train) cmd=(env TSFM_BENCH_SHARDS=1 "$ttm" train) ;;
    ttm-infer) cmd=(env TSFM_NUM_THREADS=1 "$ttm" infer) ;;
    demo-train) mkdir -p "$scratch/demo" && cmd=(env -C "$scratch/demo" TSFM_CACHE_DIR="$scratch/demo/cache" "$tsfm" train) ;;
    t5-tiny | bolt-small | bolt-tiny | timesfm | chronos2 | chronos2-cov)
      cmd=(env TSFM_NUM_THREADS=1 "$forecast" infer "$w" --models "$models") ;;
    *) echo "unknown workload $w" >&2; exit 1 ;;
  esac
  perf record -q -F 199 -o "$scratch/perf.data" -- "${cmd[@]}" >/dev/null 2>"$scratch/err" || {
    cat "$scratch/err" >&2
    echo "- **$w**: failed" && continue
  }
  perf report -i "$scratch/perf.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null |
    python3 bench/python/profile_kinds.py "$w"
done
