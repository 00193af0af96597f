"""Regenerate the TimesFM 2.5 parity fixtures under crates/tsfm-models/tests/data/timesfm/ from the official
timesfm 3.0.2 package (timesfm.timesfm_2p5, torch 2.11.0 CPU) and the transformers 5.24.0 port
(transformers.models.timesfm2_5).

Setup (tools/reference/README.md): /work/venv/bin/pip install timesfm==3.0.2 torch==2.11.0 transformers==5.24.0
    safetensors numpy==2.4.6 peft
Usage:
    venv/bin/python tools/reference/make_timesfm_fixtures.py [--check] [--only SET[,SET]] [--shared DIR]
SET is one of forecast-options, decode, train, port (default: all).  --check recomputes every tensor (the
port checkpoint is rebuilt into a temporary folder and compared too) and compares with the committed files
instead of writing them; exit 1 on a difference.  Single-threaded (OMP_NUM_THREADS=1, torch.set_num_threads(1),
deterministic algorithms): reruns are bit-identical.  Tensors are float32, masks uint8 (1 = padded/missing).
Each directory's manifest.json describes every tensor (shape, dtype, how it was produced), the call, the
package versions and suggested tolerances.

Model: timesfm/model/ = byte copy of shared/reference/models/timesfm-2.5-fixture/{config.json,model.safetensors}
(input patch p=8, output patch o=16, output_quantile_len 32, model dims 16, 2 layers, 2 heads of 8, 10 output
channels [mean, q0.1..q0.9], decode_index 5).  It is loaded as TimesFM_2p5_200M_torch_module with the
definition from config.json (load_state_dict strict) and wrapped in the official TimesFM_2p5_200M_torch API
(compile/forecast) without torch.compile.

Deterministic series (same generator as shared/reference/scripts/make_reference.py), make_series(L):
    rng = numpy.random.default_rng(20240601); t = arange(L)
    row 0: sin(2 pi t / 12) + 0.1 N(0,1)      row 1: 100 + cumsum(N(0,1))
    row 2: 5.0 constant                        row 3: 0.01 (t % 7) - 0.02 + 0.001 N(0,1), first 10 NaN

1. forecast-options/: TimesFM_2p5_200M_torch.compile(ForecastConfig(per_core_batch_size=6, **CASES[case])) then
   forecast(H, inputs) on the six series of forecast_inputs() (stored as input_<i>, NaN kept; 0: len 64 with
   negatives, 1: len 50 >= 0 whose unclamped forecast goes below 0, 2: len 40 constant, 3: len 84 > max_context
   with 10 leading NaN, 4: len 5 < one patch, 5: len 30 with leading, interior and trailing NaN).  point_<case>
   (6, H) = channel 5, quantiles_<case> (6, H, 10) = [mean, q0.1..q0.9].  The manifest holds each case's
   ForecastConfig after compile's rounding, and what an all-NaN series does (the package raises).
2. decode/: module.decode(50, inputs, masks) on make_series(64) with NaN -> 0 and masks row 3 first 10, row 2
   first 24 (3 whole padded patches): (4, 8, 16, 10) per-patch outputs, (4, 32, 10) quantile spread, (4, 3, 16,
   10) autoregressive steps, plus the prefill's running stats, normalised patches and embeddings.
3. train/: the fine-tuning loss on the official module (forward with grad), in the globally normalised space
   (normalised_forecast() and train_loss() below): context (4, 64) = make_series(76)[:, :64] with row 3's first
   10 -> 0 and mask True; target (4, 12) = make_series(76)[:, 64:].  Global mean / unbiased std of the padded
   context as _compiled_decode; decode()'s prefill with per-patch running stats and de-normalisation of the last
   patch; optional flip averaging; optional continuous-quantile-head replacement; pred = the first 12 steps.
   loss = MSE(channel 5) + mean over channels i in 1-4, 6-9 of the mean pinball at level quantiles[i-1] (the
   CORRECT pairing).  Cases flip_cont (flip + continuous head = the port's defaults) and plain (both off);
   grads_<case>.safetensors = d loss / d param for all 34 official parameters.  Checked in the script: the
   de-normalised pred equals the package's forecast, and (flip_cont) the port's TimesFm2_5ModelForPrediction
   loss equals ours recomputed with the port's pairing (channels [0,1,2,3,4,6,7,8,9] with levels 0.1..0.9,
   mean over 9) to 1e-6, with equal gradients (port names mapped back).
4. port/: the fixture weights under the port's names (to_port_names below), written with
   TimesFm2_5ModelForPrediction.save_pretrained and reloaded with from_pretrained; its forward on inputs 0..3
   (context_length 64, horizon_length 16 = one output patch) is stored and compared with the official forecast
   at the equivalent flags (port_cases below).
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

warnings.filterwarnings("ignore")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TFM = os.path.join(ROOT, "crates", "tsfm-models", "tests", "data", "timesfm")
MODEL_DIR = os.path.join(TFM, "model")
SHARED_DEFAULT = os.path.join(os.path.dirname(ROOT), "shared", "reference")
SEED = 20240601
TOL = {"atol": 1e-5, "rtol": 1e-4}
PKGS = ("timesfm", "torch", "transformers", "safetensors", "numpy")

README_FLAGS = dict(normalize_inputs=True, use_continuous_quantile_head=True, force_flip_invariance=True,
                    infer_is_positive=True, fix_quantile_crossing=True)
DATACLASS_FLAGS = dict(normalize_inputs=False, use_continuous_quantile_head=False, force_flip_invariance=True,
                       infer_is_positive=True, fix_quantile_crossing=False)
# case -> (ForecastConfig kwargs, horizon passed to forecast)
CASES = {
    "readme": (dict(README_FLAGS, max_context=64, max_horizon=24), 24),
    "dataclass": (dict(DATACLASS_FLAGS, max_context=64, max_horizon=24), 24),
    "no_normalize": (dict(README_FLAGS, normalize_inputs=False, max_context=64, max_horizon=24), 24),
    "no_continuous": (dict(README_FLAGS, use_continuous_quantile_head=False, max_context=64, max_horizon=24), 24),
    "no_flip": (dict(README_FLAGS, force_flip_invariance=False, max_context=64, max_horizon=24), 24),
    "no_positive": (dict(README_FLAGS, infer_is_positive=False, max_context=64, max_horizon=24), 24),
    "no_crossing": (dict(README_FLAGS, fix_quantile_crossing=False, max_context=64, max_horizon=24), 24),
    "long": (dict(README_FLAGS, use_continuous_quantile_head=False, max_context=64, max_horizon=80), 70),
    "long_cont": (dict(README_FLAGS, max_context=64, max_horizon=32), 32),
    "ctx32": (dict(README_FLAGS, max_context=32, max_horizon=24), 24),
    "h_not_multiple": (dict(README_FLAGS, max_context=64, max_horizon=20), 20),
}
BATCH = 6


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


def forecast_inputs():
    """The six float32 series of set 1: 0 = make_series(64)[0] (negatives); 1 = r - min(r), r = make_series(64)[1,
    14:] (>= 0, min exactly 0); 2 = make_series(64)[2, :40] (constant 5); 3 = make_series(84)[3] (10 leading NaN,
    then 74 values > max_context); 4 = make_series(64)[0, 20:25]; 5 = make_series(64)[1, :30] with NaN at 0..5
    (leading: stripped), 12, 13, 20 (interior: interpolated) and 29 (trailing: np.interp holds the last value).
    Inputs 0..3 are NaN-free after the package's strip + truncation to 64 (the port set reuses them)."""
    s64, s84 = make_series(64).numpy(), make_series(84).numpy()
    nan5 = s64[1, :30].copy()
    nan5[[0, 1, 2, 3, 4, 5, 12, 13, 20, 29]] = np.nan
    return [s64[0].copy(), s64[1, 14:] - s64[1, 14:].min(), s64[2, :40].copy(), s84[3].copy(), s64[0, 20:25].copy(),
            nan5]


