"""Regenerate the Chronos-Bolt / Chronos-T5 parity fixtures under crates/tsfm-models/tests/data/
from the official chronos-forecasting 2.3.2 (torch 2.11.0 CPU, transformers 5.24.0).

Setup (tools/reference/README.md): python3 -m venv /work/venv && /work/venv/bin/pip install
    chronos-forecasting==2.3.2 torch==2.11.0 transformers==5.24.0 safetensors numpy==2.4.6 peft
Usage:
    venv/bin/python tools/reference/make_chronos_fixtures.py [--check] [--only SET[,SET]]
SET is one of bolt-train, bolt-variants, t5-train, t5-variants (default: all).  --check recomputes
every tensor (variant models are rebuilt from their seeds into a temporary folder and their weights
compared too) and compares with the committed files instead of writing them; exit 1 on a difference.
Everything runs single-threaded (OMP_NUM_THREADS=1, torch.set_num_threads(1), deterministic
algorithms) so reruns are bit-identical.  All tensors are float32 unless a manifest says otherwise;
token ids int64, boolean masks stored as uint8.  Every directory's manifest.json describes each tensor
(shape, dtype, how it was produced), the call, package versions and suggested tolerances.

Deterministic series (same generator as shared/reference/scripts/make_reference.py), make_series(L):
    rng = numpy.random.default_rng(20240601); t = arange(L)
    row 0: sin(2 pi t / 12) + 0.1 N(0,1)      row 1: 100 + cumsum(N(0,1))
    row 2: 5.0 constant                        row 3: 0.01 (t % 7) - 0.02 + 0.001 N(0,1), first 10 NaN
A case that needs a context of length L and a target of length H takes make_series(L + H) and splits
it at L (so the target continues the context); the target gets NaN at the positions TARGET_NAN.

1. chronos-bolt/model/  = byte copy of shared/reference/models/chronos-bolt-fixture/{config.json,
   model.safetensors} (d_model 16, 2+2 layers, context 64, patch 8, H 16, 9 quantiles, [REG]).
   chronos-bolt-train/  = training loss of ChronosBoltModelForForecasting.forward on that model, eval
   mode (dropout off):
     case 1: context (4,64) and target (4,16) from make_series(80); mask = ~isnan(context) as float,
       target_mask = ~isnan(target) as bool; model(context, mask, target, target_mask).
       Loss as the package computes it: target normalised with the context's loc/scale, masked values
       set to 0, pinball 2*|(y - q) * (1[y <= q] - tau)| * target_mask over (B, Q, H), then
       mean over the QUANTILE axis (dim -2, the package's comment says horizon), sum over the horizon,
       mean over the batch.  grads.safetensors: d loss / d param for every named parameter
       (shared.weight gets the [REG] and decoder-start-token gradients: encoder/decoder embed_tokens
       are tied to it).
     case 2 ("_long"): context (4,70) > context_length (encode keeps the last 64 values), target (4,12)
       < prediction_length (forward pads target and mask with 0 to 16), mask=None and target_mask=None
       (the defaults: ~isnan); grads_long.safetensors.
2. chronos-bolt-variants/<name>/: random-init tiny Bolt models built with the package's class
   (seed, initializer_factor 1.0, then every constant-initialised tensor gets N(0, 0.1) noise), saved
   with save_pretrained and reloaded with BaseChronosPipeline.from_pretrained.  Variants in
   BOLT_VARIANTS below.  Per variant: encode()/decode() intermediates, model(context) quantile_preds,
   pipe.predict at H and 3H, pipe.predict_quantiles at 7 levels (outside the training range too, the
   interpolation path) at H and 3H, and the case-1 loss + grads.
3. chronos-t5/model/ = byte copy of shared/reference/models/chronos-t5-fixture/{config.json,
   generation_config.json,model.safetensors} (d_model 16, context 64, H 8, 128 tokens, tied lm_head).
   chronos-t5-train/ = the loss of scripts/training/train.py (ChronosDataset.to_hf_format then
   T5ForConditionalGeneration(input_ids, attention_mask, labels).loss), eval mode: context (4,64) and
   target (4,8) from make_series(72); input_ids, attention_mask, scale =
   tokenizer.context_input_transform(context) (EOS appended); labels, labels_mask =
   tokenizer.label_input_transform(target, scale) (same scale, EOS appended); labels[~labels_mask] =
   -100; decoder_input_ids = model._shift_right(labels) = [0, labels[:-1]] with -100 -> 0 (pad);
   loss = CrossEntropy(ignore_index=-100) mean over the non-ignored label tokens of the whole batch;
   logits (B, H+1, vocab); grads for every parameter (shared.weight includes the tied lm_head's).
   train.py's training mode also drops random values (drop_prob) first: not reproduced here, the
   NaN positions are fixed instead.
4. chronos-t5-variants/<name>/: random-init tiny Chronos-T5 models (T5_VARIANTS below; built like
   2.).  Per variant: tokenizer outputs, encoder states, teacher-forced logits for [0, greedy[:-1]],
   greedy generate (do_sample False, min_new_tokens = max_new_tokens = H so EOS is suppressed at every
   step), pipe.predict(context, 2H+3, num_samples=1, top_k=1) (top-1 sampling = greedy; after each
   H-block the pipeline appends the median sample to the context and tokenizes again with a new
   scale), predict_quantiles on the same call, and the train.py loss + grads as in 3.
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

warnings.filterwarnings("ignore")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "crates", "tsfm-models", "tests", "data")
SHARED_DEFAULT = os.path.join(os.path.dirname(ROOT), "shared", "reference")
SEED = 20240601
TOL = {"atol": 1e-5, "rtol": 1e-4, "token ids": "exact"}
QUANTILE_LEVELS = [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95]
# (row, first, last) ranges of the target set to NaN; positions past a shorter target are skipped.
TARGET_NAN = [(0, 3, 3), (2, 10, 11), (3, 15, 15)]
TARGET_NAN_T5 = [(0, 2, 2), (3, 5, 6)]

# ----------------------------------------------------------------------------- model definitions
# Same constants as shared/reference/scripts/common.py (T5 defaults of the Chronos checkpoints).
T5_COMMON = dict(classifier_dropout=0.0, d_kv=64, decoder_start_token_id=0, dense_act_fn="relu",
                 dropout_rate=0.1, eos_token_id=1, feed_forward_proj="relu", initializer_factor=1.0,
                 is_encoder_decoder=True, is_gated_act=False, layer_norm_epsilon=1e-6, n_positions=512,
                 pad_token_id=0, relative_attention_max_distance=128, relative_attention_num_buckets=32,
                 use_cache=True)
TINY = dict(d_model=16, d_ff=32, d_kv=8, num_heads=2, num_layers=2, num_decoder_layers=2)
BOLT_BASE = dict(context_length=64, input_patch_size=8, input_patch_stride=8, prediction_length=16,
                 quantiles=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], use_reg_token=True)
T5_BASE = dict(tokenizer_class="MeanScaleUniformBins", tokenizer_kwargs={"low_limit": -15.0, "high_limit": 15.0},
               n_tokens=128, n_special_tokens=2, pad_token_id=0, eos_token_id=1, use_eos_token=True,
               model_type="seq2seq", context_length=64, prediction_length=8, num_samples=4, temperature=1.0,
               top_k=50, top_p=1.0)

# T5Config derives dense_act_fn / is_gated_act from feed_forward_proj, but explicit values (T5_COMMON's)
# win, so a gated model states all three, as a T5 v1.1 config.json does.
GATED = dict(feed_forward_proj="gated-gelu", dense_act_fn="gelu_new", is_gated_act=True)

# name -> (seed, T5 overrides, chronos_config overrides, input length, what it covers)
BOLT_VARIANTS = {
    "gated-gelu": (11, GATED, {},
                   64, "feed_forward_proj gated-gelu: T5 FF = wo(gelu_new(wi_0 x) * wi_1 x); the input/output "
                       "ResidualBlocks use config.dense_act_fn = gelu_new (tanh approximation) too"),
    "no-reg": (12, {}, dict(use_reg_token=False),
               64, "use_reg_token false: vocab_size 1 (shared.weight (1, d_model) = decoder start only), no "
                   "[REG] token appended, encoder length = number of patches"),
    "patch16-stride8": (13, {}, dict(input_patch_size=16, input_patch_stride=8),
                        64, "overlapping patches: size 16, stride 8 -> (64-16)/8+1 = 7 patches of 32 inputs "
                            "(16 values + 16 mask)"),
    "ctx60-long": (14, {}, dict(context_length=60, prediction_length=12),
                   70, "context_length 60 (not a multiple of the patch 8: Patch left-pads 4 NaN -> 8 patches), "
                       "input 70 values (> context_length: encode and the pipeline keep the last 60), H 12"),
    "asym-layers": (15, dict(num_layers=3, num_decoder_layers=1, d_kv=6, num_heads=3, d_ff=24),
                    dict(quantiles=[0.1, 0.25, 0.5, 0.75, 0.9]),
                    64, "3 encoder / 1 decoder layers, 3 heads x d_kv 6 = 18 != d_model 16, d_ff 24, 5 "
                        "quantiles [0.1, 0.25, 0.5, 0.75, 0.9] (the rollout's torch.quantile and "
                        "predict_quantiles' interpolation run on this non-equidistant grid)"),
}
# Every T5 variant has num_decoder_layers <= num_layers: transformers 5.24's generate() sizes the decoder
# KV cache by num_layers and fails (IndexError in DynamicCache.update) when the decoder is deeper.
T5_VARIANTS = {
    "gated-untied": (21, dict(GATED, tie_word_embeddings=False, num_layers=3, num_decoder_layers=2), {},
                     64, "gated-gelu feed-forward, tie_word_embeddings false: own lm_head.weight (~N(0,1)), "
                         "decoder output NOT scaled by d_model^-0.5; 3 encoder / 2 decoder layers"),
    "buckets": (22, dict(relative_attention_num_buckets=8, relative_attention_max_distance=12, num_layers=2,
                         num_decoder_layers=1),
                dict(n_tokens=64, tokenizer_kwargs={"low_limit": -4.0, "high_limit": 6.0}, context_length=48,
                     prediction_length=6),
                64, "8 relative-attention buckets, max distance 12 (distances beyond it share the log "
                    "buckets); 64 tokens on [-4, 6] (asymmetric, values clamp to the edge bins); context_length 48 "
                    "with a 64-value input (the tokenizer keeps the last 48), H 6"),
    "no-eos": (23, dict(d_kv=6, num_heads=3, num_layers=2, num_decoder_layers=1),
               dict(use_eos_token=False, n_tokens=200, tokenizer_kwargs={"low_limit": -10.0, "high_limit": 10.0},
                    prediction_length=5),
               64, "use_eos_token false: no EOS appended to input_ids nor labels (generation still suppresses "
                   "token 1 through min_new_tokens); 200 tokens on [-10, 10]; 3 heads x d_kv 6 != d_model; H 5"),
}


def make_series(L):
    rng = np.random.default_rng(SEED)
    t = np.arange(L, dtype=np.float64)
    x = np.zeros((4, L), dtype=np.float64)
    x[0] = np.sin(2 * np.pi * t / 12) + 0.1 * rng.standard_normal(L)
    x[1] = 100 + np.cumsum(rng.standard_normal(L))
    x[2] = 5.0
    x[3] = 0.01 * (t % 7) - 0.02 + 0.001 * rng.standard_normal(L)
    x[3, :10] = np.nan
    return torch.from_numpy(x.astype(np.float32))


def split_series(L, H, nan_ranges):
    full = make_series(L + H)
    ctx, tgt = full[:, :L].contiguous(), full[:, L:].clone()
    for row, a, b in nan_ranges:
        tgt[row, a:min(b + 1, H)] = float("nan")
    return ctx, tgt


def perturb_constant_params(model, seed, std=0.1):
    """Tensors initialised to a constant (T5 layer norms = 1, zero biases) get N(0, std) noise so that a
    parity test exercises them."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            flat = p.detach().flatten()
            if flat.numel() == 1 or torch.all(flat == flat[0]):
                p.add_(torch.randn(p.shape, generator=g) * std)


