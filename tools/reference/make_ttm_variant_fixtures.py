"""Regenerate crates/tsfm-models/tests/data/ttm-variants/ from granite-tsfm 0.3.11.

The ttm-tiny fixture (make_ttm_fixtures.py) covers the r2 architecture: one channel,
common_channel mode, adaptive patching, decoder with adapter. This script covers the TTM
features it leaves out, each in a tiny randomly initialised model built with the official
package:

    mix-channel      mode / decoder_mode = mix_channel, 3 channels, sincos positional encoding,
                     pinball loss
    exog-mixer       forecast channel mixer with exogenous channels: prediction [0, 2],
                     exogenous [3] (channel 1 past-only), fcm_context_length 2, fcm_use_mixer,
                     fcm_prepend_past; masked MSE loss (future_observed_mask)
    exog-offset      exogenous only (prediction channels derived), fcm_prepend_past_offset 3,
                     prediction_filter_length 5, no mixer, MAE loss
    fcm-plain        forecast channel mixing without exogenous channels, fcm_prepend_past
                     false, no gate in the mixer, sigmoid gates elsewhere, no scaling
    freq-token       resolution_prefix_tuning with a freq_token per window, decoder_raw_residual,
                     Huber loss
    filter           prediction_filter_length 5 of 8, no decoder, mean scaling

For each variant it writes <variant>/model/{config.json, model.safetensors} (save_pretrained,
then reloaded so the outputs come from the saved weights), inputs.safetensors,
outputs.safetensors (prediction, loc/scale, every hidden state, a masked-context case, the loss)
and grads.safetensors (d loss / d param, eval mode). freq_token is stored as float32 (integral
values); it is passed to the model as int64.

Setup and usage as for make_ttm_fixtures.py:
    venv/bin/python tools/reference/make_ttm_variant_fixtures.py [--check]
--check compares with the committed files instead of writing them (exit 1 on a difference;
models are rebuilt from the same seeds).
"""
import argparse
import math
import os
import shutil
import sys
import tempfile

import torch
from safetensors.torch import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "crates", "tsfm-models", "tests", "data", "ttm-variants")

BASE = dict(
    context_length=32,
    patch_length=4,
    patch_stride=4,
    prediction_length=8,
    d_model=16,
    decoder_d_model=8,
    expansion_factor=2,
    num_layers=2,
    decoder_num_layers=2,
    dropout=0.2,
    head_dropout=0.2,
    scaling="std",
    loss="mse",
)

# name -> (config overrides, past length of the main case, past length of the masked case,
#          whether the loss uses a future_observed_mask)
VARIANTS = {
    "mix-channel": (
        dict(num_input_channels=3, mode="mix_channel", decoder_mode="mix_channel",
             adaptive_patching_levels=2, use_positional_encoding=True,
             positional_encoding_type="sincos", loss="pinball", quantile=0.3),
        40, 28, False),
    "exog-mixer": (
        dict(num_input_channels=4, prediction_channel_indices=[2, 0], exogenous_channel_indices=[3],
             enable_forecast_channel_mixing=True, fcm_context_length=2, fcm_use_mixer=True,
             fcm_mix_layers=2, fcm_prepend_past=True, fcm_gated_attn=True),
        32, 32, True),
    "exog-offset": (
        dict(num_input_channels=3, exogenous_channel_indices=[1], enable_forecast_channel_mixing=True,
             fcm_context_length=1, fcm_use_mixer=False, fcm_prepend_past=True,
             fcm_prepend_past_offset=3, prediction_filter_length=5, loss="mae"),
        36, 32, False),
    "fcm-plain": (
        dict(num_input_channels=2, enable_forecast_channel_mixing=True, fcm_context_length=1,
             fcm_prepend_past=False, fcm_gated_attn=False, scaling=None, gate_mode="sigmoid"),
        32, 32, False),
    "freq-token": (
        dict(num_input_channels=2, resolution_prefix_tuning=True, frequency_token_vocab_size=7,
             decoder_raw_residual=True, adaptive_patching_levels=1, loss="huber", huber_delta=0.5),
        32, 24, False),
    "filter": (
        dict(num_input_channels=2, prediction_filter_length=5, use_decoder=False, scaling="mean"),
        32, 32, True),
}

BATCH = 3


def perturb(model, seed, std=0.1):
    """Parameters initialised to a constant (norm scales, zero biases) get noise, so the parity
    test sees them; sincos tables are left alone."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            flat = p.detach().flatten()
            if p.requires_grad and (flat.numel() == 1 or torch.all(flat == flat[0])):
                p.add_(torch.randn(p.shape, generator=g) * std)


def series(seed, length, channels):
    """Smooth series with a different level and amplitude per channel, plus a little noise."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(length, dtype=torch.float32)
    out = torch.empty(BATCH, length, channels)
    for b in range(BATCH):
        for c in range(channels):
            period = 5.0 + 3.0 * c + b
            level = 2.0 * c - 1.0 + 0.5 * b
            amp = 1.0 + 0.4 * c
            out[b, :, c] = level + amp * torch.sin(2 * math.pi * t / period + 0.3 * b)
    return out + 0.05 * torch.randn(out.shape, generator=g)


