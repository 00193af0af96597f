"""Regenerate crates/tsfm-models/tests/data/ttm-tiny/ from granite-tsfm 0.3.11.

Loads the checkpoint in tests/data/ttm-tiny/model (config.json + model.safetensors), runs
TinyTimeMixerForPrediction on the deterministic inputs in inputs.safetensors and rewrites
outputs.safetensors (prediction, loc/scale, hidden states, masked case, MSE loss) and
grads.safetensors (d loss / d param for every parameter, eval mode).

Setup (CPU is enough; PyPI's torch is the CUDA build, about 5 GB):
    python3 -m venv venv && venv/bin/pip install granite-tsfm==0.3.11 torch==2.11.0 \
        transformers==5.24.0 safetensors
Usage:
    venv/bin/python tools/reference/make_ttm_fixtures.py [--check]
--check compares with the committed files instead of writing them (exit 1 on a difference).
"""
import argparse
import os
import sys

import torch
from safetensors.torch import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "crates", "tsfm-models", "tests", "data", "ttm-tiny")


def compute():
    from tsfm_public.models.tinytimemixer import TinyTimeMixerForPrediction

    torch.set_num_threads(1)
    model = TinyTimeMixerForPrediction.from_pretrained(os.path.join(DATA, "model")).eval()
    inp = load_file(os.path.join(DATA, "inputs.safetensors"))
    out = {}
    with torch.no_grad():
        o = model(past_values=inp["past_values"], output_hidden_states=True, return_dict=True)
        out["prediction_outputs"] = o.prediction_outputs
        out["loc"], out["scale"] = o.loc, o.scale
        out["backbone_hidden_state"] = o.backbone_hidden_state
        out["decoder_hidden_state"] = o.decoder_hidden_state
        for i, h in enumerate(o.hidden_states):
            out[f"hidden_states.{i}"] = h
        m = model(past_values=inp["masked_past_values"],
                  past_observed_mask=inp["masked_past_observed_mask"], return_dict=True)
        out["masked_prediction_outputs"] = m.prediction_outputs
        out["masked_loc"], out["masked_scale"] = m.loc, m.scale
    model.zero_grad()
    o = model(past_values=inp["past_values"], future_values=inp["future_values"], return_dict=True)
    o.loss.backward()
    out["loss_mse"] = o.loss.detach().reshape(1)
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    clean = lambda d: {k: v.detach().contiguous().clone() for k, v in d.items()}
    return clean(out), clean(grads)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    outputs, grads = compute()
    if not args.check:
        save_file(outputs, os.path.join(DATA, "outputs.safetensors"))
        save_file(grads, os.path.join(DATA, "grads.safetensors"))
        print(f"wrote {len(outputs)} outputs and {len(grads)} gradients to {DATA}")
        return
    bad = 0
    for fname, new in (("outputs.safetensors", outputs), ("grads.safetensors", grads)):
        old = load_file(os.path.join(DATA, fname))
        for k in sorted(set(old) | set(new)):
            if k not in old or k not in new or not torch.allclose(old[k], new[k], atol=1e-6, rtol=1e-5):
                print(f"{fname}: {k} differs"); bad += 1
    print("ok" if bad == 0 else f"{bad} differences")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
