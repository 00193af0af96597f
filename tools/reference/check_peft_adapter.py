"""Check a LoRA adapter (as `tsfm` writes it) with the official peft on the official Chronos models.

    venv/bin/python tools/reference/check_peft_adapter.py BASE_DIR ADAPTER_DIR [MERGED_DIR]
        [--atol 1e-4] [--rtol 1e-4]

BASE_DIR: the base checkpoint (config.json + model.safetensors); ADAPTER_DIR: adapter_config.json +
adapter_model.safetensors; MERGED_DIR: the merged checkpoint tsfm wrote for the same adapter.
The adapter goes on with peft.PeftModel.from_pretrained(model, ADAPTER_DIR):
  - Chronos-Bolt: on ChronosBoltModelForForecasting; output = model(context).quantile_preds.
    (peft >= 0.18 asks every model for get_input_embeddings(), which this class does not define:
    it is given `shared`, the [REG]/decoder-start embedding, before the adapter is applied.)
  - Chronos-T5: on the inner T5ForConditionalGeneration; output = the teacher-forced logits for
    decoder inputs [0, greedy tokens of the adapted model[:-1]] (greedy = generate, do_sample False,
    min_new_tokens = max_new_tokens = prediction_length), and the greedy tokens themselves.
Input: the deterministic context of the reference fixtures (make_series(context_length) of
make_chronos_fixtures.py: 4 rows, NaN prefix in row 3).
With MERGED_DIR the adapted output is compared with the merged checkpoint's (loaded with
BaseChronosPipeline.from_pretrained); without it, with peft's own merge_and_unload() of the adapted
model.  Prints the max abs difference; exit 1 when |diff| > atol + rtol * |merged| anywhere (or a
greedy token differs), 2 on unusable arguments.
"""
import argparse
import copy
import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def bolt_outputs(model, ctx):
    import torch
    with torch.no_grad():
        return {"quantile_preds": model(context=ctx).quantile_preds}


def t5_outputs(model, tokenizer, cc, ctx, tokens=None):
    """Greedy tokens of `model` (unless given) and the teacher-forced logits for them."""
    import torch
    from transformers import GenerationConfig
    ids, am, _ = tokenizer.context_input_transform(ctx)
    with torch.no_grad():
        if tokens is None:
            H = cc.prediction_length
            tokens = model.generate(input_ids=ids, attention_mask=am, generation_config=GenerationConfig(
                min_new_tokens=H, max_new_tokens=H, do_sample=False, num_beams=1,
                eos_token_id=cc.eos_token_id, pad_token_id=cc.pad_token_id))[:, 1:]
        dec_in = torch.cat([torch.zeros_like(tokens[:, :1]), tokens[:, :-1]], dim=1)
        logits = model(input_ids=ids, attention_mask=am, decoder_input_ids=dec_in).logits
    return {"greedy_tokens": tokens, "logits": logits}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("base")
    ap.add_argument("adapter")
    ap.add_argument("merged", nargs="?")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--rtol", type=float, default=1e-4)
    args = ap.parse_args()
    for d, files in ((args.base, ["config.json"]), (args.adapter, ["adapter_config.json"]),
                     (args.merged, ["config.json"])):
        for fn in files if d else []:
            if not os.path.isfile(os.path.join(d, fn)):
                print(f"{d}: no {fn}", file=sys.stderr)
                return 2

    import torch
    from chronos import BaseChronosPipeline, ChronosConfig
    from make_chronos_fixtures import make_series
    from peft import PeftModel

    torch.set_num_threads(1)
    config = json.load(open(os.path.join(args.base, "config.json")))
    arch = (config.get("architectures") or [""])[0]
    cc_dict = config.get("chronos_config") or {}
    if "context_length" not in cc_dict:
        print(f"{args.base}: config.json has no chronos_config", file=sys.stderr)
        return 2
    ctx = make_series(cc_dict["context_length"])

    if arch == "ChronosBoltModelForForecasting":
        from chronos.chronos_bolt import ChronosBoltModelForForecasting
        base = ChronosBoltModelForForecasting.from_pretrained(args.base).eval()
        base_out = bolt_outputs(base, ctx)
        base.get_input_embeddings = lambda: base.shared
        peft_model = PeftModel.from_pretrained(base, args.adapter).eval()
        adapted = peft_model.get_base_model()
        out = bolt_outputs(adapted, ctx)
        if args.merged:
            ref = bolt_outputs(BaseChronosPipeline.from_pretrained(args.merged, device_map="cpu",
                                                                   dtype=torch.float32).model.eval(), ctx)
        else:
            ref = bolt_outputs(copy.deepcopy(peft_model).merge_and_unload().eval(), ctx)
    elif arch == "T5ForConditionalGeneration":
        from transformers import T5ForConditionalGeneration
        cc = ChronosConfig(**cc_dict)
        tokenizer = cc.create_tokenizer()
        base = T5ForConditionalGeneration.from_pretrained(args.base).eval()
        base_out = t5_outputs(base, tokenizer, cc, ctx)
        peft_model = PeftModel.from_pretrained(base, args.adapter).eval()
        adapted = peft_model.get_base_model()
        out = t5_outputs(adapted, tokenizer, cc, ctx)
        if args.merged:
            merged = BaseChronosPipeline.from_pretrained(args.merged, device_map="cpu",
                                                         dtype=torch.float32).model.model.eval()
        else:
            merged = copy.deepcopy(peft_model).merge_and_unload().eval()
        ref = t5_outputs(merged, tokenizer, cc, ctx, tokens=out["greedy_tokens"])
        ref["greedy_tokens"] = t5_outputs(merged, tokenizer, cc, ctx)["greedy_tokens"]
    else:
        print(f"{args.base}: architecture {arch!r} is neither ChronosBoltModelForForecasting nor "
              "T5ForConditionalGeneration", file=sys.stderr)
        return 2

    lora = sorted({n.rsplit(".lora_", 1)[0] for n, _ in adapted.named_parameters() if ".lora_" in n})
    print(f"{arch}: {len(lora)} LoRA modules from {args.adapter}, e.g. {lora[:3]}")
    if not lora:
        print("the adapter injected no LoRA module", file=sys.stderr)
        return 1
    against = args.merged or "peft merge_and_unload()"
    bad = False
    for key, value in out.items():
        if not value.is_floating_point():
            same = torch.equal(value, ref[key])
            print(f"{key}: {'identical' if same else 'DIFFER'} (adapted vs {against}); "
                  f"{int((value != base_out[key]).sum())} differ from the base model's")
            bad |= not same
            continue
        diff = (value - ref[key]).abs()
        limit = args.atol + args.rtol * ref[key].abs()
        ok = bool((diff <= limit).all())
        print(f"{key}: max |adapted - merged| = {diff.max().item():.3g} ({'ok' if ok else 'MISMATCH'}, "
              f"atol {args.atol} + rtol {args.rtol}); max |adapted - base| = "
              f"{(value - base_out[key]).abs().max().item():.3g}")
        bad |= not ok
    print("mismatch" if bad else "ok")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
