#!/usr/bin/env bash
# TTM-r2 512-96 training and inference on one CUDA card, tsfm (Burn's CUDA backend) against
# PyTorch + granite-tsfm on the same card, interleaved. Two halves, because the GPU machine
# has PyTorch but no Rust toolchain and no network:
#
#   bench/gpu.sh pack             here: build the CUDA bench binary, gather what travels in .gpu/
#   bench/gpu.sh run [ROUNDS]     on the GPU machine (default 3 rounds): measure, print the table
#
# `pack` builds `cargo bench -p tsfm-train --bench ttm_r2 --features cuda` (Burn loads the CUDA
# driver at run time, so no CUDA toolkit is needed here, but cubecl's build scripts download
# an LLVM bundle from GitHub: this workplace's machines cannot reach it, so there `pack` stops
# at that download; see BENCHMARKS.md), strips it to .gpu/ttm_r2,
# copies the checkpoint (TSFM_TTM_R2_DIR, default ../shared/reference/models/ttm-r2-512-96) and
# downloads the pure-Python wheels the GPU image lacks (granite-tsfm 0.3.11 and what its import
# needs) for Python 3.12 into .gpu/wheels. .gpu/ is git-ignored; it is what the device tool's
# `carry` names: run(command="bash bench/gpu.sh run 3", carry=[".gpu"], timeout_s=540).
#
# `run` installs the wheels into /tmp/site, then per round: PyTorch's training loop
# (bench/python/bench_ttm_gpu.py train), tsfm's (TSFM_BENCH_DEVICE=cuda .gpu/ttm_r2 train),
# PyTorch's inference, tsfm's; the same workloads as bench/ttm.sh on the CPU (batch 64, 5
# warm-up steps then 20 timed; 3 warm-up calls then 20 timed; medians). Rows go to
# $OUT/gpu.jsonl (bench/results/ outside the device tool), the table to $OUT/gpu.md.
# GPU_BENCH_DEVICE=cpu runs the same commands on the CPU (a dry run of the script itself);
# TSFM_BENCH_PYTHON picks the Python (default python3, the GPU image's PyTorch).
set -euo pipefail
cd "$(dirname "$0")/.."

pack() {
  local model="${TSFM_TTM_R2_DIR:-../shared/reference/models/ttm-r2-512-96}"
  local py="${TSFM_BENCH_PYTHON:-/work/venv/bin/python}"
  [ -f "$model/model.safetensors" ] || { echo "no TTM-r2 checkpoint at $model (TSFM_TTM_R2_DIR)" >&2; exit 1; }
  local bin
  bin="$(cargo bench -q --locked -p tsfm-train --bench ttm_r2 --features cuda --no-run --message-format=json |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "ttm_r2":
        print(m["executable"])')"
  [ -n "$bin" ] || { echo "could not build the CUDA ttm_r2 bench" >&2; exit 1; }
  rm -rf .gpu && mkdir -p .gpu/wheels
  strip -o .gpu/ttm_r2 "$bin"
  cp -r "$model" .gpu/ttm-r2-512-96
  # granite-tsfm imports `datasets` (and it dill, multiprocess) and `deprecated`; the GPU
  # image has torch, transformers, pandas, scikit-learn, pyarrow, fsspec, xxhash and wrapt.
  "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_17_x86_64 --platform any -d .gpu/wheels \
    granite-tsfm==0.3.11 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 Deprecated==1.3.1
  du -sh .gpu
  echo "now: run(command=\"bash bench/gpu.sh run 3\", carry=[\".gpu\"], timeout_s=540)" >&2
}

run() {
  local rounds="${1:-3}"
  local dev="${GPU_BENCH_DEVICE:-cuda}"
  local out="${OUT:-bench/results}"
  mkdir -p "$out"
  [ -x .gpu/ttm_r2 ] || { echo "no .gpu/ttm_r2: run \`bench/gpu.sh pack\` first and carry .gpu" >&2; exit 1; }
  local py="${TSFM_BENCH_PYTHON:-python3}"
  if ! "$py" -c 'import tsfm_public' 2>/dev/null; then
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .gpu/wheels/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
  fi
  local rows="$out/gpu.jsonl"
  : >"$rows"
  {
    echo "Run: \`bench/gpu.sh run $rounds\`, $(date -u '+%Y-%m-%d %H:%M') UTC, device $dev."
    if command -v nvidia-smi >/dev/null; then
      echo "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)."
    fi
    echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores;" \
      "torch $("$py" -c 'import torch; print(torch.__version__)')."
  } >"$out/gpu-machine.txt"
  cat "$out/gpu-machine.txt" >&2
  export TSFM_BENCH_DEVICE="$dev" BENCH_DEVICE="$dev" TSFM_TTM_R2_DIR=.gpu/ttm-r2-512-96
  # One host thread for tsfm's row split: the card does the work.
  export TSFM_NUM_THREADS=1
  for round in $(seq 1 "$rounds"); do
    for what in train infer; do
      echo "round $round/$rounds: $what" >&2
      "$py" bench/python/bench_ttm_gpu.py "$what" .gpu/ttm-r2-512-96 |
        tail -1 | python3 -c 'import json, sys; r = json.loads(sys.stdin.read()); r["round"] = int(sys.argv[1]); r["side"] = "pytorch"; print(json.dumps(r))' "$round" >>"$rows"
      .gpu/ttm_r2 "$what" |
        tail -1 | python3 -c 'import json, sys; r = json.loads(sys.stdin.read()); r["round"] = int(sys.argv[1]); r["side"] = "tsfm"; print(json.dumps(r))' "$round" >>"$rows"
    done
  done
  python3 - "$rows" "$out/gpu-machine.txt" >"$out/gpu.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(open(sys.argv[2]).read().strip())
print()
print("| workload | PyTorch (median) | tsfm (median) | tsfm / PyTorch | rounds |")
print("|---|---|---|---|---|")
for bench, name in [("train_plain", "TTM-r2 512-96 training, batch 64"), ("infer", "TTM-r2 inference, batch 64")]:
    side = {s: [r["samples_per_s"] for r in rows if r["bench"] == bench and r["side"] == s] for s in ("pytorch", "tsfm")}
    if not side["pytorch"] or not side["tsfm"]:
        continue
    p, t = statistics.median(side["pytorch"]), statistics.median(side["tsfm"])
    print(f"| {name} | {p:,.0f} samples/s | {t:,.0f} samples/s | **{t / p:.2f}x** | {len(side['pytorch'])} / {len(side['tsfm'])} |")
PY
  cat "$out/gpu.md"
}

case "${1:-}" in
  pack) pack ;;
  run) shift; run "$@" ;;
  *) sed -n '2,25p' "$0" >&2; exit 2 ;;
esac
