"""Pandas baseline for benches/prepare.rs: read the demo BrisT1D train.csv.gz and rebuild each
participant's series from the *-0:00 columns (day rollover when time of day goes backwards)."""
import sys, time
import numpy as np
import pandas as pd

path = sys.argv[1] if len(sys.argv) > 1 else "data/demo/brist1d/train.csv.gz"
best = float("inf")
for _ in range(5):
    t = time.perf_counter()
    d = pd.read_csv(path)
    out = {}
    for p, g in d.groupby("p_num", sort=False):
        tod = pd.to_timedelta(g["time"]).dt.total_seconds().to_numpy().astype(np.int64)
        step = np.diff(tod) % 86400
        ts = tod[0] + np.concatenate([[0], np.cumsum(step)])
        cols = [c for c in g.columns if c.endswith("-0:00")]
        s = g[cols].copy()
        s.index = pd.to_datetime(ts, unit="s")
        out[p] = s
    best = min(best, time.perf_counter() - t)
print(f"pandas {pd.__version__}: best of 5 {best:.3f} s, {len(d) / best:.0f} rows/s")
