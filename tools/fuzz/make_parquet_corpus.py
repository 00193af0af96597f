"""Writes the Parquet seeds of the fuzz corpus (crates/tsfm-fuzz/corpus/parquet/).

Needs pandas + pyarrow: python tools/fuzz/make_parquet_corpus.py
"""
from pathlib import Path

import numpy as np
import pandas as pd

out = Path(__file__).resolve().parents[2] / "crates/tsfm-fuzz/corpus/parquet"
out.mkdir(parents=True, exist_ok=True)
ts = pd.date_range("2024-01-01", periods=30, freq="5min")
df = pd.DataFrame(
    {"id": ["a"] * 30, "timestamp": ts, "value": 6 + np.sin(np.arange(30) / 5), "x": np.arange(30) % 3}
)
df.to_parquet(out / "one_series.parquet", index=False)
two = pd.concat([df, df.assign(id="b")])
two["timestamp"] = two["timestamp"].astype(str)
two.to_parquet(out / "string_timestamps.parquet", index=False)
f32 = df.copy()
f32["value"] = f32["value"].astype("float32")
f32.loc[3, "value"] = np.nan
f32.to_parquet(out / "float32_nan.parquet", index=False, compression=None)
