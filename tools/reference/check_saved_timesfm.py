"""Check the forecasts of a TimesFM 2.5 checkpoint written by `tsfm` against the official timesfm package.

    venv/bin/python tools/reference/check_saved_timesfm.py DIR [--forecasts FILE] [--rtol 1e-4]
        [--write-reference FILE]

DIR: model.safetensors with the official tensor names + config.json like
crates/tsfm-models/tests/data/timesfm/model/config.json ({"model_type": "timesfm_2p5", "definition": {...}}),
optionally DIR/adapter/ (adapter_config.json + adapter_model.safetensors, a PEFT LoRA adapter whose target
modules use the official names, e.g. stacked_xf.0.attn.qkv_proj).  The model is built as
TimesFM_2p5_200M_torch_module with the definition from config.json and load_state_dict(strict=True); an
adapter goes on with peft.PeftModel.from_pretrained(module, DIR/adapter) (not merged).  Then the official API
(TimesFM_2p5_200M_torch.compile(ForecastConfig(readme case of make_timesfm_fixtures.py: max_context 64,
max_horizon 24, normalize_inputs, use_continuous_quantile_head, force_flip_invariance, infer_is_positive,
fix_quantile_crossing all True, per_core_batch_size 6)).forecast(24, inputs)) runs on the six series of
make_timesfm_fixtures.forecast_inputs() (the forecast-options fixture inputs: NaN, short, long, constant).

The result is compared with FILE (default DIR/forecasts.safetensors), which tsfm writes with keys `point`
(6, 24) and `quantiles` (6, 24, 10) ([mean, q0.1..q0.9]), float32.  Per series i the allowed difference is
rtol * scale_i, scale_i = max(1e-6, max |input_i| over non-NaN values, max |official quantiles_i|).  Prints
the max abs difference per series; exit 1 when any series is above its bound (or a key/shape is wrong), 2 on
unusable arguments.  --write-reference FILE writes the official forecasts in that format instead of
checking (used to test this script; never point it at the file tsfm wrote).
"""
import argparse
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--forecasts", help="tsfm's forecasts (default DIR/forecasts.safetensors)")
    ap.add_argument("--from-csv", metavar="CSV", help="read tsfm's forecasts from `tsfm predict --quantiles "
                    "0.1,...,0.9` output for the six series (ids s0..s5) instead of a safetensors file")
    ap.add_argument("--rtol", type=float, default=1e-4)
    ap.add_argument("--write-reference", metavar="FILE", help="write the official forecasts to FILE, no check")
    args = ap.parse_args()
    for fn in ("config.json", "model.safetensors"):
        if not os.path.isfile(os.path.join(args.dir, fn)):
            print(f"{args.dir}: no {fn}", file=sys.stderr)
            return 2
    forecasts = args.forecasts or os.path.join(args.dir, "forecasts.safetensors")
    if not args.write_reference and not args.from_csv and not os.path.isfile(forecasts):
        print(f"{forecasts} not found", file=sys.stderr)
        return 2

    import numpy as np
    import torch
    from safetensors.torch import load_file, save_file
    from make_timesfm_fixtures import CASES, forecast_inputs, load_official, official_forecast

    torch.set_num_threads(1)
    module = load_official(args.dir)
    adapter = os.path.join(args.dir, "adapter")
    if os.path.isdir(adapter):
        from peft import PeftModel
        peft_model = PeftModel.from_pretrained(module, adapter).eval()
        lora = sorted({n.rsplit(".lora_", 1)[0] for n, _ in module.named_parameters() if ".lora_" in n})
        print(f"adapter {adapter}: {len(lora)} LoRA modules, e.g. {lora[:3]}")
        if not lora:
            print("the adapter injected no LoRA module", file=sys.stderr)
            return 1
        module = peft_model.get_base_model()
    kw, H = CASES["readme"]
    inputs = forecast_inputs()
    point, quant, fc = official_forecast(module, kw, H, inputs)
    if args.write_reference:
        save_file({"point": point.contiguous(), "quantiles": quant.contiguous()}, args.write_reference)
        print(f"wrote official point {tuple(point.shape)} and quantiles {tuple(quant.shape)} to {args.write_reference}")
        return 0

    got = read_csv(args.from_csv, H) if args.from_csv else load_file(forecasts)
    if tuple(got.get("quantiles", torch.zeros(0)).shape[-1:]) == (9,):
        quant = quant[..., 1:]  # tsfm writes the nine quantile channels, not the mean channel
    bad = 0
    for key, ref in (("point", point), ("quantiles", quant)):
        if key not in got or tuple(got[key].shape) != tuple(ref.shape):
            print(f"{forecasts}: `{key}` missing or not of shape {tuple(ref.shape)}")
            bad += 1
    if bad:
        return 1
    print(f"official forecast: ForecastConfig {fc}, horizon {H}")
    for i, x in enumerate(inputs):
        scale = max(1e-6, float(np.nanmax(np.abs(x))) if not np.all(np.isnan(x)) else 0.0,
                    float(quant[i].abs().max()))
        diff = max(float((got["point"][i].float() - point[i]).abs().nan_to_num(nan=float("inf")).max()),
                   float((got["quantiles"][i].float() - quant[i]).abs().nan_to_num(nan=float("inf")).max()))
        ok = diff <= args.rtol * scale
        bad += not ok
        print(f"series {i} (len {len(x)}): max abs diff {diff:.3g} (bound {args.rtol * scale:.3g}) "
              f"{'ok' if ok else 'MISMATCH'}")
    print("ok" if bad == 0 else f"{bad} series differ")
    return 1 if bad else 0


def read_csv(path, horizon):
    """`tsfm predict` output (id,timestamp,step,point,q0.1..q0.9) for ids s0..s5 as tensors."""
    import csv
    import torch
    point, quant = torch.full((6, horizon), float("nan")), torch.full((6, horizon, 9), float("nan"))
    with open(path) as f:
        for row in csv.DictReader(f):
            i, t = int(row["id"][1:]), int(row["step"]) - 1
            point[i, t] = float(row["point"])
            quant[i, t] = torch.tensor([float(row[f"q0.{k}"]) for k in range(1, 10)])
    return {"point": point, "quantiles": quant}


if __name__ == "__main__":
    sys.exit(main())