def build_bolt(seed, t5_over, cc_over):
    from chronos.chronos_bolt import ChronosBoltModelForForecasting
    from transformers import T5Config

    torch.manual_seed(seed)
    cfg = T5Config(vocab_size=2, reg_token_id=1, **{**T5_COMMON, **TINY, **t5_over})
    cfg.chronos_config = {**BOLT_BASE, **cc_over}
    cfg.chronos_pipeline_class = "ChronosBoltPipeline"
    cfg.architectures = ["ChronosBoltModelForForecasting"]
    model = ChronosBoltModelForForecasting(cfg)
    perturb_constant_params(model, seed)
    return model


def build_t5(seed, t5_over, cc_over):
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(seed)
    cc = {**T5_BASE, **cc_over}
    cfg = T5Config(vocab_size=cc["n_tokens"], **{**T5_COMMON, **TINY, **t5_over})
    cfg.chronos_config = cc
    cfg.architectures = ["T5ForConditionalGeneration"]
    model = T5ForConditionalGeneration(cfg)
    if t5_over.get("tie_word_embeddings") is False:
        # Untied head (T5 v1.1 style): transformers 5 builds it tied anyway and only unties on load when
        # the config says false and the file holds its own lm_head.weight (then the decoder output is not
        # scaled by d_model^-0.5), so give the head its own weights before saving.
        model.lm_head.weight = torch.nn.Parameter(torch.randn(cc["n_tokens"], cfg.d_model))
        model.config.tie_word_embeddings = False
        model.config.scale_decoder_outputs = False
    perturb_constant_params(model, seed)
    return model


