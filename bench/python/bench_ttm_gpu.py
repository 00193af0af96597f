"""TTM-r2 512-96 on a CUDA card with PyTorch + granite-tsfm: the GPU side of bench/gpu.sh.

    python3 bench_ttm_gpu.py train MODEL_DIR   # plain loop: batch 64, MSE, AdamW(1e-3, wd 0.01)
    python3 bench_ttm_gpu.py infer MODEL_DIR   # forward of one batch of 64, no autograd
    BENCH_BATCH=N ...                          # another batch for both

The same workloads as ../shared/reference/scripts/bench.py's `train_plain` and `infer ttm`
(which run on the CPU), on `cuda:0` (BENCH_DEVICE overrides): the same random walks (torch's
generator, seeds 1 and 2), 5 warm-up steps then 20 timed for training, 3 warm-up calls then 20
timed for inference, medians. Every timed step ends with the loss read back (a device sync),
every call with the forecasts copied to the host, as tsfm's ttm_r2 bench does. Prints one JSON
line with samples/s and the card's peak allocated memory.
"""
import json
import os
import statistics
import sys
import time

import torch

# bench.py's batch; bench/gpu.sh sets BENCH_BATCH for its larger batches.
B = int(os.environ.get("BENCH_BATCH", "64"))


def random_walk(n, length, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, length, generator=g).cumsum(-1) + 10.0 * torch.randn(n, 1, generator=g)
    return x.float()


def load(model_dir, device):
    from tsfm_public.models.tinytimemixer import TinyTimeMixerForPrediction

    return TinyTimeMixerForPrediction.from_pretrained(model_dir).to(device)


def train(model_dir, device, warmup=5, steps=20):
    model = load(model_dir, device).train()
    L, P = model.config.context_length, model.config.prediction_length
    series = random_walk(B * (warmup + steps), L + P, seed=1)
    past = series[:, :L, None].contiguous().to(device)
    fut = series[:, L:, None].contiguous().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    times, losses = [], []
    for i in range(warmup + steps):
        x, y = past[i * B:(i + 1) * B], fut[i * B:(i + 1) * B]
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = model(past_values=x, future_values=y, return_dict=True)
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
        dt = time.perf_counter() - t
        if i >= warmup:
            times.append(dt)
    med = statistics.median(times)
    return dict(bench="train_plain", batch=B, warmup=warmup, steps=steps,
                median_step_s=round(med, 5), samples_per_s=round(B / med, 1),
                first_loss=round(losses[0], 4), last_loss=round(losses[-1], 4),
                step_times_s=[round(t, 5) for t in times])


def infer(model_dir, device, warmup=3, iters=20):
    model = load(model_dir, device).eval()
    x = random_walk(B, model.config.context_length, seed=2)[:, :, None].to(device)
    times = []
    for i in range(warmup + iters):
        t = time.perf_counter()
        with torch.inference_mode():
            y = model(past_values=x, return_dict=True).prediction_outputs.cpu()
        dt = time.perf_counter() - t
        if i >= warmup:
            times.append(dt)
    med = statistics.median(times)
    return dict(bench="infer", batch=B, context=model.config.context_length,
                horizon=model.config.prediction_length, warmup=warmup, iters=iters,
                median_call_s=round(med, 5), min_call_s=round(min(times), 5),
                samples_per_s=round(B / med, 1), checksum=float(y[0, 0, 0]),
                call_times_s=[round(t, 5) for t in times])


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("train", "infer"):
        raise SystemExit(__doc__)
    device = torch.device(os.environ.get("BENCH_DEVICE", "cuda:0"))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    rec = (train if sys.argv[1] == "train" else infer)(sys.argv[2], device)
    rec.update(impl="pytorch", model="ttm-r2-512-96", device=str(device), torch=torch.__version__)
    if device.type == "cuda":
        rec["gpu"] = torch.cuda.get_device_name(device)
        rec["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
