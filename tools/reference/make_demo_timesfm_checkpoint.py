"""Build the demo TimesFM 2.5 checkpoint `data/models/timesfm-demo` (random init, seeded).

The TimesFM demo (configs/experiments/timesfm_demo.yaml) fine-tunes this checkpoint on the
bundled synthetic CGM data beside the TTM and Chronos-Bolt demos, so that `tsfm compare` shows
the three families side by side. The checkpoint only fixes the architecture: the official
`TimesFM_2p5_200M_torch_module` at a small size, patches of 6 readings (30 min), output patches
of 12 (60 min: one output patch is the demo's horizon), a 24-step continuous quantile head,
model dims 64, 2 layers of 4 heads. TimesFM is univariate: it reads glucose alone.

The package initialises every RMS-norm scale at 0 (its pre-trained weights set them); that
makes each transformer layer the identity at the start, so the scales are set to 1 here.

Usage: /work/venv/bin/python tools/reference/make_demo_timesfm_checkpoint.py [OUT_DIR]
(timesfm 3.0.2 + torch). Writes config.json (model_type timesfm_2p5 with the definition) and
model.safetensors with the official tensor names.
"""
import dataclasses
import json
import os
import sys

import torch
from safetensors.torch import save_file
from timesfm import configs as C
from timesfm.timesfm_2p5 import timesfm_2p5_base as base
from timesfm.timesfm_2p5 import timesfm_2p5_torch as T

SEED = 42
P, O, OS, MD, LAYERS, HEADS = 6, 12, 24, 64, 2, 4
Q = 10  # the mean and nine quantiles


def definition():
    block = lambda i, h, o, bias: C.ResidualBlockConfig(  # noqa: E731
        input_dims=i, hidden_dims=h, output_dims=o, use_bias=bias, activation="swish")
    return dataclasses.replace(
        base.TimesFM_2p5_200M_Definition(), input_patch_len=P, output_patch_len=O,
        output_quantile_len=OS, tokenizer=block(2 * P, MD, MD, True),
        stacked_transformers=C.StackedTransformersConfig(num_layers=LAYERS, transformer=C.TransformerConfig(
            model_dims=MD, hidden_dims=2 * MD, num_heads=HEADS, attention_norm="rms", feedforward_norm="rms",
            qk_norm="rms", use_bias=False, use_rotary_position_embeddings=True, ff_activation="swish",
            fuse_qkv=True)),
        output_projection_point=block(MD, MD, O * Q, False),
        output_projection_quantiles=block(MD, MD, OS * Q, False))


def main():
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo, "data", "models", "timesfm-demo")
    d = definition()
    torch.manual_seed(SEED)
    cls = type("TimesFM_2p5_demo_module", (T.TimesFM_2p5_200M_torch_module,), {"config": d})
    module = cls()
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("ln.scale"):
                p.fill_(1.0)
    os.makedirs(out, exist_ok=True)
    sd = {k: v.contiguous() for k, v in module.state_dict().items()}
    save_file(sd, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    config = {"model_type": "timesfm_2p5", "architectures": ["TimesFM_2p5_200M_torch_module"],
              "definition": {**dataclasses.asdict(d), "context_limit": 16384}}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    print(f"wrote {out}: {sum(v.numel() for v in sd.values())} parameters")


if __name__ == "__main__":
    main()