# ----------------------------------------------------------------------------- output collection
def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class Fixture:
    """Collects the tensors of one fixture directory, then writes them (or compares with the committed ones)."""

    def __init__(self, rel, model_dir):
        self.rel, self.dir, self.model_dir = rel, os.path.join(DATA, rel), model_dir
        self.groups, self.desc, self.extra = {}, {}, {}

    def add(self, group, key, tensor, desc):
        t = tensor.detach().cpu().clone().contiguous()
        if t.dtype == torch.bool:
            t = t.to(torch.uint8)
        self.groups.setdefault(group, {})[key] = t
        self.desc[f"{group}/{key}"] = {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""),
                                       "description": desc}

    def add_grads(self, group, model, what):
        for n, p in model.named_parameters():
            if p.grad is not None:
                self.add(group, n, p.grad, f"d {what} / d {n}")

    def manifest(self, extra):
        import importlib.metadata as md
        versions = {p: md.version(p) for p in ("chronos-forecasting", "torch", "transformers", "safetensors", "numpy")}
        return {"fixture": self.rel, "model_dir": os.path.relpath(self.model_dir, self.dir),
                "model_safetensors_sha256": sha256(os.path.join(self.model_dir, "model.safetensors")),
                "generator": "tools/reference/make_chronos_fixtures.py", "versions": versions,
                "suggested_tolerance": TOL, **extra, **self.extra, "tensors": self.desc}

    def write(self, extra):
        os.makedirs(self.dir, exist_ok=True)
        for group, tensors in self.groups.items():
            save_file(tensors, os.path.join(self.dir, f"{group}.safetensors"))
        with open(os.path.join(self.dir, "manifest.json"), "w") as f:
            json.dump(self.manifest(extra), f, indent=2)
            f.write("\n")
        print(f"{self.rel}: {sum(len(g) for g in self.groups.values())} tensors in {len(self.groups)} files")

    def check(self):
        bad = 0
        for group, new in self.groups.items():
            path = os.path.join(self.dir, f"{group}.safetensors")
            if not os.path.exists(path):
                print(f"{self.rel}/{group}.safetensors missing"); bad += 1; continue
            bad += compare(f"{self.rel}/{group}", load_file(path), new)
        print(f"{self.rel}: {'ok' if bad == 0 else f'{bad} differences'}")
        return bad


