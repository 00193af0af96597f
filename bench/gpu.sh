#!/usr/bin/env bash
# TTM-r2 512-96 training and inference on one CUDA card, tsfm (Burn's CUDA backend) against
# PyTorch + granite-tsfm on the same card, interleaved. Three steps, because the GPU machine
# has PyTorch but no Rust toolchain and no network:
#
#   bench/gpu.sh llvm             here, once: LLVM 23 for cubecl's build, from Debian's packages
#   bench/gpu.sh pack             here: build the CUDA bench binary, gather what travels in .gpu/
#   bench/gpu.sh run [ROUNDS]     on the GPU machine (default 3 rounds): measure, print the table
#
# Burn's CUDA backend loads the CUDA driver at run time (no CUDA toolkit is needed to build),
# but cubecl-cuda links LLVM 23 statically (its NVPTX back end), and cubecl's build script
# downloads that LLVM from GitHub, which this workplace cannot reach. `llvm` builds the same
# layout from Debian unstable's llvm-23 and llvm-23-dev packages (deb.debian.org is reachable)
# under $TSFM_LLVM_DIR (default /work/llvm23) and points cubecl's cache path
# (~/.local/share/tracel/tracel-llvm-23.1.0-4) at it; see BENCHMARKS.md for the two fixes it
# needs on Debian 12 (Polly left out of the libraries; glibc 2.38's C23 names forwarded).
#
# `pack` builds `cargo bench -p tsfm-train --bench ttm_r2 --features cuda`, strips and
# xz-compresses it to .gpu/ttm_r2.xz (about 116 MB stripped, 23 MB compressed: the device
# tool carries 64 MiB), copies the checkpoint (TSFM_TTM_R2_DIR, default
# ../shared/reference/models/ttm-r2-512-96) and downloads the pure-Python wheels the GPU image
# lacks (granite-tsfm 0.3.11 and what its import needs) for Python 3.12 into .gpu/wheels.
# .gpu/ is git-ignored; it is what the device tool's `carry` names:
# run(command="bash bench/gpu.sh run 2", carry=[".gpu"], timeout_s=540).
#
# `run` installs the wheels into /tmp/site and unpacks the binary, checks tsfm's CUDA forecasts
# against its CPU ones on the same batch, then per round: PyTorch's training loop
# (bench/python/bench_ttm_gpu.py train), tsfm's (TSFM_BENCH_DEVICE=cuda ttm_r2 train),
# PyTorch's inference, tsfm's; the same workloads as bench/ttm.sh on the CPU (5 warm-up steps
# then 20 timed; 3 warm-up calls then 20 timed; medians), at batch 64 and at 1024
# (GPU_BENCH_BATCHES), and in round 1 tsfm's training step by phase (`ttm_r2 profile`). A run
# that fails or outlasts GPU_BENCH_STEP_TIMEOUT (default 240 s) is logged and skipped. Rows go to
# $OUT/gpu.jsonl (bench/results/ outside the device tool), logs to $OUT/gpu.log, the table to
# $OUT/gpu.md. GPU_BENCH_DEVICE=cpu runs the same commands on the CPU (a dry run of the script
# itself); TSFM_BENCH_PYTHON picks the Python (default python3, the GPU image's PyTorch).
set -euo pipefail
cd "$(dirname "$0")/.."