# ----------------------------------------------------------------------------- official model
def definition_from_config(cfg):
    from timesfm import configs as Cf
    from timesfm.timesfm_2p5 import timesfm_2p5_base as b
    d = cfg["definition"]
    rb = lambda x: Cf.ResidualBlockConfig(**x)  # noqa: E731
    st = d["stacked_transformers"]
    return b.TimesFM_2p5_200M_Definition(
        input_patch_len=d["input_patch_len"], output_patch_len=d["output_patch_len"],
        output_quantile_len=d["output_quantile_len"], quantiles=list(d["quantiles"]), decode_index=d["decode_index"],
        tokenizer=rb(d["tokenizer"]),
        stacked_transformers=Cf.StackedTransformersConfig(num_layers=st["num_layers"],
                                                          transformer=Cf.TransformerConfig(**st["transformer"])),
        output_projection_point=rb(d["output_projection_point"]),
        output_projection_quantiles=rb(d["output_projection_quantiles"]))


def load_official(model_dir, weights=None):
    """TimesFM_2p5_200M_torch_module subclass whose class-level `config` is the checkpoint's definition."""
    from timesfm.timesfm_2p5 import timesfm_2p5_torch as T
    definition = definition_from_config(json.load(open(os.path.join(model_dir, "config.json"))))
    cls = type("TimesFM_2p5_fixture_module", (T.TimesFM_2p5_200M_torch_module,), {"config": definition})
    m = cls()
    m.load_state_dict(weights if weights is not None else load_file(os.path.join(model_dir, "model.safetensors")),
                      strict=True)
    return m.eval()


def wrapper(module):
    """The official TimesFM_2p5_200M_torch API around an existing module (its __init__ builds the 200M net)."""
    from timesfm.timesfm_2p5 import timesfm_2p5_torch as T
    w = T.TimesFM_2p5_200M_torch.__new__(T.TimesFM_2p5_200M_torch)
    w.model, w.torch_compile = module, False
    return w


def official_forecast(module, kwargs, H, inputs, batch=BATCH):
    from timesfm import ForecastConfig
    w = wrapper(module)
    w.compile(ForecastConfig(per_core_batch_size=batch, **kwargs))
    point, quant = w.forecast(horizon=H, inputs=[x.copy() for x in inputs])
    return torch.from_numpy(point), torch.from_numpy(quant), dataclasses.asdict(w.forecast_config)


