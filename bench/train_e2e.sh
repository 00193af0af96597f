#!/usr/bin/env bash
# End-to-end training of the README demo, tsfm against the same job through HF `Trainer`:
#
#   bench/train_e2e.sh [ROUNDS] [tsfm config flags ...]     (default 3 rounds, the embedded demo)
#   bench/train_e2e.sh --table FILE.jsonl                   (the table of an earlier run)
#
# e.g. `bench/train_e2e.sh 1 --set training.max_steps=100` for a short check. The flags after
# ROUNDS (`--set KEY=VALUE`, `--config FILE` with an absolute path or an embedded name) go to
# both `export_windows` and `tsfm train`, so both sides run the same experiment.
#
# It builds nothing. It expects, from the repository root:
#   cargo build --release -p tsfm-cli --bin tsfm
#   cargo build --release -p tsfm-cli --example export_windows
# (override with TSFM_BIN / TSFM_EXPORT_BIN) and a Python with torch, transformers and
# granite-tsfm in TSFM_BENCH_PYTHON (default /work/venv/bin/python).
#
# Once: export_windows writes the experiment's train / validation / test windows as tsfm's
# trainer sees them (scaled, imputed, TTM's layout), its training order and its TrainingArgs to
# one safetensors file (not timed: it stands in for the user's own data preparation). Then per
# round, interleaved (the side that goes first alternates), each a whole process timed by
# bench/python/measure.py in a fresh folder:
# - hf-trainer: bench/python/train_hf_demo.py, granite-tsfm's TinyTimeMixerForPrediction from
#   the same checkpoint trained by HF `Trainer` on those windows (torch 2 threads), then the
#   test split's loss and the model saved;
# - tsfm: `tsfm train` run from an empty folder: reads the raw demo CSV, builds its data cache,
#   preprocesses, trains, evaluates, checkpoints, saves the model, calibrates on validation,
#   scores the test split, records the run.
# Prints the table of medians and keeps the rows in bench/results/train_e2e-DATE.jsonl
# (TSFM_BENCH_OUT to change).
set -euo pipefail
cd "$(dirname "$0")/.."
py="${TSFM_BENCH_PYTHON:-/work/venv/bin/python}"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# --- the table: medians over rounds per side, ratios of tsfm to HF Trainer --------------------
cat >"$scratch/table.py" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sides = {}
for r in rows:
    sides.setdefault(r["side"], []).append(r)
def med(rs, key):
    v = [r[key] for r in rs if r.get(key) is not None]
    return statistics.median(v) if v else None
def e2e(r):  # samples per second of the whole process, as its parent timed it
    return r["steps"] * r["batch"] / r["process_wall_s"]
for rs in sides.values():
    for r in rs:
        if "error" not in r:
            r["e2e_outer"] = e2e(r)
ok = {s: [r for r in rs if "error" not in r] for s, rs in sides.items()}
hf = ok.get("hf-trainer", [])
hf_sps, hf_e2e = med(hf, "samples_per_s"), med(hf, "e2e_outer")
print("| side | rounds ok | wall s | steps | best eval loss | train loop samples/s (range) "
      "| end-to-end samples/s | peak RSS MB | vs HF train loop | vs HF end to end |")
print("|---|---|---|---|---|---|---|---|---|---|")
for side in sorted(sides, key=lambda s: s != "hf-trainer"):
    good, n = ok[side], len(sides[side])
    if not good:
        print(f"| {side} | 0/{n} | - | - | - | - | - | - | - | - |")
        continue
    sps = [r["samples_per_s"] for r in good]
    m_sps, m_e2e = med(good, "samples_per_s"), med(good, "e2e_outer")
    ratio = lambda a, b: "-" if side == "hf-trainer" or not b else f"**{a / b:.2f}x**"
    print(f"| {side} | {len(good)}/{n} | {med(good, 'process_wall_s'):.1f} | {med(good, 'steps'):.0f} "
          f"| {med(good, 'best_eval_loss'):.4f} | {m_sps:,.0f} ({min(sps):,.0f}-{max(sps):,.0f}) "
          f"| {m_e2e:,.0f} | {med(good, 'peak_rss_mb_external'):,.0f} | {ratio(m_sps, hf_sps)} "
          f"| {ratio(m_e2e, hf_e2e)} |")
loads = [r.get("loadavg_1m_before") for r in rows if r.get("loadavg_1m_before") is not None]
if loads:
    print(f"\n1-min load average before each measurement: {min(loads):.2f}-{max(loads):.2f}")
EOF
if [ "${1:-}" = "--table" ]; then
  python3 "$scratch/table.py" "${2:?--table FILE.jsonl}"
  exit 0