def compare(label, old, new):
    bad = 0
    for k in sorted(set(old) | set(new)):
        if k not in old or k not in new:
            print(f"{label}: {k} only in {'new' if k in new else 'committed'}"); bad += 1
        elif old[k].dtype != new[k].dtype or old[k].shape != new[k].shape:
            print(f"{label}: {k} dtype/shape differs"); bad += 1
        elif old[k].is_floating_point():
            if not torch.allclose(old[k], new[k], atol=1e-6, rtol=1e-5, equal_nan=True):
                print(f"{label}: {k} differs (max abs {(old[k] - new[k]).abs().nan_to_num().max():.3g})"); bad += 1
        elif not torch.equal(old[k], new[k]):
            print(f"{label}: {k} differs"); bad += 1
    return bad


def copy_model(src, dst, files, check):
    """Byte copy of a shared fixture model; --check compares the bytes (skipped without shared/)."""
    if not os.path.isdir(src):
        print(f"{os.path.relpath(dst, DATA)}: {src} not found, copy not {'checked' if check else 'refreshed'}")
        return 0
    bad = 0
    os.makedirs(dst, exist_ok=True)
    for fn in files:
        s, d = os.path.join(src, fn), os.path.join(dst, fn)
        if check:
            if not os.path.exists(d) or sha256(s) != sha256(d):
                print(f"{os.path.relpath(d, DATA)} differs from {s}"); bad += 1
        else:
            shutil.copyfile(s, d)
    return bad


def ensure_model(build, model_dir, check, label):
    """Save a freshly built model: into model_dir, or (check) into a temp dir compared with model_dir."""
    model = build()
    model.eval()
    if not check:
        os.makedirs(model_dir, exist_ok=True)
        model.save_pretrained(model_dir, safe_serialization=True)
        return model_dir, 0
    tmp = tempfile.mkdtemp()
    model.save_pretrained(tmp, safe_serialization=True)
    bad = compare(f"{label}/model", load_file(os.path.join(model_dir, "model.safetensors")),
                  load_file(os.path.join(tmp, "model.safetensors")))
    if json.load(open(os.path.join(tmp, "config.json"))) != json.load(open(os.path.join(model_dir, "config.json"))):
        print(f"{label}/model/config.json differs"); bad += 1
    return tmp, bad


# ----------------------------------------------------------------------------- Chronos-Bolt
def load_bolt(model_dir):
    from chronos import BaseChronosPipeline
    pipe = BaseChronosPipeline.from_pretrained(model_dir, device_map="cpu", dtype=torch.float32)
    pipe.model.eval()
    return pipe, pipe.model