llvm() {
  local dir="${TSFM_LLVM_DIR:-/work/llvm23}"
  local mirror="http://deb.debian.org/debian"
  local cache="${XDG_DATA_HOME:-$HOME/.local/share}/tracel/tracel-llvm-23.1.0-4"
  mkdir -p "$dir/debs"
  # The package files named by Debian unstable's index today (versions move; the index says).
  curl -fsS -m 300 "$mirror/dists/unstable/main/binary-amd64/Packages.xz" | xz -dc |
    awk '/^Package: /{p=$2} /^Filename: /{if (p == "llvm-23" || p == "llvm-23-dev") print $2}' >"$dir/debs/files"
  [ "$(wc -l <"$dir/debs/files")" = 2 ] || { echo "Debian unstable lists no llvm-23/llvm-23-dev" >&2; exit 1; }
  while read -r file; do
    curl -fsS -m 600 -o "$dir/debs/$(basename "$file")" "$mirror/$file"
    dpkg -x "$dir/debs/$(basename "$file")" "$dir/root"
  done <"$dir/debs/files"
  local real="$dir/root/usr/lib/llvm-23"
  "$real/bin/llvm-config" --version
  # cubecl's build asks `llvm-config --link-static --libs` and links every library it names.
  # Debian's names Polly, which lives in another package and which cubecl never calls, and
  # gives z3 by path (cubecl would turn it into `-llibz3`).
  mkdir -p "$dir/bundle/bin"
  cat >"$dir/bundle/bin/llvm-config" <<EOS
#!/bin/sh
"$real/bin/llvm-config" "\$@" | sed -e 's/-lPolly[A-Za-z]*//g' -e 's|/[^ ]*/lib\([a-z0-9]*\)\.so|-l\1|g' -e 's/  */ /g'
EOS
  chmod +x "$dir/bundle/bin/llvm-config"
  # Debian unstable's archives were built against glibc 2.38+, which renamed the strtol family
  # and scanf for C23; Debian 12's glibc (2.36) has only the old names, with the same
  # behaviour for what LLVM parses. The forwarders go into the last library on the link line.
  cat >"$dir/isoc23_shim.c" <<'EOS'
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
long __isoc23_strtol(const char *s, char **e, int b) { return strtol(s, e, b); }
long long __isoc23_strtoll(const char *s, char **e, int b) { return strtoll(s, e, b); }
unsigned long long __isoc23_strtoull(const char *s, char **e, int b) { return strtoull(s, e, b); }
int __isoc23_sscanf(const char *s, const char *f, ...) { va_list a; va_start(a, f); int r = vsscanf(s, f, a); va_end(a); return r; }
int __isoc23_scanf(const char *f, ...) { va_list a; va_start(a, f); int r = vscanf(f, a); va_end(a); return r; }
EOS
  if ! ldd --version | head -1 | grep -qE '2\.(3[89]|[4-9][0-9])'; then
    cc -O2 -fPIC -c "$dir/isoc23_shim.c" -o "$dir/isoc23_shim.o"
    ar r "$real/lib/libLLVMDemangle.a" "$dir/isoc23_shim.o"
  fi
  touch "$dir/bundle/.tracel-llvm-installed"
  mkdir -p "$(dirname "$cache")"
  ln -sfn "$dir/bundle" "$cache"
  echo "LLVM 23 for cubecl at $cache -> $dir/bundle; next: bench/gpu.sh pack" >&2
}

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
  xz -T0 -6 .gpu/ttm_r2
  cp -r "$model" .gpu/ttm-r2-512-96
  # granite-tsfm imports `datasets` (and it dill, multiprocess) and `deprecated`; the GPU
  # image has torch, transformers, pandas, scikit-learn, pyarrow, fsspec, xxhash and wrapt.
  "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_17_x86_64 --platform any -d .gpu/wheels \
    granite-tsfm==0.3.11 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 Deprecated==1.3.1
  du -sh .gpu
  echo "now: run(command=\"bash bench/gpu.sh run 2\", carry=[\".gpu\"], timeout_s=540)" >&2
}

# One measurement: the command's last line (a JSON row) gets the round and the side and goes to
# the rows; its whole output and its exit status go to the log. A failure or a timeout (exit
# status 124) is logged, not fatal.
measure() {
  local side="$1" round="$2" rows="$3" log="$4"
  shift 4
  local output status=0
  output="$(mktemp)"
  echo "== $side round $round: $*" >>"$log"
  timeout "${GPU_BENCH_STEP_TIMEOUT:-240}" "$@" >"$output" 2>>"$log" || status=$?
  cat "$output" >>"$log"
  echo "== exit status $status" >>"$log"
  if [ "$status" = 0 ] &&
    python3 -c 'import json, sys; r = json.loads(sys.argv[1]); r["round"] = int(sys.argv[2]); r["side"] = sys.argv[3]; print(json.dumps(r))' \
      "$(tail -1 "$output")" "$round" "$side" >>"$rows" 2>>"$log"; then
    echo "  $side: $(tail -1 "$rows" | python3 -c 'import json, sys; r = json.loads(sys.stdin.read()); print(r["samples_per_s"], "samples/s")')" >&2
  elif [ "$status" = 124 ]; then
    echo "  $side: TIMED OUT after ${GPU_BENCH_STEP_TIMEOUT:-240} s (see gpu.log)" >&2
  else
    echo "  $side: FAILED, exit status $status (see gpu.log)" >&2
  fi
  rm -f "$output"
}