# ----------------------------------------------------------------------------- output collection
def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class Fixture:
    """Collects the tensors of one directory, then writes them (or compares with the committed ones)."""

    def __init__(self, rel):
        self.rel, self.dir = rel, os.path.join(TFM, rel)
        self.groups, self.desc = {}, {}

    def add(self, group, key, tensor, desc):
        t = tensor.detach().cpu().clone().contiguous()
        if t.dtype == torch.bool:
            t = t.to(torch.uint8)
        self.groups.setdefault(group, {})[key] = t
        self.desc[f"{group}/{key}"] = {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""),
                                       "description": desc}

    def manifest(self, extra):
        import importlib.metadata as md
        return {"fixture": f"timesfm/{self.rel}", "model_dir": os.path.relpath(MODEL_DIR, self.dir),
                "model_safetensors_sha256": sha256(os.path.join(MODEL_DIR, "model.safetensors")),
                "generator": "tools/reference/make_timesfm_fixtures.py",
                "versions": {p: md.version(p) for p in PKGS}, "suggested_tolerance": TOL, **extra,
                "tensors": self.desc}

    def write(self, extra):
        from safetensors.torch import save_file
        os.makedirs(self.dir, exist_ok=True)
        for group, tensors in self.groups.items():
            save_file(tensors, os.path.join(self.dir, f"{group}.safetensors"))
        with open(os.path.join(self.dir, "manifest.json"), "w") as f:
            json.dump(self.manifest(extra), f, indent=2)
            f.write("\n")
        print(f"timesfm/{self.rel}: {sum(len(g) for g in self.groups.values())} tensors in {len(self.groups)} files")
        return 0

    def check(self, extra):
        bad = 0
        for group, new in self.groups.items():
            path = os.path.join(self.dir, f"{group}.safetensors")
            if not os.path.exists(path):
                print(f"{self.rel}/{group}.safetensors missing")
                bad += 1
                continue
            bad += compare(f"{self.rel}/{group}", load_file(path), new)
        old = json.load(open(os.path.join(self.dir, "manifest.json")))
        if json.loads(json.dumps(self.manifest(extra))) != old:
            print(f"{self.rel}/manifest.json differs")
            bad += 1
        print(f"timesfm/{self.rel}: {'ok' if bad == 0 else f'{bad} differences'}")
        return bad

    def finish(self, extra, check):
        return self.check(extra) if check else self.write(extra)


def compare(label, old, new):
    """Bit-exact comparison (NaN == NaN): reruns are deterministic."""
    bad = 0
    for k in sorted(set(old) | set(new)):
        if k not in old or k not in new:
            print(f"{label}: {k} only in {'new' if k in new else 'committed'}")
            bad += 1
        elif old[k].dtype != new[k].dtype or old[k].shape != new[k].shape:
            print(f"{label}: {k} dtype/shape differs")
            bad += 1
        elif not torch.equal(torch.nan_to_num(old[k], nan=7e7), torch.nan_to_num(new[k], nan=7e7)):
            d = (old[k].double() - new[k].double()).abs().nan_to_num().max()
            print(f"{label}: {k} differs (max abs {d:.3g})")
            bad += 1
    return bad


def copy_model(shared, check):
    src = os.path.join(shared, "models", "timesfm-2.5-fixture")
    if not os.path.isdir(src):
        print(f"timesfm/model: {src} not found, copy not {'checked' if check else 'refreshed'}")
        return 0
    os.makedirs(MODEL_DIR, exist_ok=True)
    bad = 0
    for fn in ("config.json", "model.safetensors"):
        s, d = os.path.join(src, fn), os.path.join(MODEL_DIR, fn)
        if not check:
            shutil.copyfile(s, d)
        elif not os.path.exists(d) or sha256(s) != sha256(d):
            print(f"timesfm/model/{fn} differs from {s}")
            bad += 1
    return bad


