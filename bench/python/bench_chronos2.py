"""Inference speed and peak memory of the official Chronos2Pipeline (chronos-forecasting 2.3.2, CPU, PyTorch).

    python bench/python/bench_chronos2.py infer MODEL [--models DIR]
MODEL: chronos2 (univariate: pipeline.predict(64 tensors of 512, prediction_length=64,
batch_size=64)) or chronos2-cov (64 dict inputs, each a target with 2 covariates: `a` past-only,
`b` known-future: {"target", "past_covariates": {"a", "b"}, "future_covariates": {"b"}}, i.e. 3 rows
per group, 192 rows, batch_size=192).  Either way one model call per predict (horizon 64 = 4 output
patches <= max_output_patches: no unrolling).  DIR holds chronos2-120m/ (config.json +
model.safetensors: the released amazon/chronos-2 architecture with random weights, see
bench/chronos2.sh; default $TSFM_BENCH_MODELS or /work/bench-models/models).

Inputs: the same values the Rust side feeds (benches/forecast.rs): SplitMix64 random walks,
reimplemented here bit for bit, so the two sides' forecasts can be compared: the JSON line carries
`check_median` (the first series' median forecast, steps 0, 15, 31, 47, 63), which bench/chronos2.sh
compares with the Rust side's.  torch.set_num_threads($BENCH_THREADS, default 2).  Same JSON line as
bench_chronos.py (whose helpers it uses), so measure.py and summarize.py read it.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_chronos import B, CTX, H, busy_fraction, cpu_s, rss_mb  # noqa: E402

MODELS = {  # name -> (warm-up calls, timed calls)
    "chronos2": (1, 3),
    "chronos2-cov": (1, 3),
}
SUBDIR = "chronos2-120m"
CHECK_STEPS = (0, 15, 31, 47, 63)
M64 = (1 << 64) - 1


class SplitMix:
    """SplitMix64 + Box-Muller, the Rust bench's `Rng` (same draws, same order)."""

    def __init__(self, seed):
        self.s = seed

    def next_u64(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & M64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def normal(self):
        u1 = ((self.next_u64() >> 11) + 1.0) / float(1 << 53)
        u2 = (self.next_u64() >> 11) / float(1 << 53)
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def random_walks(torch, n, length, seed):
    """`[n, length]` float32 walks with a random level (the Rust bench's `random_walk_values`)."""
    rng, rows = SplitMix(seed), []
    for _ in range(n):
        x, row = 10.0 * rng.normal(), []
        for _ in range(length):
            x += rng.normal()
            row.append(x)
        rows.append(row)
    return torch.tensor(rows, dtype=torch.float32)


def inputs_for(torch, name):
    """The predict inputs and batch_size: one model call of 64 (univariate) or 192 rows."""
    target = random_walks(torch, B, CTX, seed=0)
    if name == "chronos2":
        return [target[i] for i in range(B)], B
    # Covariates: walk 2i is series i's past-only `a`, walk 2i+1 its known-future `b` (CTX + H steps).
    cov = random_walks(torch, 2 * B, CTX + H, seed=1)
    inputs = [{"target": target[i],
               "past_covariates": {"a": cov[2 * i, :CTX], "b": cov[2 * i + 1, :CTX]},
               "future_covariates": {"b": cov[2 * i + 1, CTX:]}} for i in range(B)]
    return inputs, 3 * B


def infer(name, models_dir):
    import torch
    from chronos import BaseChronosPipeline

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    torch.set_num_interop_threads(1)
    warm, iters = MODELS[name]
    rss0 = rss_mb()
    inputs, batch_size = inputs_for(torch, name)
    t = time.perf_counter()
    pipe = BaseChronosPipeline.from_pretrained(os.path.join(models_dir, SUBDIR), device_map="cpu",
                                               dtype=torch.float32)
    load_s = time.perf_counter() - t
    rss_load = rss_mb()
    median_at = pipe.quantiles.index(0.5)

    def call():
        with torch.inference_mode():
            out = pipe.predict(inputs, prediction_length=H, batch_size=batch_size)
        assert len(out) == B and tuple(out[0].shape) == (1, len(pipe.quantiles), H), out[0].shape
        return out

    out = None
    for _ in range(warm):
        out = call()
    check = [round(float(out[0][0, median_at, s]), 5) for s in CHECK_STEPS]
    load1 = os.getloadavg()[0]
    busy = busy_fraction()
    walls, cpus = [], []
    for _ in range(iters):
        c, w0 = cpu_s(), time.perf_counter()
        call()
        walls.append(time.perf_counter() - w0)
        cpus.append(cpu_s() - c)
    med = statistics.median(walls)
    import chronos
    rows = B if name == "chronos2" else 3 * B
    return {
        "side": "python", "bench": "infer", "model": name, "batch": B, "rows": rows, "context": CTX, "horizon": H,
        "note": f"Chronos2Pipeline.predict, batch_size={batch_size}: one model call of {rows} rows",
        "warmup": warm, "iters": iters, "median_call_s": round(med, 4), "min_call_s": round(min(walls), 4),
        "samples_per_s": round(B / med, 2), "median_cpu_s_per_call": round(statistics.median(cpus), 4),
        "load_s": round(load_s, 3), "peak_rss_mb": round(rss_mb(), 1), "rss_at_start_mb": round(rss0, 1),
        "rss_after_load_mb": round(rss_load, 1), "threads": torch.get_num_threads(),
        "loadavg_1m_before": round(load1, 2), "cpu_busy_before": round(busy, 3), "cores": os.cpu_count(),
        "torch": torch.__version__, "chronos": getattr(chronos, "__version__", "?"),
        "check_median": check, "call_times_s": [round(x, 4) for x in walls],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["infer"])
    ap.add_argument("model", choices=sorted(MODELS))
    ap.add_argument("--models", default=os.environ.get("TSFM_BENCH_MODELS", "/work/bench-models/models"))
    args = ap.parse_args()
    sub = os.path.join(args.models, SUBDIR)
    if not os.path.isfile(os.path.join(sub, "config.json")):
        sys.exit(f"{sub}: no config.json; build the model first (see bench/chronos2.sh)")
    print(json.dumps(infer(args.model, args.models)), flush=True)


if __name__ == "__main__":
    main()
