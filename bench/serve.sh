#!/usr/bin/env bash
# Load test of `tsfm serve` against the same model behind a minimal Python server (FastAPI +
# uvicorn + granite-tsfm), measured the same way in the same run: throughput, p50/p99 latency at
# 1, 8 and 64 concurrent clients, errors, and the server's RSS sampled every 0.5 s.
# 127.0.0.1 only; every level is bounded in requests and seconds.
#
#   bench/serve.sh [PRODUCTION_DIR]
#
# Without PRODUCTION_DIR it trains the TTM demo briefly (the model's size is the demo's; its
# accuracy does not matter here) and promotes it. PYTHON: an interpreter with torch,
# granite-tsfm, fastapi and uvicorn (default /work/venv-serve/bin/python).
# REQUESTS="300 1000 2000" and SECONDS_PER_LEVEL=60 bound the three levels.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-/work/venv-serve/bin/python}
read -r -a REQUESTS <<< "${REQUESTS:-300 1000 2000}"
SECONDS_PER_LEVEL=${SECONDS_PER_LEVEL:-60}
LEVELS=(1 8 64)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

# PROFILE=debug measures the binaries `cargo test` built (dependencies optimised, tsfm at -O1).
PROFILE=${PROFILE:-release}
if [[ $PROFILE == release ]]; then
    # Two calls: `--example` alone would restrict the first to the example.
    cargo build --release --locked -q -p tsfm-cli --bin tsfm
    cargo build --release --locked -q -p tsfm-serve --example loadgen
fi
TSFM=$TARGET/$PROFILE/tsfm
LOADGEN=$TARGET/$PROFILE/examples/loadgen
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

PROD=${1:-}
if [[ -z $PROD ]]; then
    (cd "$WORK" && "$TSFM" train --set training.max_steps=40 --set training.eval_steps=20 \
        --set training.save_steps=20 --set output.save_dir="$WORK/tsfm_results" >/dev/null 2>&1)
    (cd "$WORK" && "$TSFM" runs promote ttm/ttm_demo/best_model --save-dir "$WORK/tsfm_results" >/dev/null)
    PROD=$WORK/tsfm_results/models/ttm/production_v1
fi
PROD=$(cd "$PROD" && pwd)

# One series per request, as a phone app asks every five minutes: 96 readings (8 h) of glucose
# with carbs and insulin.
python3 - "$WORK/body.json" <<'PY'
import json, math, sys
n = 96
ts = [f"2024-01-01T{(16*60 + 5*i)//60:02d}:{(5*i)%60:02d}:00" for i in range(n)]
bg = [round(7 + 2 * math.sin(i / 9), 2) for i in range(n)]
carbs = [40.0 if i % 48 == 10 else 0.0 for i in range(n)]
insulin = [4.0 if i % 48 == 10 else 0.05 for i in range(n)]
body = {"series": [{"id": "p01", "timestamps": ts, "values": bg,
                    "covariates": {"carbs": carbs, "insulin": insulin}}]}
json.dump(body, open(sys.argv[1], "w"))
PY

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_ready() { # URL
    for _ in $(seq 600); do
        curl -sf "$1" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "server at $1 did not become ready" >&2
    return 1
}

rss_sampler() { # PID OUT
    while kill -0 "$1" 2>/dev/null; do
        awk '/VmRSS/ {print $2}' "/proc/$1/status" >> "$2" 2>/dev/null || true
        sleep 0.5
    done
}

measure() { # NAME PID PORT
    local name=$1 pid=$2 port=$3
    "$LOADGEN" "127.0.0.1:$port" /v1/forecast "$WORK/body.json" 4 100 30 > /dev/null # warm-up
    for k in "${!LEVELS[@]}"; do
        local c=${LEVELS[$k]} n=${REQUESTS[$k]}
        : > "$WORK/rss"
        rss_sampler "$pid" "$WORK/rss" &
        local sampler=$!
        local line
        line=$("$LOADGEN" "127.0.0.1:$port" /v1/forecast "$WORK/body.json" "$c" "$n" "$SECONDS_PER_LEVEL")
        kill "$sampler" 2>/dev/null || true
        wait "$sampler" 2>/dev/null || true
        local rss
        rss=$(sort -n "$WORK/rss" | awk 'NR==1 {lo=$1} {hi=$1} END {printf "%.0f-%.0f", lo/1024, hi/1024}')
        echo "$name $line $rss" >> "$WORK/results"
    done
}

: > "$WORK/results"
PORT=$(free_port)
"$TSFM" serve --model "$PROD" --bind "127.0.0.1:$PORT" --max-batch 64 --max-wait-ms 2 2>"$WORK/tsfm.log" &
TSFM_PID=$!
wait_ready "http://127.0.0.1:$PORT/readyz"
measure tsfm "$TSFM_PID" "$PORT"
kill -TERM "$TSFM_PID"; wait "$TSFM_PID" || true

PORT=$(free_port)
"$PYTHON" "$ROOT/bench/serve/python_server.py" "$PROD" "$PORT" 2>"$WORK/python.log" &
PY_PID=$!
wait_ready "http://127.0.0.1:$PORT/healthz"
measure python "$PY_PID" "$PORT"
kill -TERM "$PY_PID"; wait "$PY_PID" || true

echo "model: $PROD ($(nproc) cores, $(uname -m))"
printf '%-8s %7s %7s %7s %9s %9s %9s %12s\n' server clients ok errors "req/s" "p50 ms" "p99 ms" "RSS MB"
python3 - "$WORK/results" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    name, rest = line.split(" ", 1)
    data, rss = rest.rsplit(" ", 1)
    r = json.loads(data)
    print(f"{name:<8} {r['concurrency']:>7} {r['ok']:>7} {r['errors']:>7} {r['throughput_rps']:>9.1f} "
          f"{r['p50_ms']:>9.2f} {r['p99_ms']:>9.2f} {rss.strip():>12}")
PY