def build(name, seed):
    from tsfm_public.models.tinytimemixer import TinyTimeMixerConfig, TinyTimeMixerForPrediction

    overrides = VARIANTS[name][0]
    torch.manual_seed(seed)
    cfg = TinyTimeMixerConfig(**{**BASE, **overrides})
    cfg.architectures = ["TinyTimeMixerForPrediction"]
    model = TinyTimeMixerForPrediction(cfg)
    perturb(model, seed + 100)
    return model


def compute(name, seed, model_dir):
    from tsfm_public.models.tinytimemixer import TinyTimeMixerForPrediction

    torch.set_num_threads(1)
    _, past_len, masked_len, future_mask = VARIANTS[name]
    built = build(name, seed)
    built.save_pretrained(model_dir, safe_serialization=True)
    model = TinyTimeMixerForPrediction.from_pretrained(model_dir).eval()
    cfg = model.config
    c, h = cfg.num_input_channels, cfg.prediction_length
    full = series(seed, past_len + h, c)
    inp = {"past_values": full[:, :past_len].contiguous(), "future_values": full[:, past_len:].contiguous()}
    kw = {}
    if cfg.resolution_prefix_tuning:
        tokens = torch.tensor([0, 3, 6][:BATCH])
        inp["freq_token"] = tokens.float()
        kw["freq_token"] = tokens
    # Forecast-channel targets (what the generic Forecaster takes as future_values).
    pred = cfg.prediction_channel_indices or list(range(c))
    h_out = cfg.prediction_filter_length or h
    if future_mask:
        fm = torch.ones(BATCH, h, c)
        fm[0, 1:3, :] = 0.0
        fm[2, h - 1, pred[-1]] = 0.0
        inp["future_observed_mask"] = fm
        kw["future_observed_mask"] = fm
    inp["future_target_values"] = inp["future_values"][:, :h_out, pred].contiguous()
    if future_mask:
        inp["future_target_mask"] = fm[:, :h_out, pred].contiguous()

    # Masked context: a short window (left-padded by the model) with missing steps.
    mp = full[:, past_len - masked_len:past_len].clone()
    mm = torch.ones_like(mp)
    mm[1, :6, 0] = 0.0
    mm[2, 3:9, c - 1] = 0.0
    mm[0, :, c - 1] = 0.0  # a channel with no observation at all
    mp[mm == 0] = 0.0
    inp["masked_past_values"], inp["masked_past_observed_mask"] = mp, mm

    out = {}
    with torch.no_grad():
        o = model(past_values=inp["past_values"], future_values=inp["future_values"],
                  output_hidden_states=True, return_dict=True, **{k: v for k, v in kw.items() if k == "freq_token"})
        out["prediction_outputs"] = o.prediction_outputs
        out["loc"], out["scale"] = o.loc, o.scale
        out["backbone_hidden_state"] = o.backbone_hidden_state
        out["decoder_hidden_state"] = o.decoder_hidden_state
        for i, hs in enumerate(o.hidden_states):
            out[f"hidden_states.{i}"] = hs
        m = model(past_values=mp, past_observed_mask=mm, future_values=inp["future_values"], return_dict=True,
                  **{k: v for k, v in kw.items() if k == "freq_token"})
        out["masked_prediction_outputs"] = m.prediction_outputs
        out["masked_loc"], out["masked_scale"] = m.loc, m.scale
    model.zero_grad()
    o = model(past_values=inp["past_values"], future_values=inp["future_values"], return_dict=True, **kw)
    o.loss.backward()
    out["loss"] = o.loss.detach().reshape(1)
    # Parameter counts after from_pretrained (which leaves every parameter trainable).
    out["num_params"] = torch.tensor([float(sum(p.numel() for p in model.parameters()))])
    out["num_trainable_params"] = torch.tensor(
        [float(sum(p.numel() for p in model.parameters() if p.requires_grad))])
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    clean = lambda d: {k: v.detach().float().contiguous().clone() for k, v in d.items()}
    return clean(inp), clean(out), clean(grads)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    bad = 0
    for seed, name in enumerate(VARIANTS):
        vdir = os.path.join(DATA, name)
        mdir = os.path.join(vdir, "model")
        if args.check:
            tmp = tempfile.mkdtemp()
            files = compute(name, seed, tmp)
            shutil.rmtree(tmp)
            for fname, new in zip(("inputs", "outputs", "grads"), files):
                old = load_file(os.path.join(vdir, f"{fname}.safetensors"))
                for k in sorted(set(old) | set(new)):
                    if k not in old or k not in new or not torch.allclose(old[k], new[k], atol=1e-6, rtol=1e-5):
                        print(f"{name}/{fname}: {k} differs")
                        bad += 1
            continue
        os.makedirs(mdir, exist_ok=True)
        inp, out, grads = compute(name, seed, mdir)
        save_file(inp, os.path.join(vdir, "inputs.safetensors"))
        save_file(out, os.path.join(vdir, "outputs.safetensors"))
        save_file(grads, os.path.join(vdir, "grads.safetensors"))
        print(f"{name}: {len(inp)} inputs, {len(out)} outputs, {len(grads)} gradients")
    if args.check:
        print("ok" if bad == 0 else f"{bad} differences")
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