# ----------------------------------------------------------------------------- 1. forecast options
def make_forecast_options(check):
    module = load_official(MODEL_DIR)
    inputs = forecast_inputs()
    F = Fixture("forecast-options")
    for i, x in enumerate(inputs):
        F.add("inputs", f"input_{i}", torch.from_numpy(x), f"forecast() input series {i}, length {len(x)}, NaN kept "
              "(see the docstring of make_timesfm_fixtures.py for how it is made)")
    configs = {}
    for case, (kw, H) in CASES.items():
        point, quant, fc = official_forecast(module, kw, H, inputs)
        configs[case] = {"forecast_config_after_compile": fc, "horizon": H}
        F.add("outputs", f"point_{case}", point, f"forecast({H}, inputs)[0] with case {case!r}: channel 5, (6, {H})")
        F.add("outputs", f"quantiles_{case}", quant,
              f"forecast({H}, inputs)[1] with case {case!r}: [mean, q0.1..q0.9], (6, {H}, 10)")
    ro = F.groups["outputs"]
    norm_diff = (ro["quantiles_no_normalize"] - ro["quantiles_readme"]).abs().amax(dim=(1, 2)).tolist()
    allnan = np.full(20, np.nan, dtype=np.float32)
    try:
        point, quant, _ = official_forecast(module, CASES["readme"][0], 24, [allnan], batch=1)
        F.add("outputs", "point_allnan", point, "forecast(24, [20 x NaN]) readme config, (1, 24)")
        F.add("outputs", "quantiles_allnan", quant, "forecast(24, [20 x NaN]) readme config, (1, 24, 10)")
        allnan_result = "returned (see point_allnan / quantiles_allnan)"
    except Exception as e:  # noqa: BLE001
        allnan_result = f"raises {type(e).__name__}: {e}"
    errors = {}
    for label, kw, H in (("continuous head, max_horizon 80", dict(README_FLAGS, max_context=64, max_horizon=80), 70),
                         ("horizon 40 > max_horizon 32", dict(README_FLAGS, max_context=64, max_horizon=24), 40)):
        try:
            official_forecast(module, kw, H, inputs)
            errors[label] = "no error"
        except Exception as e:  # noqa: BLE001
            errors[label] = f"{type(e).__name__}: {e}"
    extra = {
        "call": "w = TimesFM_2p5_200M_torch API around TimesFM_2p5_200M_torch_module(definition from "
                "model/config.json, load_state_dict strict), torch_compile False; w.compile(ForecastConfig("
                "per_core_batch_size=6, **case)); point, quantiles = w.forecast(horizon=H, inputs=[input_0 .. "
                "input_5])",
        "cases": configs,
        "allnan_input": "np.full(20, nan, float32), readme config, per_core_batch_size 1",
        "allnan_result": allnan_result,
        "allnan_note": "strip_leading_nans keeps the whole all-NaN array (argmax of all-False = 0); "
                       "linear_interpolation's np.interp fails on no sample points and its fallback `if "
                       "non_nans_values:` tests the truth of an EMPTY array, an error since numpy 2.2 (older numpy: "
                       "False with a DeprecationWarning, then every value -> 0.0, i.e. an all-zero context).",
        "compile_errors": errors,
        "no_normalize_vs_readme_max_abs_per_row": norm_diff,
        "notes": [
            "forecast() per series: strip leading NaN, linearly interpolate interior NaN (np.interp: trailing NaN "
            "take the last valid value), keep the last max_context values or left-pad with 0 and mask True.",
            "_compiled_decode: is_positive = all(padded inputs >= 0) per row (padding zeros count); normalize_inputs: "
            "mu = mean, sigma = UNBIASED std over the whole padded row (padding zeros INCLUDED), x = (x - mu) / "
            "(sigma < 1e-6 ? 1 : sigma); de-normalisation at the end is x * sigma + mu (no safe sigma).",
            "decode() is called with the UNROUNDED ForecastConfig.max_horizon (compile's closure uses the argument), "
            "the continuous-head slice with the rounded one; (h-1)//16 is the same for both, so no visible effect.",
            "fix_quantile_crossing: for i in 4,3,2,1: q_i = min(q_i, q_{i+1}); then for i in 6..9: q_i = "
            "max(q_i, q_{i-1}) (channel 0, the mean, untouched); it runs BEFORE de-normalisation and the "
            "is_positive clamp (max(x, 0) on every channel of rows whose padded input is >= 0).",
            "normalize_inputs is mathematically a no-op: decode()'s per-patch running normalisation makes the "
            "network equivariant to x -> a x + b (a > 0; flipping -x_n = a(-x) + b composes), so no_normalize "
            "differs from readme only by float rounding (no_normalize_vs_readme_max_abs_per_row).",
            "continuous head (max_horizon <= output_quantile_len): channels 1..4, 6..9 = spread_i - spread_5 + "
            "point_5 over the first max_horizon steps (spread from the LAST input patch only, no AR).",
        ]}
    return F.finish(extra, check)


def patch_stats(x, pm, p):
    """decode()'s prefill normalisation: running (mu, sigma) after each patch of x (B, L), masked values skipped
    (pm: (B, n, p) True = masked), and the patches normalised with them, masked -> 0."""
    from timesfm.torch import util
    pi = x.reshape(x.shape[0], -1, p)
    n = mu = sg = torch.zeros(x.shape[0])
    mus, sgs = [], []
    for i in range(pi.shape[1]):
        (n, mu, sg), _ = util.update_running_stats(n, mu, sg, pi[:, i], pm[:, i])
        mus.append(mu)
        sgs.append(sg)
    cmu, csg = torch.stack(mus, 1), torch.stack(sgs, 1)
    return cmu, csg, torch.where(pm, 0.0, util.revin(pi, cmu, csg))


# ----------------------------------------------------------------------------- 2. decode
def decode_inputs():
    ctx = make_series(64)
    masks = torch.isnan(ctx)
    masks[2, :24] = True
    return torch.where(masks, 0.0, ctx), masks