def bolt_loss(F, model, ctx, tgt, explicit_masks, sfx, grads_group):
    """One loss/backward through ChronosBoltModelForForecasting.forward; hooks keep the normalised
    quantile predictions (output_patch_embedding output)."""
    caught = {}
    hook = model.output_patch_embedding.register_forward_hook(lambda m, a, o: caught.update(q=o.detach().clone()))
    mask = (~torch.isnan(ctx)).float()
    tmask = ~torch.isnan(tgt)
    model.zero_grad()
    if explicit_masks:
        out = model(context=ctx, mask=mask, target=tgt, target_mask=tmask)
    else:
        out = model(context=ctx, target=tgt)
    hook.remove()
    out.loss.backward()
    cc, B = model.chronos_config, ctx.shape[0]
    with torch.no_grad():
        _, (loc, scale), *_ = model.encode(ctx, mask if explicit_masks else None)
        tn, _ = model.instance_norm(tgt, (loc, scale))
        tn = torch.where(tmask, tn, torch.zeros_like(tn))
    call = "mask=mask, target_mask=target_mask" if explicit_masks else "mask=None, target_mask=None (defaults ~isnan)"
    F.add("inputs", f"context{sfx}", ctx, f"context {tuple(ctx.shape)}, NaN = missing")
    F.add("inputs", f"mask{sfx}", mask, "~isnan(context) as float32 (1 = observed)"
          + ("; passed as forward's mask" if explicit_masks else "; NOT passed (forward derives the same)"))
    F.add("inputs", f"target{sfx}", tgt, f"target {tuple(tgt.shape)}, NaN = missing"
          + (f" (shorter than prediction_length {cc.prediction_length}: forward pads value and mask with 0)"
             if tgt.shape[-1] < cc.prediction_length else ""))
    F.add("inputs", f"target_mask{sfx}", tmask, "~isnan(target) (bool as uint8)"
          + ("; passed as forward's target_mask (bool)" if explicit_masks else "; NOT passed (derived the same)"))
    F.add("outputs", f"loss{sfx}", out.loss.detach().reshape(1),
          f"model(context, {call}, target=target).loss in eval mode: pinball 2|(y-q)(1[y<=q]-tau)| on the "
          "normalised scale times target_mask, mean over quantiles (dim -2), sum over the horizon, mean over the batch")
    F.add("outputs", f"loc{sfx}", loc, "instance-norm loc of the (truncated) context = nanmean, (B,1)")
    F.add("outputs", f"scale{sfx}", scale, "instance-norm scale = sqrt(nanmean((x-loc)^2)), 0 -> 1e-5, (B,1)")
    F.add("outputs", f"target_normalized{sfx}", tn, "(target - loc) / scale, missing -> 0 (before the pad to H)")
    F.add("outputs", f"quantile_preds_normalized{sfx}", caught["q"].view(B, len(cc.quantiles), cc.prediction_length),
          "output_patch_embedding(decoder state) viewed (B, Q, H): the normalised predictions the loss uses")
    F.add("outputs", f"quantile_preds{sfx}", out.quantile_preds.detach(), "forward's quantile_preds = normalised * scale + loc, (B, Q, H)")
    F.add_grads(grads_group, model, f"loss{sfx}")


def bolt_forecasts(F, pipe, model, ctx):
    """encode/decode intermediates, one forward, pipeline predict and predict_quantiles."""
    cc = model.chronos_config
    H = cc.prediction_length
    caught = {}
    hooks = [model.input_patch_embedding.register_forward_hook(lambda m, a, o: caught.update(p=a[0].detach().clone())),
             model.output_patch_embedding.register_forward_hook(lambda m, a, o: caught.update(q=o.detach().clone()))]
    with torch.no_grad():
        enc, (loc, scale), embeds, amask = model.encode(context=ctx)
        dec = model.decode(embeds, amask, enc)
        out = model(context=ctx)
    for h in hooks:
        h.remove()
    with torch.no_grad():
        p1 = pipe.predict(ctx, prediction_length=H)
        p3 = pipe.predict(ctx, prediction_length=3 * H)
        q1, m1 = pipe.predict_quantiles(ctx, prediction_length=H, quantile_levels=QUANTILE_LEVELS)
        q3, m3 = pipe.predict_quantiles(ctx, prediction_length=3 * H, quantile_levels=QUANTILE_LEVELS)
    B, Q = ctx.shape[0], len(cc.quantiles)
    F.add("outputs", "loc", loc, "encode(): instance-norm loc = nanmean over the last context_length values, (B,1)")
    F.add("outputs", "scale", scale, "encode(): sqrt(nanmean((x-loc)^2)) (population), NaN -> 1, 0 -> 1e-5, (B,1)")
    F.add("outputs", "patched_context", caught["p"],
          "input of input_patch_embedding: per patch [normalised values (missing and left padding -> 0), "
          "observed mask], (B, n_patches, 2*patch)")
    F.add("outputs", "input_embeds", embeds, "input_patch_embedding(patched_context) [+ shared[REG] appended], (B, S, d_model)")
    F.add("outputs", "attention_mask", amask, "encoder mask: patch has >= 1 observed value [+ 1 for REG]; bool without "
          "REG, float with it (as encode() returns it; stored as uint8 / float32)")
    F.add("outputs", "encoder_hidden_states", enc, "T5 encoder last_hidden_state, (B, S, d_model)")
    F.add("outputs", "decoder_hidden_state", dec, "T5 decoder, one step from decoder_start_token_id 0, (B, 1, d_model)")
    F.add("outputs", "quantile_preds_normalized", caught["q"].view(B, Q, H), "output_patch_embedding(decoder state), (B, Q, H)")
    F.add("outputs", "quantile_preds", out.quantile_preds, "model(context).quantile_preds (original scale), (B, Q, H)")
    F.add("outputs", "pipeline_predict", p1, "pipe.predict(context, prediction_length=H), (B, Q, H)")
    F.add("outputs", "pipeline_predict_3h", p3,
          "pipe.predict(context, prediction_length=3H): blocks 2 and 3 append each quantile path to the context "
          "(last context_length kept), forecast the Q*Q paths and reduce them with torch.quantile(q=quantiles, "
          "dim=paths) (linear interpolation), (B, Q, 3H)")
    F.add("outputs", "predict_quantiles_q", q1,
          f"pipe.predict_quantiles(context, H, {QUANTILE_LEVELS})[0]: levels not all in the training set -> "
          "torch.quantile over [q_first, q_1..q_Q, q_last] (pads repeat the edge quantiles) at the levels, (B, H, 7)")
    F.add("outputs", "predict_quantiles_mean", m1, "pipe.predict_quantiles(...)[1] = the 0.5 quantile, (B, H)")
    F.add("outputs", "predict_quantiles_3h_q", q3, "the same at prediction_length=3H, (B, 3H, 7)")
    F.add("outputs", "predict_quantiles_3h_mean", m3, "the same at 3H, (B, 3H)")


