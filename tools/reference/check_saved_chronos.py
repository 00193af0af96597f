"""Forecast a long CSV with a saved Chronos / Chronos-Bolt checkpoint through the official package.

    venv/bin/python tools/reference/check_saved_chronos.py DIR CSV [--horizon H] [--out FILE]
        [--quantiles 0.1,0.5,0.9] [--num-samples N] [--seed S] [--greedy]

DIR is a checkpoint directory as `tsfm`'s save_pretrained writes it (config.json with
chronos_config + model.safetensors); it is loaded with BaseChronosPipeline.from_pretrained, so a
directory the official package cannot read fails here.  CSV is long format `id,timestamp,value`
(one value column; an empty cell is a missing value), rows of a series in time order and evenly
spaced.  Each series' values go to pipe.predict_quantiles as one 1-D tensor (the pipeline left-pads
shorter series with NaN and keeps the last context_length values), so the forecast starts after the
last row of each series.

Output (stdout, or --out): `id,timestamp,step,point,q<level>...,mean` like `tsfm predict`'s CSV:
timestamp = last timestamp + step * the series' last interval; point = Bolt: the model's own 0.5
quantile output (predict_quantiles' second output), Chronos-T5: the sample median; q<level> =
predict_quantiles at the levels (0.5 always computed); mean = predict_quantiles' second output (Bolt:
the 0.5 quantile output again; T5: the mean of the samples).  Bolt levels outside the model's set are
interpolated with torch.quantile over the SORTED outputs, so on an untrained model whose quantile
outputs cross, q0.5 can differ from point.  Chronos-T5 samples: --num-samples (default the
config's) after torch.manual_seed(--seed); --greedy uses num_samples=1, top_k=1 instead (greedy
decoding, deterministic, what `tsfm predict --decoding greedy` should match).
"""
import argparse
import csv
import io
import math
import os
import sys
from datetime import datetime

os.environ.setdefault("OMP_NUM_THREADS", "1")


def read_long_csv(path):
    """{id: (timestamps, values)} in file order; empty or unparsable value cells are NaN."""
    series = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["id", "timestamp"] or len(header) != 3:
            sys.exit(f"{path}: expected the header `id,timestamp,value` (one value column), got {header}")
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != 3:
                sys.exit(f"{path}:{line_no}: expected 3 fields, got {len(row)}")
            sid, ts, val = row
            try:
                stamp = datetime.fromisoformat(ts.strip())
            except ValueError:
                sys.exit(f"{path}:{line_no}: timestamp `{ts}` is not ISO 8601")
            try:
                value = float(val) if val.strip() else math.nan
            except ValueError:
                sys.exit(f"{path}:{line_no}: value `{val}` is not a number")
            s = series.setdefault(sid, ([], []))
            s[0].append(stamp)
            s[1].append(value)
    if not series:
        sys.exit(f"{path}: no rows")
    return series


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("csv")
    ap.add_argument("--horizon", type=int, help="steps to forecast (default: the model's prediction_length)")
    ap.add_argument("--quantiles", default="0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9")
    ap.add_argument("--num-samples", type=int, help="Chronos-T5 sample paths (default: the config's num_samples)")
    ap.add_argument("--seed", type=int, default=0, help="torch seed before Chronos-T5 sampling")
    ap.add_argument("--greedy", action="store_true", help="Chronos-T5: num_samples=1, top_k=1 (greedy)")
    ap.add_argument("--out", help="CSV file to write (default: stdout)")
    args = ap.parse_args()
    if not os.path.isfile(os.path.join(args.dir, "config.json")):
        sys.exit(f"{args.dir}: no config.json (not a checkpoint directory)")
    if not os.path.isfile(args.csv):
        sys.exit(f"{args.csv}: no such file")
    levels = [float(q) for q in args.quantiles.split(",")]
    if any(not 0.0 < q < 1.0 for q in levels):
        sys.exit(f"--quantiles: levels must lie in (0, 1), got {levels}")

    import numpy as np
    import torch
    from chronos import BaseChronosPipeline, ChronosBoltPipeline, ChronosPipeline

    torch.set_num_threads(1)
    series = read_long_csv(args.csv)
    pipe = BaseChronosPipeline.from_pretrained(args.dir, device_map="cpu", dtype=torch.float32)
    horizon = args.horizon or pipe.model_prediction_length
    kw = {}
    if isinstance(pipe, ChronosPipeline):
        if args.greedy:
            kw = {"num_samples": 1, "top_k": 1}
        elif args.num_samples:
            kw = {"num_samples": args.num_samples}
        torch.manual_seed(args.seed)
    elif not isinstance(pipe, ChronosBoltPipeline):
        sys.exit(f"{args.dir}: {type(pipe).__name__} is neither ChronosPipeline nor ChronosBoltPipeline")
    is_bolt = isinstance(pipe, ChronosBoltPipeline)
    ids = list(series)
    inputs = [torch.tensor(series[i][1], dtype=torch.float32) for i in ids]
    with torch.no_grad():
        q_all, mean = pipe.predict_quantiles(inputs, prediction_length=horizon,
                                             quantile_levels=sorted(set(levels) | {0.5}), **kw)
    all_levels = sorted(set(levels) | {0.5})
    f32 = lambda v: str(np.float32(v))  # noqa: E731  shortest text of the float32, as tsfm writes it
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "timestamp", "step", "point"] + [f"q{q}" for q in levels] + ["mean"])
    for k, sid in enumerate(ids):
        stamps = series[sid][0]
        step = stamps[-1] - stamps[-2] if len(stamps) > 1 else None
        for h in range(horizon):
            ts = (stamps[-1] + (h + 1) * step).isoformat() if step is not None else ""
            point = mean[k, h] if is_bolt else q_all[k, h, all_levels.index(0.5)]
            row = [sid, ts, h + 1, f32(point)]
            row += [f32(q_all[k, h, all_levels.index(q)]) for q in levels]
            w.writerow(row + [f32(mean[k, h])])
    if args.out:
        with open(args.out, "w") as f:
            f.write(buf.getvalue())
        print(f"{type(pipe).__name__}: {len(ids)} series x {horizon} steps -> {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(buf.getvalue())


if __name__ == "__main__":
    main()
