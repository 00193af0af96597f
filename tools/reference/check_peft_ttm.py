"""Check by hand that PEFT loads a LoRA adapter written by tsfm onto its base TTM checkpoint and
forecasts what tsfm's merged checkpoint forecasts (and what tsfm forecasts with either).

Not part of CI. Needs torch, transformers, peft and granite-tsfm 0.3.11 (installed with
`pip install --no-deps granite-tsfm==0.3.11`; its package `__init__` imports the toolkit, which
needs `datasets`, so the TTM modules are imported directly), and a built `tsfm` binary:

    cargo build -p tsfm-cli
    python tools/reference/check_peft_ttm.py --tsfm $CARGO_TARGET_DIR/debug/tsfm --work /tmp/peft-ttm

It trains two identical LoRA runs of the bundled demo on `data/models/ttm-tiny` (32 -> 16 steps),
one saved as a PEFT adapter (`training.lora.save: adapter`) and one merged, then forecasts a few
series four ways and prints the largest differences:
  - PEFT: `PeftModel.from_pretrained(base, adapter_dir)` in PyTorch;
  - merged: the merged run's `model/` loaded by granite-tsfm;
  - tsfm adapter / tsfm merged: `tsfm predict --model-path` on either folder.

Measured (peft 0.21.2, torch 2.11.0, transformers 5.24.0; 4 series x 16 steps, mmol/L):
PEFT vs merged 9.5e-7, PEFT vs tsfm adapter 1.9e-6, merged (PyTorch) vs tsfm merged 1.9e-6,
tsfm adapter vs tsfm merged 4.8e-7; PEFT's `merge_and_unload` weights vs tsfm's merged
checkpoint 6.0e-8; the adapter itself moves the forecasts by up to 2.31 from the base.
"""

import argparse
import csv
import importlib.util
import json
import os
import subprocess
import sys
import types

import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BASE = os.path.join(REPO, "data", "models", "ttm-tiny")


def import_ttm():
    """granite-tsfm's TinyTimeMixerForPrediction without the toolkit's package imports."""
    root = os.path.dirname(importlib.util.find_spec("tsfm_public").origin)
    for name, path in [("tsfm_public", root), ("tsfm_public.models", os.path.join(root, "models"))]:
        module = types.ModuleType(name)
        module.__path__ = [path]
        sys.modules[name] = module
    from tsfm_public.models.tinytimemixer import TinyTimeMixerForPrediction

    return TinyTimeMixerForPrediction


def config_yaml(work, experiment, save):
    return f"""defaults: [models/ttm_default, data/demo]
model:
  model_path: {BASE}
  params: {{context_length: 32, prediction_length: 16}}
data:
  raw_path: {os.path.join(REPO, "data/demo/brist1d/train.csv.gz")}
  cache_dir: {os.path.join(work, "cache")}
  batch_size: 32
training:
  num_epochs: null
  max_steps: 30
  learning_rate: 0.01
  eval_strategy: steps
  eval_steps: 10
  save_strategy: steps
  save_steps: 10
  logging_steps: 10
  early_stopping: {{enabled: false}}
  finetune_mode: lora
  lora: {{rank: 4, alpha: 8, dropout: 0.05, save: {save}}}
evaluation:
  nocturnal: {{enabled: false}}
output:
  save_dir: {os.path.join(work, "tsfm_results")}
  experiment_name: {experiment}
"""


def run(cmd, cwd):
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return out


def train(tsfm, work, experiment, save):
    path = os.path.join(work, f"{experiment}.yaml")
    with open(path, "w") as f:
        f.write(config_yaml(work, experiment, save))
    run([tsfm, "train", "--config", path], work)
    exp_dir = os.path.join(work, "tsfm_results", "models", "ttm", experiment)
    return os.path.join(exp_dir, os.readlink(os.path.join(exp_dir, "best_model")), "model")