def make_bolt_train(shared, check):
    model_dir = os.path.join(DATA, "chronos-bolt", "model")
    bad = copy_model(os.path.join(shared, "models", "chronos-bolt-fixture"), model_dir,
                     ("config.json", "model.safetensors"), check)
    pipe, model = load_bolt(model_dir)
    H, L = model.chronos_config.prediction_length, model.chronos_config.context_length
    F = Fixture("chronos-bolt-train", model_dir)
    ctx, tgt = split_series(L, H, TARGET_NAN)
    bolt_loss(F, model, ctx, tgt, True, "", "grads")
    ctx2, tgt2 = split_series(L + 6, 12, TARGET_NAN)
    bolt_loss(F, model, ctx2, tgt2, False, "_long", "grads_long")
    extra = {"call": "BaseChronosPipeline.from_pretrained(chronos-bolt/model).model (ChronosBoltModelForForecasting), "
                     "eval mode; loss.backward()",
             "cases": {"": f"context make_series({L + H})[:, :{L}], target the next {H} values with NaN at {TARGET_NAN}, "
                           "explicit mask / target_mask",
                       "_long": f"context make_series({L + 6 + 12})[:, :{L + 6}] (> context_length {L}), target the next "
                                "12 values (< H, padded), NaN at the same positions, masks left to forward"}}
    if check:
        return bad + F.check()
    F.write(extra)
    return bad


def make_bolt_variants(check):
    bad = 0
    for name, (seed, t5o, cco, n_in, what) in BOLT_VARIANTS.items():
        vdir = os.path.join(DATA, "chronos-bolt-variants", name)
        mdir, b = ensure_model(lambda: build_bolt(seed, t5o, cco), os.path.join(vdir, "model"), check, name)
        bad += b
        pipe, model = load_bolt(mdir)
        H = model.chronos_config.prediction_length
        F = Fixture(f"chronos-bolt-variants/{name}", os.path.join(vdir, "model"))
        ctx, tgt = split_series(n_in, H, TARGET_NAN)
        bolt_forecasts(F, pipe, model, ctx)
        bolt_loss(F, model, ctx, tgt, True, "", "grads")
        extra = {"variant": what, "seed": seed, "t5_overrides": t5o, "chronos_config_overrides": cco,
                 "call": "BaseChronosPipeline.from_pretrained(model) -> ChronosBoltPipeline; model = pipe.model (eval)",
                 "inputs": f"context = make_series({n_in + H})[:, :{n_in}]; target = the next {H} values with NaN at "
                           f"{TARGET_NAN}; every output uses `context` ('context' in inputs is the same tensor)",
                 "quantile_levels": QUANTILE_LEVELS}
        if check:
            bad += F.check()
            shutil.rmtree(mdir)
        else:
            F.write(extra)
    return bad


# ----------------------------------------------------------------------------- Chronos-T5
def load_t5(model_dir):
    from chronos import BaseChronosPipeline
    pipe = BaseChronosPipeline.from_pretrained(model_dir, device_map="cpu", dtype=torch.float32)
    pipe.model.model.eval()
    return pipe, pipe.model.model, pipe.model.config


