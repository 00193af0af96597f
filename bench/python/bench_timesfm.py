"""Inference speed and peak memory of the official `timesfm` 3.0.2 package (TimesFM 2.5, CPU, PyTorch).

    python bench/python/bench_timesfm.py infer MODEL [--models DIR]
MODEL: timesfm (the official API: TimesFM_2p5_200M_torch.compile(ForecastConfig(max_context=512,
max_horizon=128, per_core_batch_size=64, normalize_inputs, use_continuous_quantile_head,
force_flip_invariance, infer_is_positive, fix_quantile_crossing all True)) then forecast(64, inputs):
two decode passes, x and -x) or timesfm-raw (module.decode(64, inputs, masks) once: one prefill
forward, no flip pass).  DIR holds timesfm-2.5-200m/ (config.json with a `definition` block +
model.safetensors: a real-size random-init model, see bench/timesfm.sh; default $TSFM_BENCH_MODELS
or /work/bench-models/models).  torch_compile off, as shared/reference/scripts/bench.py runs it.

Workload: batch 64 seeded random walks, context 512, horizon 64, float32,
torch.set_num_threads($BENCH_THREADS, default 2).  Same JSON line as bench_chronos.py (whose
helpers it uses), so measure.py and summarize.py read it.
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_chronos import B, CTX, H, busy_fraction, cpu_s, random_walk, rss_mb  # noqa: E402

MODELS = {  # name -> (warm-up calls, timed calls)
    "timesfm": (1, 3),
    "timesfm-raw": (1, 5),
}
SUBDIR = "timesfm-2.5-200m"


def load_module(path):
    """The official torch module with the definition stored in config.json (as shared/reference/scripts/common.py)."""
    import torch
    from safetensors.torch import load_file
    from timesfm import configs as Cf
    from timesfm.timesfm_2p5 import timesfm_2p5_base as base
    from timesfm.timesfm_2p5 import timesfm_2p5_torch as T

    cfg = json.load(open(os.path.join(path, "config.json")))["definition"]
    rb = lambda d: Cf.ResidualBlockConfig(**d)  # noqa: E731
    st = cfg["stacked_transformers"]
    definition = base.TimesFM_2p5_200M_Definition(
        input_patch_len=cfg["input_patch_len"], output_patch_len=cfg["output_patch_len"],
        output_quantile_len=cfg["output_quantile_len"], quantiles=cfg["quantiles"], decode_index=cfg["decode_index"],
        tokenizer=rb(cfg["tokenizer"]),
        stacked_transformers=Cf.StackedTransformersConfig(
            num_layers=st["num_layers"], transformer=Cf.TransformerConfig(**st["transformer"])),
        output_projection_point=rb(cfg["output_projection_point"]),
        output_projection_quantiles=rb(cfg["output_projection_quantiles"]))
    cls = type("TimesFM_2p5_bench_module", (T.TimesFM_2p5_200M_torch_module,), {"config": definition})
    m = cls()
    m.load_state_dict(load_file(os.path.join(path, "model.safetensors")), strict=True)
    return m.eval()


def infer(name, models_dir):
    import torch
    from timesfm import ForecastConfig
    from timesfm.timesfm_2p5 import timesfm_2p5_torch as T

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    torch.set_num_interop_threads(1)
    warm, iters = MODELS[name]
    rss0 = rss_mb()
    ctx = random_walk(torch, B, CTX, seed=2)
    t = time.perf_counter()
    module = load_module(os.path.join(models_dir, SUBDIR))
    if name == "timesfm":
        w = T.TimesFM_2p5_200M_torch.__new__(T.TimesFM_2p5_200M_torch)  # the API around a module we built
        w.model, w.torch_compile = module, False
        w.compile(ForecastConfig(max_context=CTX, max_horizon=128, per_core_batch_size=B, normalize_inputs=True,
                                 use_continuous_quantile_head=True, force_flip_invariance=True,
                                 infer_is_positive=True, fix_quantile_crossing=True))
        inputs = [r.numpy() for r in ctx]

        def call():
            point, quantiles = w.forecast(horizon=H, inputs=list(inputs))
            assert point.shape == (B, H), point.shape
        note = "official forecast() API, recommended flags; force_flip_invariance => 2 decode passes (x, -x)"
    else:
        masks = torch.zeros(B, CTX, dtype=torch.bool)

        def call():
            point, _, _ = module.decode(H, ctx, masks)  # runs under torch.no_grad()
            assert point.shape[0] == B, point.shape
        note = "module.decode() only: one prefill forward (heads on every patch), no flip-invariance pass"
    load_s = time.perf_counter() - t
    rss_load = rss_mb()
    for _ in range(warm):
        call()
    load1 = os.getloadavg()[0]
    busy = busy_fraction()
    walls, cpus = [], []
    for _ in range(iters):
        c, w0 = cpu_s(), time.perf_counter()
        call()
        walls.append(time.perf_counter() - w0)
        cpus.append(cpu_s() - c)
    med = statistics.median(walls)
    import timesfm
    return {
        "side": "python", "bench": "infer", "model": name, "batch": B, "context": CTX, "horizon": H, "note": note,
        "warmup": warm, "iters": iters, "median_call_s": round(med, 4), "min_call_s": round(min(walls), 4),
        "samples_per_s": round(B / med, 2), "median_cpu_s_per_call": round(statistics.median(cpus), 4),
        "load_s": round(load_s, 3), "peak_rss_mb": round(rss_mb(), 1), "rss_at_start_mb": round(rss0, 1),
        "rss_after_load_mb": round(rss_load, 1), "threads": torch.get_num_threads(),
        "loadavg_1m_before": round(load1, 2), "cpu_busy_before": round(busy, 3), "cores": os.cpu_count(),
        "torch": torch.__version__, "timesfm": getattr(timesfm, "__version__", "?"),
        "call_times_s": [round(x, 4) for x in walls],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["infer"])
    ap.add_argument("model", choices=sorted(MODELS))
    ap.add_argument("--models", default=os.environ.get("TSFM_BENCH_MODELS", "/work/bench-models/models"))
    args = ap.parse_args()
    sub = os.path.join(args.models, SUBDIR)
    if not os.path.isfile(os.path.join(sub, "config.json")):
        sys.exit(f"{sub}: no config.json; build the model first (see bench/timesfm.sh)")
    print(json.dumps(infer(args.model, args.models)), flush=True)


if __name__ == "__main__":
    main()