def make_decode(check):
    module = load_official(MODEL_DIR)
    vals, masks = decode_inputs()
    caught = {}

    def first(key):  # keeps the first call's output (the prefill); returns None so the output is unchanged
        def hook(m, a, o):
            caught.setdefault(key, (o[0] if isinstance(o, tuple) else o).detach().clone())
        return hook

    hooks = [module.tokenizer.register_forward_hook(first("emb")),
             module.stacked_xf[-1].register_forward_hook(first("out"))]
    pf, qs, ar = module.decode(50, vals, masks)
    for h in hooks:
        h.remove()
    cmu, csg, normed = patch_stats(vals, masks.reshape(4, -1, module.p), module.p)
    F = Fixture("decode")
    F.add("inputs", "inputs", vals, "make_series(64) with NaN -> 0 and row 2's first 24 values -> 0, (4, 64)")
    F.add("inputs", "masks", masks, "True = padded: row 3 first 10, row 2 first 24 (3 whole patches), (4, 64)")
    F.add("outputs", "patch_running_mu", cmu, "running mean (unmasked values) after each input patch, (4, 8)")
    F.add("outputs", "patch_running_sigma", csg, "running population std after each input patch, (4, 8)")
    F.add("outputs", "normed_patches", normed, "(x - mu_i) / (sigma_i < 1e-6 ? 1 : sigma_i) per patch i, masked -> 0, "
          "(4, 8, 8)")
    F.add("outputs", "input_embeddings", caught["emb"], "prefill: tokenizer(concat(normed patch, mask)), (4, 8, 16)")
    F.add("outputs", "output_embeddings", caught["out"], "prefill: output of the last transformer layer, (4, 8, 16)")
    F.add("outputs", "decode_point", pf, "decode(50, inputs, masks)[0]: output_projection_point of every input patch, "
          "renormalised with that patch's running stats, (4, 8, 16, 10)")
    F.add("outputs", "decode_quantile_spread", qs, "decode(...)[1]: output_projection_quantiles of the last input "
          "patch, renormalised, (4, 32, 10)")
    F.add("outputs", "decode_ar", ar, "decode(...)[2]: the 3 autoregressive steps, each the LAST of its 2 new patches' "
          "outputs renormalised with the running stats updated by those patches, (4, 3, 16, 10)")
    extra = {"call": "TimesFM_2p5_200M_torch_module.decode(50, inputs, masks) (no_grad, KV cache of 8 + 3*2 patches)",
             "notes": ["Attention mask: query patch q sees key k iff k <= q and k >= num_masked, num_masked = "
                       "number of patches whose LAST value is masked (assumes the padding is a prefix); rotary "
                       "position = index - num_masked (padded patches get negative positions).  A padded query patch sees no "
                       "key: F.scaled_dot_product_attention (torch 2.11 CPU, boolean mask, math and flash backends) "
                       "returns exactly 0 for such a row (not NaN), and its gradient is 0.",
                       "AR steps: the median (channel 5) of the last output patch (16 values) becomes 2 unmasked input "
                       "patches; running stats continue from the prefill's; positions continue after the cache."]}
    return F.finish(extra, check)


# ----------------------------------------------------------------------------- 3. train
def flip_q(x):
    return torch.cat([x[..., :1], torch.flip(x[..., 1:], dims=(-1,))], dim=-1)


def normalised_forecast(module, vals, masks, flip, cont):
    """_compiled_decode + decode() prefill, differentiable w.r.t. the parameters, for horizons <= o: the forecast
    in the globally normalised space (B, o, q), plus (mu, sigma) of the global normalisation."""
    from timesfm.torch import util
    mu, sigma = vals.mean(-1, keepdim=True), vals.std(-1, keepdim=True)
    xn = util.revin(vals, mu, sigma)
    B, p = vals.shape[0], module.p
    pm = masks.reshape(B, -1, p)

    def prefill(x):
        cmu, csg, normed = patch_stats(x, pm, p)
        (_, _, out, spread), _ = module(normed, pm)
        out = util.revin(out, cmu, csg, reverse=True).reshape(B, -1, module.o, module.q)[:, -1]
        spread = util.revin(spread, cmu, csg, reverse=True).reshape(B, -1, module.os, module.q)[:, -1]
        return out, spread

    point, spread = prefill(xn)
    if flip:
        fp, fs = prefill(-xn)
        point, spread = (point - flip_q(fp)) / 2, (spread - flip_q(fs)) / 2
    if cont:
        a = module.aridx
        cols = [point[..., 0]] + [point[..., i] if i == a else spread[:, :module.o, i] - spread[:, :module.o, a]
                                  + point[..., a] for i in range(1, module.q)]
        point = torch.stack(cols, dim=-1)
    return point, mu, sigma


def pinball(pred, target, q):
    e = target - pred
    return torch.max((q - 1) * e, q * e).mean()


def train_loss(pred, target_n, quantiles, a=5, port_pairing=False):
    mse = ((pred[..., a] - target_n) ** 2).mean()
    if port_pairing:
        chans = [i for i in range(pred.shape[-1]) if i != a]
        return mse + torch.stack([pinball(pred[..., c], target_n, q) for c, q in zip(chans, quantiles)]).mean()
    chans = [i for i in range(1, pred.shape[-1]) if i != a]
    return mse + torch.stack([pinball(pred[..., i], target_n, quantiles[i - 1]) for i in chans]).mean()