def t5_loss(F, pipe, t5, ctx, tgt):
    """The loss of scripts/training/train.py for one batch (ChronosDataset.to_hf_format per row; the
    tokenizer is row-wise so a batch gives the same ids)."""
    tok = pipe.tokenizer
    ids, am, scale = tok.context_input_transform(ctx)
    labels, lmask = tok.label_input_transform(tgt, scale)
    labels = labels.clone()
    labels[lmask == 0] = -100
    t5.zero_grad()
    out = t5(input_ids=ids, attention_mask=am, labels=labels)
    out.loss.backward()
    eos = " + EOS" if pipe.model.config.use_eos_token else ""
    F.add("inputs", "train_context", ctx, f"training context {tuple(ctx.shape)}, NaN = missing")
    F.add("inputs", "train_target", tgt, f"training target {tuple(tgt.shape)} (= prediction_length), NaN = missing")
    F.add("outputs", "train_input_ids", ids, f"tokenizer.context_input_transform(train_context)[0]{eos}, int64")
    F.add("outputs", "train_attention_mask", am, "context_input_transform(...)[1]: ~isnan (EOS: 1), bool as uint8")
    F.add("outputs", "train_scale", scale, "context_input_transform(...)[2]: mean |x| over observed values, <=0/NaN -> 1, (B,)")
    F.add("outputs", "train_labels", labels,
          f"tokenizer.label_input_transform(train_target, train_scale)[0]{eos} with -100 where the label mask is 0 "
          "(missing target), int64")
    F.add("outputs", "train_decoder_input_ids", t5._shift_right(labels),
          "model._shift_right(labels): [decoder_start 0, labels[:-1]] with -100 -> pad 0, int64")
    F.add("outputs", "train_loss", out.loss.detach().reshape(1),
          "T5ForConditionalGeneration(input_ids, attention_mask, labels).loss (eval mode): CrossEntropy(ignore_index="
          "-100) averaged over every non-ignored label token of the batch")
    F.add("outputs", "train_logits", out.logits.detach(), "the logits of that call, (B, label length, vocab)")
    F.add_grads("grads", t5, "train_loss")


def t5_forecasts(F, pipe, t5, cc, ctx):
    from transformers import GenerationConfig
    tok, H = pipe.tokenizer, cc.prediction_length
    ids, am, scale = tok.context_input_transform(ctx)
    gaps = []

    def top_gap(module, args, logits):
        # top-1 minus top-2 logit among the tokens generation may pick (EOS is masked): a tiny gap would
        # make the greedy tokens fragile under float32 rounding.
        s = logits.detach().clone()
        s[..., cc.eos_token_id] = -float("inf")
        top = s.topk(2, dim=-1).values
        gaps.append((top[..., 0] - top[..., 1]).min().item())

    hook = t5.lm_head.register_forward_hook(top_gap)
    with torch.no_grad():
        enc = t5.encoder(input_ids=ids, attention_mask=am).last_hidden_state
        greedy = t5.generate(input_ids=ids, attention_mask=am, generation_config=GenerationConfig(
            min_new_tokens=H, max_new_tokens=H, do_sample=False, num_beams=1,
            eos_token_id=cc.eos_token_id, pad_token_id=cc.pad_token_id))
        dec_in = greedy[:, :-1]
        logits = t5(encoder_outputs=(enc,), attention_mask=am, decoder_input_ids=dec_in).logits
        tokens = greedy[:, 1:]
        values = tok.output_transform(tokens[:, None, :], scale)[:, 0, :]
        roll = pipe.predict(ctx, prediction_length=2 * H + 3, num_samples=1, top_k=1)
        rq, rm = pipe.predict_quantiles(ctx, prediction_length=2 * H + 3, quantile_levels=[0.1, 0.5, 0.9],
                                        num_samples=1, top_k=1)
    hook.remove()
    if not torch.equal(roll[:, 0, :H], values):
        raise SystemExit("top_k=1 rollout's first block differs from greedy generate")
    F.extra["min_greedy_logit_gap"] = min(gaps)
    if min(gaps) < 1e-3:
        raise SystemExit(f"greedy decoding has a near tie (logit gap {min(gaps):.2g}): pick another seed/input")
    head = ("own lm_head.weight, decoder output NOT scaled" if not t5.config.scale_decoder_outputs
            else "lm_head tied to shared.weight, decoder output scaled by d_model^-0.5 first")
    F.add("inputs", "context", ctx, f"context {tuple(ctx.shape)}, NaN = missing")
    F.add("outputs", "input_ids", ids, "tokenizer.context_input_transform(context)[0] (last context_length values"
          + (", EOS appended" if cc.use_eos_token else ", no EOS") + "), int64")
    F.add("outputs", "attention_mask", am, "context_input_transform(...)[1]: ~isnan (EOS 1), bool as uint8")
    F.add("outputs", "scale", scale, "context_input_transform(...)[2]: mean |x| over observed values, <=0/NaN -> 1, (B,)")
    F.add("outputs", "tokenizer_centers", tok.centers, "linspace(low_limit, high_limit, n_tokens - n_special - 1)")
    F.add("outputs", "tokenizer_boundaries", tok.boundaries, "[-1e20, midpoints of the centers, 1e20]")
    F.add("outputs", "encoder_hidden_states", enc, "t5.encoder(input_ids, attention_mask).last_hidden_state")
    F.add("outputs", "decoder_input_ids", dec_in, "[0, greedy_1 .. greedy_{H-1}], int64")
    F.add("outputs", "decoder_logits", logits, f"teacher-forced logits for decoder_input_ids ({head}), (B, H, vocab)")
    F.add("outputs", "greedy_tokens", tokens, "generate(do_sample=False, min_new_tokens=max_new_tokens=H)[:, 1:]; "
          "EOS (1) is masked to -inf at every step by the min-length processor, int64 (B, H)")
    F.add("outputs", "greedy_values", values, "tokenizer.output_transform(greedy_tokens): centers[clamp(tok-3)] * scale")
    F.add("outputs", "rollout_predict", roll,
          f"pipe.predict(context, prediction_length={2 * H + 3}, num_samples=1, top_k=1): blocks of H, the median "
          "(= the only sample) appended to the context after each block, tokenised again (new scale, last "
          "context_length values), (B, 1, 2H+3)")
    F.add("outputs", "rollout_predict_quantiles_q", rq, "pipe.predict_quantiles(same call, levels [0.1,0.5,0.9])[0], (B, 2H+3, 3)")
    F.add("outputs", "rollout_predict_quantiles_mean", rm, "pipe.predict_quantiles(...)[1] = mean over samples, (B, 2H+3)")


