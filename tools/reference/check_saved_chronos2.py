"""Check the forecasts of a Chronos-2 checkpoint or LoRA adapter written by `tsfm` against chronos-forecasting 2.3.2.

    venv/bin/python tools/reference/check_saved_chronos2.py DIR [--forecasts FILE] [--atol 1e-5] [--rtol 1e-4]
    venv/bin/python tools/reference/check_saved_chronos2.py DIR --from-csv PREDICT_CSV --input CSV [--atol ...]

DIR is either a checkpoint directory as `save_pretrained` writes it (config.json with chronos_config +
model.safetensors), loaded with BaseChronosPipeline.from_pretrained (it must come back a
Chronos2Pipeline), or a PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors,
base_model_name_or_path = the checkpoint it adapts), loaded the two ways the package offers:
Chronos2Pipeline.from_pretrained(DIR) (peft's AutoPeftModel, then merge_and_unload, what a user of
the package gets) and, unmerged, peft.PeftModel.from_pretrained(base pipeline's model, DIR) on
BaseChronosPipeline.from_pretrained(base).  A directory the package cannot read fails here.

What is compared:
- default: FILE (default DIR/forecasts.safetensors), which the Rust test
  `chronos2_lora_export` writes with `TSFM_CHRONOS2_EXPORT_DIR` set: keys `input_<i>` (1-D float32
  series, NaN = missing) and `quantiles_h<H>` (n, Q, H), tsfm's `pipe.predict(inputs, H)` at the
  model's Q levels; the package runs `pipe.predict([input_0, ...], prediction_length=H)` per H.
- --from-csv PREDICT_CSV --input CSV: the output of `tsfm predict --model-path DIR --quantiles ...`
  (`id,timestamp,step,point,q<level>...`) on CSV, a long `id,timestamp,value` file (one value column,
  an empty cell is missing; trailing empty cells of a series are its horizon rows and are dropped);
  the package runs `pipe.predict_quantiles(series, H, levels)` with H = the largest `step` and the
  CSV's levels; `point` is compared with its second output (Chronos-2's median).

Allowed difference per element of series i: atol * max(1, max |input_i|) + rtol * |package value| (the reference
fixture's forecast tolerance, atol 1e-5, rtol 1e-4: the output's sinh turns a 1e-6 error in normalised space into
~scale x 1e-6), times --rollout-factor (2, as the Rust parity test) for the steps after the first pass
(max_output_patches x output_patch_size), which read the first pass's forecasts back as context.  Prints each
series' max abs difference and worst ratio to its bound; exit 1 when any is above (or a key/shape/series is
missing), 2 on unusable arguments.
"""
import argparse
import csv
import json
import math
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--forecasts", help="tsfm's forecasts (default DIR/forecasts.safetensors)")
    ap.add_argument("--from-csv", metavar="PREDICT_CSV", help="tsfm predict's output CSV instead of a safetensors file")
    ap.add_argument("--input", metavar="CSV", help="with --from-csv: the long `id,timestamp,value` CSV tsfm predicted")
    ap.add_argument("--atol", type=float, default=1e-5)
    ap.add_argument("--rtol", type=float, default=1e-4)
    ap.add_argument("--rollout-factor", type=float, default=2.0,
                    help="bound multiplier for the steps after the first pass (default 2, as the Rust parity test)")
    args = ap.parse_args()
    is_adapter = os.path.isfile(os.path.join(args.dir, "adapter_config.json"))
    needed = ("adapter_config.json", "adapter_model.safetensors") if is_adapter else ("config.json", "model.safetensors")
    for fn in needed:
        if not os.path.isfile(os.path.join(args.dir, fn)):
            print(f"{args.dir}: no {fn}", file=sys.stderr)
            return 2
    if args.from_csv and not args.input:
        print("--from-csv needs --input CSV (the series tsfm forecast)", file=sys.stderr)
        return 2
    forecasts = args.forecasts or os.path.join(args.dir, "forecasts.safetensors")
    if not args.from_csv and not os.path.isfile(forecasts):
        print(f"{forecasts} not found", file=sys.stderr)
        return 2

    import torch

    torch.set_num_threads(1)
    pipes = load_pipelines(args.dir, is_adapter)
    if pipes is None:
        return 1
    if args.from_csv:
        cases = csv_cases(args.from_csv, args.input)
    else:
        cases = safetensors_cases(forecasts)
    if cases is None:
        return 1
    bad = 0
    for label, pipe in pipes:
        cfg = pipe.model.chronos_config
        first_pass = cfg.max_output_patches * cfg.output_patch_size
        for name, inputs, run, expected, time_axis in cases:
            with torch.no_grad():
                got = run(pipe)
            bad += compare(f"{label} {name}", inputs, got, expected, time_axis, args.atol, args.rtol, first_pass,
                           args.rollout_factor)
    print("ok" if bad == 0 else f"{bad} series differ")
    return 1 if bad else 0