def train_data():
    full = make_series(76)
    ctx, tgt = full[:, :64].clone(), full[:, 64:].clone()
    masks = torch.isnan(ctx)
    return torch.where(masks, 0.0, ctx), masks, tgt


def make_train(check):
    from timesfm.torch import util
    module = load_official(MODEL_DIR)
    module.requires_grad_(True)
    vals, masks, tgt = train_data()
    qs = list(module.config.quantiles)
    F = Fixture("train")
    F.add("inputs", "context", vals, "make_series(76)[:, :64], row 3's first 10 (NaN) -> 0, (4, 64)")
    F.add("inputs", "masks", masks, "True = padded (row 3 first 10), (4, 64)")
    F.add("inputs", "targets", tgt, "make_series(76)[:, 64:], (4, 12)")
    extra = {"cases": {}}
    port = port_model_in_memory(load_file(os.path.join(MODEL_DIR, "model.safetensors")))
    for case, flip, cont in (("flip_cont", True, True), ("plain", False, False)):
        module.zero_grad()
        full, mu, sigma = normalised_forecast(module, vals, masks, flip, cont)
        pred = full[:, :tgt.shape[1]]
        tn = util.revin(tgt, mu, sigma)
        loss = train_loss(pred, tn, qs)
        loss.backward(retain_graph=True)  # the port check below backpropagates another loss of the same graph
        # (a) the de-normalised forward is the package's forecast at the same flags
        kw = dict(README_FLAGS, max_context=64, max_horizon=16, use_continuous_quantile_head=cont,
                  force_flip_invariance=flip, infer_is_positive=False, fix_quantile_crossing=False)
        rows = [vals[i][~masks[i]].numpy() for i in range(4)]
        _, ref, _ = official_forecast(module, kw, 16, rows, batch=4)
        got = (full * sigma[..., None] + mu[..., None]).detach()
        assert torch.allclose(got, ref, atol=1e-5, rtol=1e-5), f"{case}: differs from forecast()"
        if case == "flip_cont":  # data-only statistics, the same for both cases
            F.add("outputs", "global_mu", mu, "mean of the padded context row (zeros included), (4, 1)")
            F.add("outputs", "global_sigma", sigma,
                  "unbiased std of the padded context row (row 2: 0 -> divide by 1), (4, 1)")
            F.add("outputs", "targets_normalized", tn, "(targets - global_mu) / safe global_sigma, (4, 12)")
        F.add("outputs", f"pred_normalized_{case}", pred, f"normalised_forecast(flip={flip}, continuous={cont})"
              "[:, :12], the globally normalised [mean, q0.1..q0.9] the loss uses, (4, 12, 10)")
        F.add("outputs", f"loss_{case}", loss.detach().reshape(1), "MSE(channel 5) + mean over channels 1-4,6-9 of "
              "mean pinball at level quantiles[i-1] (correct pairing), (1,)")
        for n, prm in module.named_parameters():  # unused by the loss (quantile head without cont.): zeros
            g = prm.grad if prm.grad is not None else torch.zeros_like(prm)
            F.add(f"grads_{case}", n, g, f"d loss_{case} / d {n}" + ("" if prm.grad is not None else
                                                                     " (not in the graph: exactly 0)"))
        entry = {"force_flip_invariance": flip, "use_continuous_quantile_head": cont,
                 "checked_against_forecast": f"ForecastConfig({kw}) forecast(16, unpadded rows): allclose 1e-5"}
        if case == "flip_cont":
            entry.update(port_loss_check(port, module, vals, masks, tgt, pred, tn, qs, F))
        extra["cases"][case] = entry
    extra["call"] = ("TimesFM_2p5_200M_torch_module (requires_grad) forward inside normalised_forecast() of the "
                     "script; loss.backward(); grads_<case>.safetensors = .grad of every named parameter")
    extra["suggested_tolerance"] = {"atol": 1e-5, "rtol": 1e-4, "grads": {"atol": 1e-5, "rtol": 1e-3}}
    return F.finish(extra, check)


def port_loss_check(port, module, vals, masks, tgt, pred, tn, qs, F):
    """The port's loss equals our pred with the port's pairing; its grads equal those of that loss."""
    past = [vals[i][~masks[i]] for i in range(vals.shape[0])]
    port.zero_grad()
    out = port(past_values=past, future_values=tgt, force_flip_invariance=True)
    out.loss.backward()
    module.zero_grad()
    ours = train_loss(pred, tn, qs, port_pairing=True)
    diff = abs(out.loss.item() - ours.item())
    assert diff <= 1e-6, f"port loss {out.loss.item()} vs ours with the port pairing {ours.item()}"
    ours.backward()
    pg = {n: p.grad for n, p in port.named_parameters()}
    og = to_port_names({n: p.grad for n, p in module.named_parameters()})
    gdiff = max((pg[k] - og[k]).abs().max().item() for k in og)
    assert gdiff < 1e-5, f"port grads differ by {gdiff}"
    F.add("outputs", "port_loss_flip_cont", out.loss.detach().reshape(1),
          "TimesFm2_5ModelForPrediction(past_values, future_values).loss, port pairing (mean channel with 0.1, "
          "channels 1..4 with 0.2..0.5, 6..9 with 0.6..0.9; mean over 9), (1,)")
    return {"port_loss": out.loss.item(), "ours_with_port_pairing": ours.item(), "abs_diff": diff,
            "port_grads_vs_ours_with_port_pairing_max_abs": gdiff,
            "port_call": "TimesFm2_5ModelForPrediction(port config) with the converted weights; past_values = rows "
                         "without the masked prefix (row 3: 54 values, the port left-pads 10 zeros, padding 1), "
                         "future_values = targets, force_flip_invariance True, use_continuous_quantile_head True"}


