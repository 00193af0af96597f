"""The Python side of bench/predict.sh: the job `tsfm predict` does, written with pandas and
granite-tsfm (`tsfm_public`), end to end in one process.

    python predict_tsfm_public.py CHECKPOINT_DIR INPUT.csv OUTPUT.csv

Reads the long CSV (`id,timestamp,value`; each series' trailing rows with an empty value are its
horizon), forecasts every series' last `context_length` readings with
TinyTimeMixerForPrediction in batches of 64 (torch.inference_mode), writes
`id,timestamp,step,point` for the horizon rows. Prints one JSON line with its own timings.
"""
import json
import sys
import time

t0 = time.perf_counter()
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from tsfm_public.models.tinytimemixer import TinyTimeMixerForPrediction  # noqa: E402

t_import = time.perf_counter()
ckpt, inp, out = sys.argv[1:4]
model = TinyTimeMixerForPrediction.from_pretrained(ckpt).eval()
context = model.config.context_length
t_load = time.perf_counter()

df = pd.read_csv(inp, parse_dates=["timestamp"])
ids, contexts, horizons = [], [], []
for sid, g in df.groupby("id", sort=False):
    observed = g["value"].notna().to_numpy()
    last = np.flatnonzero(observed)[-1]
    history = g["value"].to_numpy()[: last + 1]
    ids.append(sid)
    contexts.append(history[-context:].astype(np.float32))
    horizons.append(g["timestamp"].iloc[last + 1:].to_numpy())
past = torch.from_numpy(np.stack(contexts)).unsqueeze(-1)
t_read = time.perf_counter()

points = []
with torch.inference_mode():
    for start in range(0, past.shape[0], 64):
        points.append(model(past_values=past[start:start + 64]).prediction_outputs[..., 0])
point = torch.cat(points).numpy()
t_forecast = time.perf_counter()

frames = []
for i, (sid, stamps) in enumerate(zip(ids, horizons)):
    h = len(stamps)
    frames.append(pd.DataFrame({"id": sid, "timestamp": stamps, "step": np.arange(1, h + 1),
                                "point": point[i, :h]}))
pd.concat(frames).to_csv(out, index=False, date_format="%Y-%m-%dT%H:%M:%S")
t_write = time.perf_counter()
print(json.dumps(dict(series=len(ids), import_s=round(t_import - t0, 3), load_s=round(t_load - t_import, 3),
                      read_s=round(t_read - t_load, 3), forecast_s=round(t_forecast - t_read, 3),
                      write_s=round(t_write - t_forecast, 3), in_process_s=round(t_write - t0, 3))))