def load_pipelines(path, is_adapter):
    """[(label, Chronos2Pipeline)]: the checkpoint, or the adapter merged by the package and unmerged by peft."""
    import torch
    from chronos import BaseChronosPipeline, Chronos2Pipeline

    if not is_adapter:
        pipe = BaseChronosPipeline.from_pretrained(path, device_map="cpu", dtype=torch.float32)
        if not isinstance(pipe, Chronos2Pipeline):
            print(f"{path}: loads as {type(pipe).__name__}, not Chronos2Pipeline", file=sys.stderr)
            return None
        pipe.model.eval()
        return [("checkpoint", pipe)]
    from peft import PeftModel

    merged = Chronos2Pipeline.from_pretrained(path)
    merged.model.eval()
    with open(os.path.join(path, "adapter_config.json")) as f:
        base = json.load(f)["base_model_name_or_path"]
    unmerged = BaseChronosPipeline.from_pretrained(base, device_map="cpu", dtype=torch.float32)
    peft_model = PeftModel.from_pretrained(unmerged.model, path).eval()
    lora = sorted({n.rsplit(".lora_", 1)[0] for n, _ in peft_model.named_parameters() if ".lora_" in n})
    print(f"adapter {path} on {base}: {len(lora)} LoRA modules, e.g. {lora[:2]}")
    if not lora:
        print("the adapter injected no LoRA module", file=sys.stderr)
        return None
    unmerged.model = peft_model.get_base_model()  # LoRA layers injected in place
    return [("adapter (package, merged)", merged), ("adapter (peft, unmerged)", unmerged)]


def safetensors_cases(path):
    """[(name, inputs, run(pipe) -> (n, Q, H), expected, time axis)] from the file the Rust test writes."""
    import torch
    from safetensors.torch import load_file

    t = load_file(path)
    inputs = [t[f"input_{i}"] for i in range(len([k for k in t if k.startswith("input_")]))]
    horizons = sorted(int(k[len("quantiles_h"):]) for k in t if k.startswith("quantiles_h"))
    if not inputs or not horizons:
        print(f"{path}: needs input_<i> and quantiles_h<H> tensors, has {sorted(t)}", file=sys.stderr)
        return None

    def run(h):
        return lambda pipe: torch.cat(pipe.predict(inputs, prediction_length=h))

    return [(f"predict h{h}", inputs, run(h), t[f"quantiles_h{h}"], -1) for h in horizons]  # (Q, H) per series


def csv_cases(predict_csv, input_csv):
    """The `tsfm predict` CSV as one case: (n, H, 1 + levels) = [point, q<level>...] per step."""
    import torch
    from check_saved_chronos import read_long_csv

    series = read_long_csv(input_csv)
    ids = list(series)
    inputs = []
    for sid in ids:
        values = list(series[sid][1])
        while values and math.isnan(values[-1]):
            values.pop()  # horizon rows
        inputs.append(torch.tensor(values, dtype=torch.float32))
    rows = {}
    with open(predict_csv, newline="") as f:
        reader = csv.DictReader(f)
        qcols = [c for c in reader.fieldnames or [] if c.startswith("q")]
        if "point" not in (reader.fieldnames or []) or not qcols:
            print(f"{predict_csv}: expected columns id,timestamp,step,point,q<level>...", file=sys.stderr)
            return None
        for row in reader:
            rows[(row["id"], int(row["step"]))] = [float(row["point"])] + [float(row[c]) for c in qcols]
    levels = [float(c[1:]) for c in qcols]
    horizon = max(step for _, step in rows)
    expected = torch.full((len(ids), horizon, 1 + len(levels)), float("nan"))
    for k, sid in enumerate(ids):
        for h in range(horizon):
            if (sid, h + 1) not in rows:
                print(f"{predict_csv}: no row for series {sid} step {h + 1}", file=sys.stderr)
                return None
            expected[k, h] = torch.tensor(rows[(sid, h + 1)])

    def run(pipe):
        # One (1, H, L) / (1, H) tensor per univariate series.
        q, mean = pipe.predict_quantiles(inputs, prediction_length=horizon, quantile_levels=levels)
        return torch.cat([torch.cat(mean)[..., None], torch.cat(q)], dim=-1)

    return [(f"predict_quantiles h{horizon} levels {levels}", inputs, run, expected, 0)]  # (H, 1 + L) per series


def compare(name, inputs, got, expected, time_axis, atol, rtol, first_pass, rollout_factor):
    """Prints each series' max difference and its worst ratio to the bound; returns how many series exceed it.

    `time_axis`: the step axis of one series' block.  Bound per element: atol * max(1, max |input_i|) + rtol * |package value|, times rollout_factor for the
    steps after the first pass (`first_pass` steps), which read the first pass's forecasts back as context.
    """
    import torch

    got = got.float()
    if tuple(got.shape) != tuple(expected.shape):
        print(f"{name}: package gives {tuple(got.shape)}, tsfm {tuple(expected.shape)}: MISMATCH")
        return 1
    bad = 0
    for i, x in enumerate(inputs):
        finite = x[torch.isfinite(x)]
        scale = max(1.0, float(finite.abs().max())) if finite.numel() else 1.0
        diff = (got[i] - expected[i].float()).abs().nan_to_num(nan=float("inf"))
        bound = atol * scale + rtol * got[i].abs()
        steps = torch.arange(got[i].shape[time_axis])
        factor = torch.where(steps < first_pass, 1.0, rollout_factor)
        shape = [1] * got[i].ndim
        shape[time_axis] = -1
        bound = bound * factor.reshape(shape)
        ratio = float((diff / bound).max())
        ok = ratio <= 1.0
        bad += not ok
        print(f"{name} series {i} (len {len(x)}): max abs diff {float(diff.max()):.3g}, "
              f"worst {ratio:.2f}x the bound {'ok' if ok else 'MISMATCH'}")
    return bad


if __name__ == "__main__":
    sys.exit(main())