# ----------------------------------------------------------------------------- 4. port
LAYER_MAP = [("attn.out.", "self_attn.o_proj."), ("attn.per_dim_scale.per_dim_scale", "self_attn.scaling"),
             ("attn.query_ln.scale", "self_attn.q_norm.weight"), ("attn.key_ln.scale", "self_attn.k_norm.weight"),
             ("pre_attn_ln.scale", "input_layernorm.weight"), ("post_attn_ln.scale", "post_attention_layernorm.weight"),
             ("pre_ff_ln.scale", "pre_feedforward_layernorm.weight"),
             ("post_ff_ln.scale", "post_feedforward_layernorm.weight"), ("ff0.", "mlp.fc1."), ("ff1.", "mlp.fc2.")]
BLOCK_MAP = [("hidden_layer.", "input_layer."), ("output_layer.", "output_layer."),
             ("residual_layer.", "residual_layer.")]


def port_name(name):
    """Official -> port name (qkv_proj handled by the caller)."""
    if name.startswith("tokenizer."):
        rest = name[len("tokenizer."):]
        return "model.input_ff_layer." + next(b + rest[len(a):] for a, b in BLOCK_MAP if rest.startswith(a))
    if name.startswith("stacked_xf."):
        _, i, rest = name.split(".", 2)
        return f"model.layers.{i}." + next(b + rest[len(a):] for a, b in LAYER_MAP if rest.startswith(a))
    head, rest = name.split(".", 1)
    return f"{head}." + next(b + rest[len(a):] for a, b in BLOCK_MAP if rest.startswith(a))


def to_port_names(sd):
    """Official state dict -> port names (qkv_proj split in 3 along dim 0: q, k, v)."""
    out = {}
    for name, t in sd.items():
        if ".attn.qkv_proj." in name:
            i, kind = name.split(".")[1], name.rsplit(".", 1)[1]
            for part, x in zip("qkv", torch.chunk(t, 3, dim=0)):
                out[f"model.layers.{i}.self_attn.{part}_proj.{kind}"] = x.contiguous()
        else:
            out[port_name(name)] = t
    return out


def port_config():
    from transformers import TimesFm2_5Config
    d = definition_from_config(json.load(open(os.path.join(MODEL_DIR, "config.json"))))
    tr = d.stacked_transformers.transformer
    return TimesFm2_5Config(patch_length=d.input_patch_len, context_length=64, horizon_length=d.output_patch_len,
                            num_hidden_layers=d.stacked_transformers.num_layers, hidden_size=tr.model_dims,
                            intermediate_size=tr.hidden_dims, head_dim=tr.model_dims // tr.num_heads,
                            num_attention_heads=tr.num_heads, num_key_value_heads=tr.num_heads,
                            quantiles=list(d.quantiles), output_quantile_len=d.output_quantile_len,
                            decode_index=d.decode_index, use_bias=tr.use_bias, activation="swish",
                            use_continuous_quantile_head=True, force_flip_invariance=True, infer_is_positive=True,
                            architectures=["TimesFm2_5ModelForPrediction"])


def port_model_in_memory(official_sd):
    from transformers import TimesFm2_5ModelForPrediction
    m = TimesFm2_5ModelForPrediction(port_config())
    m.load_state_dict(to_port_names(official_sd), strict=True)
    return m.eval()


def port_cases():
    """name -> (port forward kwargs, official flags); official: max_context 64, max_horizon 16, H 16."""
    base = dict(README_FLAGS, max_context=64, max_horizon=16, fix_quantile_crossing=False)
    return {"": (dict(truncate_negative=False, force_flip_invariance=True), dict(base, infer_is_positive=False)),
            "_noflip": (dict(truncate_negative=False, force_flip_invariance=False),
                        dict(base, infer_is_positive=False, force_flip_invariance=False)),
            "_default": (dict(), dict(base))}


