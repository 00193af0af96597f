"""Build the demo Chronos-2 checkpoint `data/models/chronos2-demo` (random init, seeded).

The Chronos-2 demo (configs/experiments/chronos2_demo.yaml) fine-tunes this checkpoint on the
bundled synthetic CGM data with two insulin covariates (iob, insulin_availability), beside the
TTM, Chronos-Bolt and TimesFM demos, so that `tsfm compare` shows the families side by side.
The checkpoint only fixes the architecture: the official `Chronos2Model` at a small size
(d_model 64, 2 layers of 4 heads, no dropout), patches of 8 readings (40 min), two output
patches (80 min), an 8-hour context (96 x 5 min) and the released model's 21 quantile levels.
The weights follow `Chronos2Model._init_weights` (the Mesh-TensorFlow T5 scheme), applied
explicitly as /work/shared/reference/scripts/common.py `chronos2_init_weights` does: under
transformers 5.x the generic init (N(0, 1) everywhere) wins and a small model starts at NaN.

Usage: /work/venv/bin/python tools/reference/make_demo_chronos2_checkpoint.py [OUT_DIR] [key=value ...]
(chronos-forecasting 2.3.2 + transformers 5.24 + torch). Extra key=value pairs (JSON values)
override the core config (`chronos.KEY=VALUE` the chronos_config), for trying variants; the
shipped checkpoint uses none.
"""
import copy
import json
import os
import sys

import torch
from chronos.chronos2 import Chronos2CoreConfig, Chronos2Model
from chronos.chronos2.layers import MHA, MLP, Chronos2LayerNorm, ResidualBlock

SEED = 42
CORE = dict(d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4, dropout_rate=0.0,
            layer_norm_epsilon=1e-6, initializer_factor=1.0, feed_forward_proj="relu",
            rope_theta=10000.0)
CHRONOS = dict(context_length=96, input_patch_size=8, input_patch_stride=8, output_patch_size=8,
               max_output_patches=2,
               quantiles=[0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5,
                          0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99],
               use_reg_token=True, use_arcsinh=True)


def init_weights(model, factor):
    """`Chronos2Model._init_weights`, module by module, drawing from the torch RNG in order."""
    c = model.config
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, Chronos2LayerNorm):
                mod.weight.fill_(factor)
            elif isinstance(mod, MLP):
                mod.wi.weight.normal_(0.0, factor * c.d_model ** -0.5)
                mod.wo.weight.normal_(0.0, factor * c.d_ff ** -0.5)
            elif isinstance(mod, MHA):
                mod.q.weight.normal_(0.0, factor * (c.d_model * c.d_kv) ** -0.5)
                mod.k.weight.normal_(0.0, factor * c.d_model ** -0.5)
                mod.v.weight.normal_(0.0, factor * c.d_model ** -0.5)
                mod.o.weight.normal_(0.0, factor * (c.num_heads * c.d_kv) ** -0.5)
            elif isinstance(mod, ResidualBlock):
                for lin in (mod.hidden_layer, mod.residual_layer, mod.output_layer):
                    lin.weight.normal_(0.0, factor * lin.weight.size(-1) ** -0.5)
                    lin.bias.zero_()
        model.shared.weight.normal_(0.0, factor)


def main():
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = sys.argv[1:]
    out = os.path.join(repo, "data", "models", "chronos2-demo")
    if args and "=" not in args[0]:
        out = args.pop(0)
    core, chronos = dict(CORE), dict(CHRONOS)
    for kv in args:
        key, value = kv.split("=", 1)
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
        if key.startswith("chronos."):
            chronos[key[len("chronos."):]] = value
        else:
            core[key] = value
    torch.manual_seed(SEED)
    cfg = Chronos2CoreConfig(**core)
    cfg.chronos_config = copy.deepcopy(chronos)
    cfg.chronos_pipeline_class = "Chronos2Pipeline"
    cfg.architectures = ["Chronos2Model"]
    model = Chronos2Model(cfg)
    init_weights(model, core["initializer_factor"])
    model.save_pretrained(out, safe_serialization=True)
    n = sum(p.numel() for p in model.parameters())
    print(f"wrote {out}: {n} parameters")


if __name__ == "__main__":
    main()