run() {
  local rounds="${1:-3}"
  local dev="${GPU_BENCH_DEVICE:-cuda}"
  local out="${OUT:-bench/results}"
  mkdir -p "$out"
  [ -f .gpu/ttm_r2.xz ] || { echo "no .gpu/ttm_r2.xz: run \`bench/gpu.sh pack\` first and carry .gpu" >&2; exit 1; }
  local bin=/tmp/tsfm-gpu-bench/ttm_r2
  mkdir -p "$(dirname "$bin")"
  xz -dc .gpu/ttm_r2.xz >"$bin" && chmod +x "$bin"
  local py="${TSFM_BENCH_PYTHON:-python3}"
  if ! "$py" -c 'import tsfm_public' 2>/dev/null; then
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .gpu/wheels/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
  fi
  # cudarc opens the driver and NVRTC by name; the image keeps NVRTC in PyTorch's wheels.
  local nv
  nv="$("$py" -c 'import glob, os, nvidia; print(":".join(sorted({os.path.dirname(p) for d in nvidia.__path__ for p in glob.glob(d + "/**/lib*.so*", recursive=True)})))' 2>/dev/null || true)"
  export LD_LIBRARY_PATH="${nv:+$nv:}/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  local rows="$out/gpu.jsonl" log="$out/gpu.log"
  : >"$rows"
  : >"$log"
  {
    echo "Run: \`bench/gpu.sh run $rounds\`, $(date -u '+%Y-%m-%d %H:%M') UTC, device $dev."
    if command -v nvidia-smi >/dev/null; then
      echo "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)."
    fi
    echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores;" \
      "torch $("$py" -c 'import torch; print(torch.__version__)')."
  } >"$out/gpu-machine.txt"
  cat "$out/gpu-machine.txt" >&2
  export TSFM_TTM_R2_DIR=.gpu/ttm-r2-512-96 BENCH_DEVICE="$dev"
  # One host thread for tsfm's row split: the card does the work.
  export TSFM_NUM_THREADS=1
  # The same batch through tsfm on the CPU and on the card: the forecasts' checksums must agree
  # (to float32 reduction-order noise) before any timing means anything.
  echo "check: tsfm inference on cpu and on $dev" >&2
  measure tsfm-cpu-check 0 "$rows" "$log" env TSFM_BENCH_DEVICE=cpu "$bin" infer
  measure tsfm-check 0 "$rows" "$log" env TSFM_BENCH_DEVICE="$dev" "$bin" infer
  # Batch 64 is the targets' (bench.py's); a larger one shows what the card does when the
  # launches are amortised. Round 1 also times tsfm's training phases (a sync after each).
  local batches="${GPU_BENCH_BATCHES:-64 1024}"
  for round in $(seq 1 "$rounds"); do
    for b in $batches; do
      for what in train infer; do
        echo "round $round/$rounds, batch $b: $what" >&2
        measure pytorch "$round" "$rows" "$log" env BENCH_BATCH="$b" "$py" bench/python/bench_ttm_gpu.py "$what" .gpu/ttm-r2-512-96
        measure tsfm "$round" "$rows" "$log" env TSFM_BENCH_BATCH="$b" TSFM_BENCH_DEVICE="$dev" "$bin" "$what"
      done
      if [ "$round" = 1 ]; then
        measure tsfm-profile "$round" "$rows" "$log" env TSFM_BENCH_BATCH="$b" TSFM_BENCH_DEVICE="$dev" "$bin" profile
      fi
    done
  done
  python3 - "$rows" "$out/gpu-machine.txt" >"$out/gpu.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
timed = [r for r in rows if r["round"] > 0]
print(open(sys.argv[2]).read().strip())
print()
checks = {r["side"]: r for r in rows if r["round"] == 0}
if "tsfm-cpu-check" in checks and "tsfm-check" in checks:
    c, g = checks["tsfm-cpu-check"]["checksum"], checks["tsfm-check"]["checksum"]
    print(f"tsfm's forecasts, sum of the first value per series: {c:.6f} on the CPU, {g:.6f} on {checks['tsfm-check']['backend']} (relative difference {abs(g - c) / max(abs(c), 1e-12):.1e}).")
    print()
print("| workload | PyTorch (median) | tsfm (median) | tsfm / PyTorch | rounds |")
print("|---|---|---|---|---|")
names = {"train_plain": "TTM-r2 512-96 training", "infer": "TTM-r2 inference"}
for batch in sorted({r["batch"] for r in timed}):
    for bench, name in names.items():
        side = {s: [r["samples_per_s"] for r in timed if r["bench"] == bench and r["side"] == s and r["batch"] == batch] for s in ("pytorch", "tsfm")}
        if not side["pytorch"] or not side["tsfm"]:
            continue
        p, t = statistics.median(side["pytorch"]), statistics.median(side["tsfm"])
        print(f"| {name}, batch {batch} | {p:,.0f} samples/s | {t:,.0f} samples/s | **{t / p:.2f}x** | {len(side['pytorch'])} / {len(side['tsfm'])} |")
profiles = [r for r in rows if r["side"] == "tsfm-profile"]
if profiles:
    print()
    print("tsfm's training step by phase (medians, the device synced after each phase):")
    print()
    for r in profiles:
        order = ("forward_and_loss", "backward", "collect_grads", "optimizer_step")
        phases = ", ".join(f"{k} {r['median_phase_s'][k] * 1000:.1f} ms" for k in order)
        print(f"- batch {r['batch']}: {phases} (step {r['median_step_s'] * 1000:.1f} ms)")
PY
  cat "$out/gpu.md"
}

case "${1:-}" in
  llvm) llvm ;;
  pack) pack ;;
  run) shift; run "$@" ;;
  *) sed -n '2,37p' "$0" >&2; exit 2 ;;
esac
