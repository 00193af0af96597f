//! Forecasting a split's windows and scoring them in the data's units.
use burn::tensor::Device;
use tsfm_config::Config;
use tsfm_models::Forecaster;

use crate::experiment::{ExperimentData, Split};
use crate::tensors::to_vec;

/// One window's forecast, everything in data units.
#[derive(Debug, Clone)]
pub struct WindowPrediction {
    pub series_id: String,
    pub interval_min: u32,
    /// Local time of the first forecast step.
    pub origin_ts: i64,
    /// The context's target (short gaps interpolated, NaN where missing).
    pub context: Vec<f64>,
    /// Observed targets of the horizon; NaN where nothing was observed (never interpolated).
    pub truth: Vec<f64>,
    pub point: Vec<f64>,
}

/// Forecast every window of `split` (the model in inference mode), back in data units.
pub fn predict_split<F: Forecaster>(
    model: &F,
    data: &ExperimentData,
    split: Split,
    batch_size: usize,
    device: &Device,
) -> Vec<WindowPrediction> {
    let model = model.valid();
    let source = data.source(split);
    let set = source.set;
    let series = set.data();
    let (context, horizon) = (set.context, set.horizon);
    let mut out = Vec::with_capacity(set.len());
    let indices: Vec<usize> = (0..set.len()).collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let (input, batch) = source.input(chunk, device);
        let point = to_vec(model.forecast(&input).point);
        let steps = point.len() / chunk.len();
        let channels = steps / model.prediction_length();
        for (k, &i) in chunk.iter().enumerate() {
            let (si, start) = set.windows()[i];
            let s = &series[si];
            // Target channel (0) of each step of this window's forecast.
            let mut forecast: Vec<f32> = (0..horizon)
                .map(|h| point[k * steps + h * channels])
                .collect();
            data.prepared.unscale_target(si, &mut forecast);
            let origin = start + context;
            let ch = s.n_channels();
            let truth = (origin..origin + horizon)
                .map(|t| {
                    if s.observed[t * ch] > 0.0 {
                        s.raw_target[t]
                    } else {
                        f64::NAN
                    }
                })
                .collect();
            out.push(WindowPrediction {
                series_id: s.id.clone(),
                interval_min: s.interval_min,
                origin_ts: batch.origin_timestamp[k],
                context: s.raw_target[start..origin].to_vec(),
                truth,
                point: forecast.iter().map(|&v| v as f64).collect(),
            });
        }
    }
    out
}

/// The scores of one split, and how to print and record them.
pub struct SplitResult {
    pub split: Split,
    pub units: String,
    pub report: serde_json::Value,
    /// (label, model RMSE, persistence RMSE) at the configured horizons.
    pub headline: Vec<(String, f64, f64)>,
}

impl SplitResult {
    pub fn summary(&self) -> String {
        let mut text = format!("{} split RMSE ({}):\n", self.split.name(), self.units);
        for (label, model, persistence) in &self.headline {
            text.push_str(&format!(
                "  {label:>6}: model {model:.3}   persistence {persistence:.3}   skill {:+.1}%\n",
                100.0 * (1.0 - model / persistence)
            ));
        }
        text.trim_end().to_string()
    }

    pub fn history_columns(&self) -> Vec<(&'static str, String)> {
        let mut cols = Vec::new();
        for (label, model, persistence) in &self.headline {
            let (m, p): (&'static str, &'static str) = match label.as_str() {
                "30min" => ("rmse_30min", "persistence_rmse_30min"),
                "60min" => ("rmse_60min", "persistence_rmse_60min"),
                _ => continue,
            };
            cols.push((m, format!("{model:.4}")));
            cols.push((p, format!("{persistence:.4}")));
        }
        cols
    }
}

/// Forecast and score `split`.
pub fn evaluate_split<F: Forecaster>(
    model: &F,
    data: &ExperimentData,
    split: Split,
    config: &Config,
    device: &Device,
) -> anyhow::Result<SplitResult> {
    let predictions = predict_split(
        model,
        data,
        split,
        config.evaluation.eval_batch_size as usize,
        device,
    );
    let interval = predictions
        .first()
        .map(|p| p.interval_min)
        .unwrap_or(5)
        .max(1);
    let mut headline = Vec::new();
    for &minutes in &config.evaluation.horizons_min {
        let step = (minutes / interval as u64) as usize;
        if step == 0 || predictions.first().is_some_and(|p| step > p.point.len()) {
            continue;
        }
        let (mut sm, mut sp, mut n) = (0.0, 0.0, 0usize);
        for p in &predictions {
            let y = p.truth[step - 1];
            let last = p.context.iter().rev().find(|v| v.is_finite()).copied();
            if let (true, Some(last)) = (y.is_finite(), last) {
                sm += (p.point[step - 1] - y).powi(2);
                sp += (last - y).powi(2);
                n += 1;
            }
        }
        if n > 0 {
            headline.push((
                format!("{minutes}min"),
                (sm / n as f64).sqrt(),
                (sp / n as f64).sqrt(),
            ));
        }
    }
    Ok(SplitResult {
        split,
        units: data.units.clone(),
        report: serde_json::json!({ "windows": predictions.len() }),
        headline,
    })
}