def series(n_series=4, length=40):
    """Glucose-like waves in mmol/L, one per id."""
    out = {}
    for s in range(n_series):
        t = torch.arange(length, dtype=torch.float64)
        out[f"s{s}"] = (7 + (1 + s) * torch.sin(t / (3 + s)) + 0.3 * torch.cos(t * 1.7)).round(decimals=3)
    return out


def write_input(path, data):
    with open(path, "w") as f:
        f.write("id,timestamp,bg\n")
        for sid, values in data.items():
            for i, v in enumerate(values.tolist()):
                minutes = 8 * 60 + 5 * i
                f.write(f"{sid},2024-01-01T{minutes // 60:02}:{minutes % 60:02}:00,{v}\n")


def tsfm_forecasts(tsfm, work, model_dir, input_csv, name):
    output = os.path.join(work, f"{name}.csv")
    run([tsfm, "predict", "--model-path", model_dir, "--input", input_csv, "--output", output], work)
    points = {}
    with open(output) as f:
        for row in csv.DictReader(f):
            points.setdefault(row["id"], []).append(float(row["point"]))
    return torch.tensor([points[k] for k in sorted(points)], dtype=torch.float32)


def torch_forecasts(model, data, context):
    past = torch.stack([data[k][-context:] for k in sorted(data)]).to(torch.float32).unsqueeze(-1)
    with torch.no_grad():
        return model(past_values=past).prediction_outputs[..., 0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tsfm", required=True, help="the tsfm binary")
    parser.add_argument("--work", required=True, help="an empty working folder")
    args = parser.parse_args()
    tsfm = os.path.abspath(args.tsfm)
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    from peft import PeftModel

    ttm = import_ttm()
    adapter_dir = train(tsfm, work, "lora_adapter", "adapter")
    merged_dir = train(tsfm, work, "lora_merged", "merged")
    adapter_config = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
    print(f"adapter: {adapter_dir}\nmerged:  {merged_dir}")
    print(f"adapter_config.json: r={adapter_config['r']} alpha={adapter_config['lora_alpha']} "
          f"targets={adapter_config['target_modules']} base={adapter_config['base_model_name_or_path']}")

    data = series()
    input_csv = os.path.join(work, "input.csv")
    write_input(input_csv, data)
    base = ttm.from_pretrained(adapter_config["base_model_name_or_path"]).eval()
    context = base.config.context_length
    base_points = torch_forecasts(base, data, context)
    peft = PeftModel.from_pretrained(ttm.from_pretrained(adapter_config["base_model_name_or_path"]), adapter_dir).eval()
    peft_points = torch_forecasts(peft, data, context)
    merged = ttm.from_pretrained(merged_dir).eval()
    merged_points = torch_forecasts(merged, data, context)
    rust_adapter = tsfm_forecasts(tsfm, work, adapter_dir, input_csv, "tsfm_adapter")
    rust_merged = tsfm_forecasts(tsfm, work, merged_dir, input_csv, "tsfm_merged")

    # PEFT's own merge against the merged checkpoint tsfm wrote.
    unloaded = peft.merge_and_unload().state_dict()
    weights = merged.state_dict()
    weight_diff = max((unloaded[k] - weights[k]).abs().max().item() for k in weights)

    def diff(a, b):
        return (a - b).abs().max().item()

    print(f"forecasts: {tuple(peft_points.shape)} (series x steps)")
    print(f"max |PEFT - merged (PyTorch)|      = {diff(peft_points, merged_points):.3g}")
    print(f"max |PEFT - tsfm adapter|          = {diff(peft_points, rust_adapter):.3g}")
    print(f"max |merged (PyTorch) - tsfm merged| = {diff(merged_points, rust_merged):.3g}")
    print(f"max |tsfm adapter - tsfm merged|   = {diff(rust_adapter, rust_merged):.3g}")
    print(f"max |PEFT merge_and_unload - merged checkpoint| (weights) = {weight_diff:.3g}")
    print(f"max |PEFT - base| (what the adapter changes) = {diff(peft_points, base_points):.3g}")


if __name__ == "__main__":
    main()