def make_port(check):
    from transformers import TimesFm2_5ModelForPrediction
    sd = load_file(os.path.join(MODEL_DIR, "model.safetensors"))
    model = port_model_in_memory(sd)
    pdir = os.path.join(TFM, "port")
    out_dir = tempfile.mkdtemp() if check else pdir
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    bad = 0
    if check:
        bad += compare("port/model", load_file(os.path.join(pdir, "model.safetensors")),
                       load_file(os.path.join(out_dir, "model.safetensors")))
        if json.load(open(os.path.join(pdir, "config.json"))) != json.load(open(os.path.join(out_dir, "config.json"))):
            print("port/config.json differs")
            bad += 1
    port = TimesFm2_5ModelForPrediction.from_pretrained(out_dir).eval()
    module = load_official(MODEL_DIR)
    inputs = forecast_inputs()[:4]
    F = Fixture("port")
    results = {}
    for sfx, (pkw, okw) in port_cases().items():
        with torch.no_grad():
            out = port(past_values=[torch.from_numpy(x[-64:]) for x in inputs], **pkw)
        _, ref, _ = official_forecast(module, okw, 16, inputs, batch=4)
        d = (out.full_predictions - ref).abs()
        results[sfx or "main"] = {"port_kwargs": pkw, "official_forecast_config": okw,
                                  "max_abs_diff_per_row": d.amax(dim=(1, 2)).tolist()}
        F.add("outputs", f"full_predictions{sfx}", out.full_predictions,
              f"port forward(past_values=input_0..3, {pkw}).full_predictions, (4, 16, 10)")
        F.add("outputs", f"mean_predictions{sfx}", out.mean_predictions,
              "the same call's mean_predictions = channel 5, (4, 16)")
        if sfx != "_default":
            assert torch.allclose(out.full_predictions, ref, atol=1e-5, rtol=1e-5), f"port{sfx} != official"
    if check:
        shutil.rmtree(out_dir)
    mapping = {n: ([f"model.layers.{n.split('.')[1]}.self_attn.{c}_proj.weight" for c in "qkv"]
                   if ".qkv_proj." in n else port_name(n)) for n in sd}
    extra = {"call": "TimesFm2_5ModelForPrediction.from_pretrained(port/) (eval); forward(past_values=[input_i[-64:]] "
                     "of forecast-options inputs 0..3, ...) vs the official forecast(16, inputs 0..3) at the flags "
                     "below",
             "model_files": "port/model.safetensors + port/config.json = save_pretrained of "
                            "TimesFm2_5ModelForPrediction(port config) after load_state_dict(renamed fixture "
                            "weights, strict=True)",
             "comparisons": results,
             "name_mapping_official_to_port": mapping,
             "mapping_rules": [
                 "tokenizer.{hidden,output,residual}_layer.* -> model.input_ff_layer.{input,output,residual}_layer.*",
                 "stacked_xf.N.attn.qkv_proj.weight (3*md, md) -> rows [0:md] q_proj, [md:2md] k_proj, [2md:3md] "
                 "v_proj of model.layers.N.self_attn (head h = rows h*hd..(h+1)*hd of each, same in both)",
                 "stacked_xf.N.attn.out -> self_attn.o_proj; attn.per_dim_scale.per_dim_scale -> self_attn.scaling "
                 "(both softplus(x) * 1.442695041 / sqrt(hd), no offset)",
                 "attn.query_ln.scale / key_ln.scale -> self_attn.q_norm.weight / k_norm.weight; pre_attn_ln -> "
                 "input_layernorm, post_attn_ln -> post_attention_layernorm, pre_ff_ln -> pre_feedforward_layernorm, "
                 "post_ff_ln -> post_feedforward_layernorm (.scale -> .weight, value copied: both RMSNorms multiply by "
                 "the parameter itself, eps 1e-6, no +1 offset)",
                 "stacked_xf.N.ff0 / ff1 -> model.layers.N.mlp.fc1 / fc2",
                 "output_projection_{point,quantiles}.hidden_layer -> same prefix .input_layer (no model. prefix); "
                 "output_layer / residual_layer unchanged",
                 "rotary: official splits the head in halves, [x1 cos - x2 sin, x2 cos + x1 sin] with angle "
                 "pos / 10000^(2i/hd); the port's rotate_half with cos/sin = cat(freqs, freqs), inv_freq = "
                 "10000^(-2i/hd) (rope_theta 10000) is the same; both rotate before the q/k RMSNorm"],
             "port_differences": [
                 "the port has no AR decoding: horizon_length = one output patch (16); no fix_quantile_crossing; no "
                 "NaN handling (inputs 0..3 are NaN-free after truncation to 64).",
                 "truncate_negative (infer_is_positive) in the port tests min over the WHOLE BATCH (one flag for all "
                 "rows); the package clamps per row.  With inputs 0..3 (rows 0 and 3 negative) the port clamps no "
                 "row, the package clamps rows 1 and 2: *_default (port defaults) differ from the package in row 1, "
                 "whose unclamped forecast goes below 0 (comparisons['_default']).",
                 "the port's forward always normalises globally (= normalize_inputs True)."]}
    return bad + F.finish(extra, check)


SETS = ("forecast-options", "decode", "train", "port")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    ap.add_argument("--only", default=",".join(SETS), help=f"comma-separated subset of {','.join(SETS)}")
    ap.add_argument("--shared", default=SHARED_DEFAULT, help="shared/reference (source of the copied fixture model)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    only = args.only.split(",")
    if set(only) - set(SETS):
        ap.error(f"unknown set(s) {sorted(set(only) - set(SETS))}")
    bad = copy_model(args.shared, args.check)
    makers = {"forecast-options": make_forecast_options, "decode": make_decode, "train": make_train, "port": make_port}
    for s in SETS:
        if s in only:
            bad += makers[s](args.check)
    if args.check:
        print("ok" if bad == 0 else f"{bad} differences")
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
