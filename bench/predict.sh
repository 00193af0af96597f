#!/usr/bin/env bash
# End-to-end batch forecasting, tsfm against pandas + granite-tsfm, side by side:
#
#   bench/predict.sh [ROUNDS] [SERIES]      (defaults 3 rounds, 2048 series)
#
# The job: a long CSV of SERIES random-walk series, 512 readings each plus 96 empty horizon
# rows, forecast with the real-size TTM-r2 512-96 (random init,
# ../shared/reference/models/ttm-r2-512-96), written out as id,timestamp,step,point. Timed
# as whole processes (start-up, load, CSV in, forecasts, CSV out), interleaved, medians.
# tsfm: `tsfm predict --model-path` (release build); Python: bench/python/predict_tsfm_public.py
# (TSFM_BENCH_PYTHON, default /work/venv/bin/python, with torch, pandas and granite-tsfm).
# TSFM_BENCH_OUT (optional): a JSONL file each process's wall time and peak RSS are appended to.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
series="${2:-2048}"
py="${TSFM_BENCH_PYTHON:-/work/venv/bin/python}"
ckpt="${TSFM_TTM_R2_DIR:-../shared/reference/models/ttm-r2-512-96}"
cargo build -q --release --locked -p tsfm-cli
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
python3 - "$scratch/in.csv" "$series" <<'PY'
import random, sys, datetime as dt
path, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(0)
start = dt.datetime(2024, 1, 1)
with open(path, "w") as f:
    f.write("id,timestamp,value\n")
    for s in range(n):
        v = 100.0
        for i in range(512 + 96):
            t = (start + dt.timedelta(minutes=5 * i)).strftime("%Y-%m-%dT%H:%M:%S")
            if i < 512:
                v += rng.gauss(0, 1)
                f.write(f"s{s:05d},{t},{v:.4f}\n")
            else:
                f.write(f"s{s:05d},{t},\n")
PY
echo "input: $series series x 608 rows ($(du -h "$scratch/in.csv" | cut -f1)); machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
: > "$scratch/times"
for round in $(seq 1 "$rounds"); do
  /usr/bin/time -f "python %e %M" -a -o "$scratch/times" \
    "$py" bench/python/predict_tsfm_public.py "$ckpt" "$scratch/in.csv" "$scratch/py.csv" >&2
  /usr/bin/time -f "tsfm %e %M" -a -o "$scratch/times" \
    target/release/tsfm predict --model-path "$ckpt" --input "$scratch/in.csv" --output "$scratch/tsfm.csv" >/dev/null
  echo "round $round: $(tail -2 "$scratch/times" | tr '\n' ' ')" >&2
done
python3 - "$scratch" <<'PY'
import csv, statistics, sys
d = sys.argv[1]
rows = [l.split() for l in open(f"{d}/times")]
med = {side: statistics.median(float(r[1]) for r in rows if r[0] == side) for side in ("python", "tsfm")}
rss = {side: statistics.median(int(r[2]) for r in rows if r[0] == side) / 1024 for side in ("python", "tsfm")}
# Same forecasts? Compare the two outputs' point columns.
def points(p):
    with open(p) as f:
        return [(r["id"], r["timestamp"], float(r["point"])) for r in csv.DictReader(f)]
a, b = points(f"{d}/py.csv"), points(f"{d}/tsfm.csv")
same_keys = [x[:2] for x in a] == [x[:2] for x in b]
diff = max(abs(x[2] - y[2]) for x, y in zip(a, b)) if same_keys else float("nan")
print("| side | wall s (median) | peak RSS MB | vs Python |")
print("|---|---|---|---|")
print(f"| pandas + granite-tsfm | {med['python']:.2f} | {rss['python']:,.0f} | - |")
print(f"| tsfm predict | {med['tsfm']:.2f} | {rss['tsfm']:,.0f} | **{med['python'] / med['tsfm']:.1f}x** |")
print(f"rows: {len(a)} vs {len(b)}, same ids and timestamps: {same_keys}, max |point difference|: {diff:.2e}")
PY
if [ -n "${TSFM_BENCH_OUT:-}" ]; then
  # One JSON line per process (bench/all.sh's standing table reads them).
  mkdir -p "$(dirname "$TSFM_BENCH_OUT")"
  awk -v n="$series" '{ printf "{\"model\": \"predict\", \"side\": \"%s\", \"round\": %d, \"series\": %d, \"process_wall_s\": %s, \"peak_rss_mb_external\": %.1f}\n", $1, int((NR + 1) / 2), n, $2, $3 / 1024 }' \
    "$scratch/times" >>"$TSFM_BENCH_OUT"
fi