fi

rounds=3
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
  rounds="$1"
  shift
fi
flags=("$@")
out="${TSFM_BENCH_OUT:-bench/results/train_e2e-$(date -u +%Y%m%d-%H%M%S).jsonl}"
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
root="$(pwd)"
tsfm="$(realpath "${TSFM_BIN:-target/release/tsfm}")"
export_bin="$(realpath "${TSFM_EXPORT_BIN:-target/release/examples/export_windows}")"
for bin in "$tsfm" "$export_bin"; do
  [ -x "$bin" ] || {
    echo "missing $bin: cargo build --release -p tsfm-cli --bin tsfm && cargo build --release -p tsfm-cli --example export_windows" >&2
    exit 1
  }
done
for pair in "$tsfm:crates/*/src" "$export_bin:crates"; do
  newer="$(find ${pair#*:} -name '*.rs' -newer "${pair%%:*}" -print -quit)"
  [ -z "$newer" ] || echo "warning: $newer is newer than ${pair%%:*}: rebuild it for current numbers" >&2
done

# --- tsfm's side: `tsfm train` in a fresh folder, its run's metrics as one JSON line ----------
cat >"$scratch/tsfm_run.py" <<'EOF'
"""tsfm_run.py DIR BATCH -- TSFM train [FLAGS]: run it in the empty folder DIR, print one JSON line."""
import glob, json, os, resource, subprocess, sys, time
folder, batch, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[4:]
os.makedirs(folder)
load = os.getloadavg()[0]
with open(os.path.join(folder, "tsfm.log"), "w") as log:
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t
if proc.returncode != 0:
    sys.stderr.write(open(os.path.join(folder, "tsfm.log")).read()[-3000:])
    sys.exit(proc.returncode)
runs = sorted(glob.glob(os.path.join(folder, "tsfm_results/models/*/*/2*/metrics.json")))
m = json.load(open(runs[-1]))
steps, loop = m["global_step"], m["train_runtime_seconds"]
test = m.get("test", {})
print(json.dumps(dict(
    bench="train_e2e", impl="tsfm", model="ttm-demo", batch=batch, max_steps=m["max_steps"], steps=steps,
    stopped_early=m["stopped_early"], wall_s=round(wall, 2), train_loop_s=round(loop, 2),
    samples_per_s=round(steps * batch / loop, 1), e2e_samples_per_s=round(steps * batch / wall, 1),
    tsfm_train_samples_per_second=round(m["train_samples_per_second"], 1), train_loss=m["train_loss"],
    best_eval_loss=m["best_eval_loss"], best_step=m["best_global_step"],
    test_rmse=(test.get("overall") or {}).get("rmse") if isinstance(test, dict) else None,
    peak_rss_mb=round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0, 1),
    loadavg_1m_before=load)))
EOF

echo "exporting the windows: $export_bin ${flags[*]}" >&2
(cd "$scratch" && "$export_bin" "${flags[@]}" --out "$scratch/windows.safetensors") 2>"$scratch/export.log" || {
  cat "$scratch/export.log" >&2
  exit 1
}
tail -1 "$scratch/export.log" >&2
batch="$(python3 - "$scratch/windows.safetensors" <<'EOF'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    print(json.loads(json.loads(f.read(n))["__metadata__"]["training_args"])["per_device_train_batch_size"])
EOF
)"

echo "rows -> $out; machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
measure() {
  local side="$1"
  shift
  python3 "$root/bench/python/measure.py" --round "$round" --out "$out" --side "$side" --model train_e2e \
    -- "$@" 2>"$scratch/$side.log" || true
  if tail -1 "$out" | grep -q '"error"'; then
    echo "$side failed; its last output:" >&2
    tail -20 "$scratch/$side.log" >&2
  fi
}
run_hf() {
  measure hf-trainer "$py" "$root/bench/python/train_hf_demo.py" --windows "$scratch/windows.safetensors" \
    --out-dir "$scratch/round-$round/hf"
}
run_tsfm() {
  measure tsfm python3 "$scratch/tsfm_run.py" "$scratch/round-$round/tsfm" "$batch" -- "$tsfm" train "${flags[@]}"
}
for round in $(seq 1 "$rounds"); do
  echo "round $round/$rounds" >&2
  mkdir -p "$scratch/round-$round"
  if [ $((round % 2)) -eq 1 ]; then
    run_hf
    run_tsfm
  else
    run_tsfm
    run_hf
  fi
  rm -rf "$scratch/round-$round"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 "$scratch/table.py" "$out"
