"""Inference speed and peak memory of the official chronos-forecasting pipelines (CPU, PyTorch).

    python bench/python/bench_chronos.py infer MODEL [--models DIR]
MODEL: bolt-tiny, bolt-small (ChronosBoltPipeline.predict) or t5-tiny (ChronosPipeline.predict,
20 samples).  DIR holds chronos-bolt-tiny/, chronos-bolt-small/, chronos-t5-tiny/ (random-init
real-size models from shared/reference/scripts/build_models.py; default $TSFM_BENCH_MODELS or
/work/bench-models/models).

Workload (same as shared/reference/scripts/bench.py): batch 64 seeded random walks, context 512,
horizon 64, float32, torch.set_num_threads($BENCH_THREADS, default 2).  One measurement per process,
so the peak RSS (ru_maxrss: interpreter + torch + model + activations) is this benchmark's alone.
Prints one JSON line: median/min wall seconds per predict call, samples/s = 64 / median, CPU
seconds per call (user + system of this process: steadier than wall time on a shared machine),
peak RSS, and the machine's load (1-min load average and busy fraction just before the timed calls).
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

B, CTX, H = 64, 512, 64
MODELS = {  # name -> (directory, warm-up calls, timed calls, predict kwargs)
    "bolt-tiny": ("chronos-bolt-tiny", 2, 10, {}),
    "bolt-small": ("chronos-bolt-small", 2, 5, {}),
    "t5-tiny": ("chronos-t5-tiny", 1, 3, {"num_samples": 20}),
}


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def busy_fraction(interval=1.0):
    """Share of all cores' time not idle over `interval` seconds (other jobs included)."""
    def snap():
        v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        return sum(v), v[3] + v[4]
    t0, i0 = snap()
    time.sleep(interval)
    t1, i1 = snap()
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


def random_walk(torch, n, length, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, length, generator=g).cumsum(-1) + 10.0 * torch.randn(n, 1, generator=g)).float()


def infer(name, models_dir):
    import torch
    from chronos import BaseChronosPipeline

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    torch.set_num_interop_threads(1)
    sub, warm, iters, kw = MODELS[name]
    rss0 = rss_mb()
    ctx = random_walk(torch, B, CTX, seed=2)
    t = time.perf_counter()
    pipe = BaseChronosPipeline.from_pretrained(os.path.join(models_dir, sub), device_map="cpu", dtype=torch.float32)
    load_s = time.perf_counter() - t
    rss_load = rss_mb()
    torch.manual_seed(0)

    def call():
        with torch.inference_mode():
            out = pipe.predict(ctx, prediction_length=H, **kw)
        assert out.shape[0] == B and out.shape[-1] == H, out.shape
        return out

    for _ in range(warm):
        call()
    load1 = os.getloadavg()[0]
    busy = busy_fraction()
    walls, cpus = [], []
    for _ in range(iters):
        c, w = cpu_s(), time.perf_counter()
        call()
        walls.append(time.perf_counter() - w)
        cpus.append(cpu_s() - c)
    med = statistics.median(walls)
    return {
        "side": "python", "bench": "infer", "model": name, "batch": B, "context": CTX, "horizon": H, **kw,
        "warmup": warm, "iters": iters, "median_call_s": round(med, 4), "min_call_s": round(min(walls), 4),
        "samples_per_s": round(B / med, 2), "median_cpu_s_per_call": round(statistics.median(cpus), 4),
        "load_s": round(load_s, 3), "peak_rss_mb": round(rss_mb(), 1), "rss_at_start_mb": round(rss0, 1),
        "rss_after_load_mb": round(rss_load, 1), "threads": torch.get_num_threads(),
        "loadavg_1m_before": round(load1, 2), "cpu_busy_before": round(busy, 3), "cores": os.cpu_count(),
        "torch": torch.__version__, "call_times_s": [round(x, 4) for x in walls],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["infer"])
    ap.add_argument("model", choices=sorted(MODELS))
    ap.add_argument("--models", default=os.environ.get("TSFM_BENCH_MODELS", "/work/bench-models/models"))
    args = ap.parse_args()
    sub = os.path.join(args.models, MODELS[args.model][0])
    if not os.path.isfile(os.path.join(sub, "config.json")):
        sys.exit(f"{sub}: no config.json; build the models first (see bench/README or tools/reference/README.md)")
    print(json.dumps(infer(args.model, args.models)), flush=True)


if __name__ == "__main__":
    main()
