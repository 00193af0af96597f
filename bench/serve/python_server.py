"""The Python counterpart of `tsfm serve` for bench/serve.sh (127.0.0.1 only).

The same promoted TTM folder, loaded with granite-tsfm's TinyTimeMixerForPrediction (the official
package), behind FastAPI + uvicorn (one worker, as one `tsfm serve` process): the same JSON in and
out, the run's scaler.json (per series, global for unseen ids), its calibrated residual quantiles
and P(glucose < 3.9) from them. Minimal on purpose, as a team would first write it: no batching
across requests, missing covariates as 0 and missing glucose carried forward (tsfm interpolates
short gaps), no grid checks. Usage: python_server.py PRODUCTION_DIR PORT
"""
import importlib.util
import json
import os
import sys
import types

import numpy as np
import torch
import uvicorn
import yaml
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict


def import_ttm():
    """TinyTimeMixerForPrediction without the toolkit's imports (it needs `datasets`)."""
    root = os.path.dirname(importlib.util.find_spec("tsfm_public").origin)
    for name, path in [("tsfm_public", root), ("tsfm_public.models", os.path.join(root, "models"))]:
        module = types.ModuleType(name)
        module.__path__ = [path]
        sys.modules[name] = module
    from tsfm_public.models.tinytimemixer import TinyTimeMixerForPrediction

    return TinyTimeMixerForPrediction


PROD, PORT = sys.argv[1], int(sys.argv[2])
MODEL = import_ttm().from_pretrained(os.path.join(PROD, "model")).eval()
SCALER = json.load(open(os.path.join(PROD, "model", "scaler.json")))
CALIBRATION = json.load(open(os.path.join(PROD, "model", "calibration.json")))
CONFIG = yaml.safe_load(open(os.path.join(PROD, "config.yaml")))
PROMOTION = json.load(open(os.path.join(PROD, "promotion.json")))
CHANNELS = SCALER["channels"]  # target first, then covariates, as the model reads them
CONTEXT = MODEL.config.context_length
HORIZON = MODEL.config.prediction_length
DECILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
CAL_LEVELS = np.array(CALIBRATION["levels"])
CAL_RESIDUALS = np.array(CALIBRATION["residual_quantiles"])  # [step][level]


class SeriesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    timestamps: list[str]
    values: list[float | None]
    covariates: dict[str, list[float | None]] = {}


class ForecastRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    series: list[SeriesIn]
    horizon: int | None = None
    quantiles: list[float] | None = None
    unit: str | None = None


app = FastAPI()


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


def window(s: SeriesIn) -> tuple[np.ndarray, np.ndarray]:
    """The last CONTEXT rows, scaled, and their observed mask."""
    columns = [s.values] + [s.covariates.get(c, [None] * len(s.values)) for c in CHANNELS[1:]]
    x = np.array([[np.nan if v is None else v for v in col] for col in columns], dtype=np.float64).T
    mask = ~np.isnan(x)
    for c in range(x.shape[1]):
        if c == 0:  # carry the last reading forward
            last = np.nan
            for t in range(len(x)):
                last = x[t, c] = last if np.isnan(x[t, c]) else x[t, c]
        x[np.isnan(x[:, c]), c] = 0.0
    affine = SCALER["per_series"].get(s.id, SCALER["global"])
    for c, a in enumerate(affine):
        x[:, c] = (x[:, c] - a["offset"]) / a["scale"]
    x, mask = x[-CONTEXT:], mask[-CONTEXT:]
    pad = CONTEXT - len(x)
    if pad > 0:
        x = np.vstack([np.zeros((pad, x.shape[1])), x])
        mask = np.vstack([np.zeros((pad, mask.shape[1]), dtype=bool), mask])
    return x, mask


@app.post("/v1/forecast")
def forecast(request: ForecastRequest):
    levels = request.quantiles or DECILES
    if request.unit not in (None, "mmol/L"):
        raise HTTPException(422, "unit: this model forecasts mmol/L")
    windows = [window(s) for s in request.series]
    x = torch.tensor(np.stack([w[0] for w in windows]), dtype=torch.float32)
    m = torch.tensor(np.stack([w[1] for w in windows]), dtype=torch.float32)
    with torch.no_grad():
        out = MODEL(past_values=x, past_observed_mask=m).prediction_outputs[:, :, 0].numpy()
    replies = []
    for s, y in zip(request.series, out):
        a = SCALER["per_series"].get(s.id, SCALER["global"])[0]
        point = y.astype(np.float64) * a["scale"] + a["offset"]
        residual = np.array([np.interp(levels, CAL_LEVELS, CAL_RESIDUALS[h]) for h in range(HORIZON)])
        quantiles = (point[:, None] + residual).T  # [level][step]
        p_below = []
        for h in range(HORIZON):
            q = np.sort(quantiles[:, h])
            if 3.9 < q[0]:
                p_below.append(levels[0] / 2)
            elif 3.9 > q[-1]:
                p_below.append((1 + levels[-1]) / 2)
            else:
                p_below.append(float(np.interp(3.9, q, levels)))
        replies.append({
            "id": s.id,
            "point": point.tolist(),
            "quantiles": quantiles.tolist(),
            "p_below": p_below,
        })
    return {
        "model": {"name": PROD, "version": PROMOTION["version"], "source_run": PROMOTION["source_run"], "family": "ttm"},
        "unit": "mmol/L",
        "horizon": HORIZON,
        "quantile_levels": levels,
        "hypo_threshold": 3.9,
        "forecasts": replies,
    }


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning")