def make_t5_train(shared, check):
    model_dir = os.path.join(DATA, "chronos-t5", "model")
    bad = copy_model(os.path.join(shared, "models", "chronos-t5-fixture"), model_dir,
                     ("config.json", "generation_config.json", "model.safetensors"), check)
    pipe, t5, cc = load_t5(model_dir)
    F = Fixture("chronos-t5-train", model_dir)
    ctx, tgt = split_series(cc.context_length, cc.prediction_length, TARGET_NAN_T5)
    t5_loss(F, pipe, t5, ctx, tgt)
    extra = {"call": "BaseChronosPipeline.from_pretrained(chronos-t5/model) -> ChronosPipeline; tokenizer = "
                     "pipe.tokenizer, model = pipe.model.model (T5ForConditionalGeneration, eval)",
             "inputs": f"make_series({cc.context_length + cc.prediction_length}) split at {cc.context_length}, target "
                       f"NaN at {TARGET_NAN_T5}"}
    if check:
        return bad + F.check()
    F.write(extra)
    return bad


def make_t5_variants(check):
    bad = 0
    for name, (seed, t5o, cco, n_in, what) in T5_VARIANTS.items():
        vdir = os.path.join(DATA, "chronos-t5-variants", name)
        mdir, b = ensure_model(lambda: build_t5(seed, t5o, cco), os.path.join(vdir, "model"), check, name)
        bad += b
        pipe, t5, cc = load_t5(mdir)
        expect_untied = t5o.get("tie_word_embeddings") is False
        if (t5.lm_head.weight.data_ptr() != t5.shared.weight.data_ptr()) != expect_untied:
            raise SystemExit(f"{name}: lm_head tying after reload is not as built")
        F = Fixture(f"chronos-t5-variants/{name}", os.path.join(vdir, "model"))
        ctx, tgt = split_series(n_in, cc.prediction_length, TARGET_NAN_T5)
        t5_forecasts(F, pipe, t5, cc, ctx)
        t5_loss(F, pipe, t5, ctx, tgt)
        extra = {"variant": what, "seed": seed, "t5_overrides": t5o, "chronos_config_overrides": cco,
                 "call": "BaseChronosPipeline.from_pretrained(model) -> ChronosPipeline; t5 = pipe.model.model (eval)",
                 "inputs": f"context = make_series({n_in + cc.prediction_length})[:, :{n_in}], target the next "
                           f"{cc.prediction_length} values with NaN at {TARGET_NAN_T5}; train_context == context"}
        if check:
            bad += F.check()
            shutil.rmtree(mdir)
        else:
            F.write(extra)
    return bad


SETS = ("bolt-train", "bolt-variants", "t5-train", "t5-variants")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    ap.add_argument("--only", default=",".join(SETS), help=f"comma-separated subset of {','.join(SETS)}")
    ap.add_argument("--shared", default=SHARED_DEFAULT, help="shared/reference (source of the copied fixture models)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    only = args.only.split(",")
    unknown = set(only) - set(SETS)
    if unknown:
        ap.error(f"unknown set(s) {sorted(unknown)}")
    bad = 0
    if "bolt-train" in only:
        bad += make_bolt_train(args.shared, args.check)
    if "bolt-variants" in only:
        bad += make_bolt_variants(args.check)
    if "t5-train" in only:
        bad += make_t5_train(args.shared, args.check)
    if "t5-variants" in only:
        bad += make_t5_variants(args.check)
    if args.check:
        print("ok" if bad == 0 else f"{bad} differences")
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
