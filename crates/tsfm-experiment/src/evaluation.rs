//! Forecasting a split's windows and scoring them in the data's units.
use burn::tensor::Device;
use tsfm_config::Config;
use tsfm_eval::{Evaluator, MetricsReport, QuantileForecast, ResidualCalibration, WindowEval};
use tsfm_models::{ForecastOptions, Forecaster};

use crate::batches::to_vec;
use crate::data::{ExperimentData, Split};
use crate::error::Result;

/// One window's forecast, everything in data units.
#[derive(Debug, Clone)]
pub struct WindowPrediction {
    pub series_id: String,
    pub interval_min: u32,
    /// Local time of the last context reading (the forecast origin, as tsfm-eval counts it):
    /// step h forecasts `origin_ts + h * interval`.
    pub origin_ts: i64,
    /// The context's target (short gaps interpolated, NaN where missing).
    pub context: Vec<f64>,
    /// Observed targets of the horizon; NaN where nothing was observed (never interpolated).
    pub truth: Vec<f64>,
    pub point: Vec<f64>,
    /// The model's quantiles of the target, when it gives them: levels ascending, values
    /// `[level][step]` in data units.
    pub quantiles: Option<QuantileForecast>,
}

impl WindowPrediction {
    /// The window as the evaluator scores it.
    pub fn to_eval(&self) -> WindowEval {
        WindowEval {
            series_id: self.series_id.clone(),
            origin_ts: self.origin_ts,
            interval_min: self.interval_min,
            context: self.context.clone(),
            truth: self.truth.clone(),
            point: self.point.clone(),
            quantiles: self.quantiles.clone(),
        }
    }
}

/// Forecast every window of `split` (the model in inference mode), back in data units, with
/// `options`' decoding and quantile levels over the windows' horizon.
pub fn predict_split<F: Forecaster>(
    model: &F,
    data: &ExperimentData,
    split: Split,
    batch_size: usize,
    options: &ForecastOptions,
    device: &Device,
) -> Result<Vec<WindowPrediction>> {
    let model = model.valid();
    let source = data.source(split);
    let set = source.set;
    let series = set.data();
    let horizon = set.horizon;
    let options = ForecastOptions {
        horizon: Some(horizon),
        ..options.clone()
    };
    let mut out = Vec::with_capacity(set.len());
    let indices: Vec<usize> = (0..set.len()).collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let (input, first_steps) = source.input(chunk, device)?;
        let forecast = model.forecast_with(&input, &options)?;
        let [_, steps, channels] = forecast.point.dims();
        let steps = steps * channels;
        let levels: Vec<f64> = forecast.quantile_levels.iter().map(|&l| l as f64).collect();
        let quantiles = forecast.quantiles.map(to_vec);
        let point = to_vec(forecast.point);
        for (k, &i) in chunk.iter().enumerate() {
            let (si, _) = set.windows()[i];
            let s = &series[si];
            // Target channel (0) of each step of this window's forecast.
            let mut forecast: Vec<f32> = (0..horizon)
                .map(|h| point[k * steps + h * channels])
                .collect();
            data.prepared.unscale_target(si, &mut forecast);
            // [batch, steps, channels, levels]: the target channel of this window. Unscaling
            // is increasing, so the levels keep their order.
            let quantiles = quantiles.as_ref().map(|q| {
                let nq = levels.len();
                let values = (0..nq)
                    .map(|l| {
                        let mut v: Vec<f32> = (0..horizon)
                            .map(|h| q[((k * steps) + h * channels) * nq + l])
                            .collect();
                        data.prepared.unscale_target(si, &mut v);
                        v.iter().map(|&x| x as f64).collect()
                    })
                    .collect();
                QuantileForecast {
                    levels: levels.clone(),
                    values,
                }
            });
            // Context by the causal rule the model's input follows (no value interpolated
            // towards a reading after the origin reaches a baseline); truth observed only.
            out.push(WindowPrediction {
                series_id: s.id.clone(),
                interval_min: s.interval_min,
                origin_ts: first_steps[k] - s.interval_min as i64 * 60,
                context: set.context_target(i),
                truth: set.horizon_truth(i),
                point: forecast.iter().map(|&v| v as f64).collect(),
                quantiles,
            });
        }
    }
    Ok(out)
}

/// The scores of one split, and how to print and record them.
pub struct SplitResult {
    pub split: Split,
    pub units: String,
    pub report: MetricsReport,
    pub predictions: Vec<WindowPrediction>,
    /// `evaluation.nocturnal.enabled`: whether night metrics are shown.
    pub nocturnal: bool,
    /// `evaluation.metrics`: the metrics the summary and the run history show.
    pub metrics: Vec<String>,
    /// The evaluator's rows (forecasts, truth and baselines per window), for predictions.csv.
    pub rows: Vec<tsfm_eval::WindowRow>,
}

impl SplitResult {
    /// (label, model RMSE, persistence RMSE) at each named horizon.
    pub fn headline(&self) -> Vec<(String, Option<f64>, Option<f64>)> {
        let persistence = self.report.baselines.get("persistence");
        self.report
            .at_horizons
            .iter()
            .map(|(label, m)| {
                let p = persistence
                    .and_then(|b| b.at_horizons.get(label))
                    .and_then(|m| m.rmse);
                (label.clone(), m.rmse, p)
            })
            .collect()
    }

    pub fn summary(&self) -> String {
        let fmt = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "n/a".into());
        let mut text = format!(
            "{} split RMSE ({}, {} windows, pooled):\n",
            self.split.name(),
            self.units,
            self.report.n_windows
        );
        for (label, model, persistence) in self.headline() {
            let skill = match (model, persistence) {
                (Some(m), Some(p)) if p > 0.0 => format!("{:+.1}%", 100.0 * (1.0 - m / p)),
                _ => "n/a".into(),
            };
            text.push_str(&format!(
                "  {label:>6}: model {}   persistence {}   skill {skill}\n",
                fmt(model),
                fmt(persistence)
            ));
        }
        let selected: Vec<String> = self
            .selected()
            .into_iter()
            .map(|(name, value)| format!("{name} {}", fmt(value)))
            .collect();
        if !selected.is_empty() {
            text.push_str(&format!("  overall: {}\n", selected.join("   ")));
        }
        if self.nocturnal {
            let n = &self.report.nocturnal;
            if n.midnight_episodes > 0 {
                text.push_str(&format!(
                    "  nocturnal: {} episodes from {} ({} h), RMSE {}\n",
                    n.midnight_episodes,
                    n.context_end,
                    n.horizon_hours,
                    fmt(n.episode.rmse)
                ));
            }
            text.push_str(&format!(
                "  night (00:00-06:00 targets) RMSE {}   day RMSE {}\n",
                fmt(self.report.day_night.night.rmse),
                fmt(self.report.day_night.day.rmse)
            ));
        }
        text.truncate(text.trim_end().len());
        text
    }

    /// The `evaluation.metrics` columns (validated with the config, so never unknown here).
    pub fn selected(&self) -> Vec<(String, Option<f64>)> {
        self.report.selected(&self.metrics).unwrap_or_default()
    }

    /// Run-history columns: RMSE at 30 and 60 min with persistence, then the selected metrics,
    /// at full precision (history is data, not a printed table).
    pub fn history_columns(&self) -> Vec<(String, String)> {
        let mut cols = Vec::new();
        let v = |x: Option<f64>| x.map(|x| x.to_string()).unwrap_or_default();
        for (label, model, persistence) in self.headline() {
            if label == "30min" || label == "60min" {
                cols.push((format!("rmse_{label}"), v(model)));
                cols.push((format!("persistence_rmse_{label}"), v(persistence)));
            }
        }
        for (name, value) in self.selected() {
            if !cols.iter().any(|(c, _)| *c == name) {
                cols.push((name, v(value)));
            }
        }
        cols
    }
}

/// Forecast and score `split`. A point model's windows get quantiles from `calibration` (the
/// run's residual quantiles); a model with its own quantiles keeps them.
pub fn evaluate_split<F: Forecaster>(
    model: &F,
    data: &ExperimentData,
    split: Split,
    config: &Config,
    calibration: Option<&ResidualCalibration>,
    device: &Device,
) -> Result<SplitResult> {
    crate::data::check_fits(model, config, data, split, device)?;
    let options = crate::options::decoding::forecast_options(config, &model.info())?;
    let mut predictions = predict_split(
        model,
        data,
        split,
        config.evaluation.eval_batch_size as usize,
        &options,
        device,
    )?;
    if let Some(calibration) = calibration {
        let levels = crate::options::evaluation::calibration_levels(config);
        for p in &mut predictions {
            if p.quantiles.is_none() {
                p.quantiles = Some(calibration.apply(&p.point, &levels)?);
            }
        }
    }
    let options = crate::options::evaluation::evaluator_options(config);
    let mut evaluator = Evaluator::with_options(options)?;
    for p in &predictions {
        evaluator.add(p.to_eval());
    }
    let horizons: Vec<u32> = config
        .evaluation
        .horizons_min
        .iter()
        .map(|&m| m as u32)
        .collect();
    let report = evaluator.finish(&data.units, &horizons);
    let rows = evaluator.rows().to_vec();
    Ok(SplitResult {
        split,
        units: data.units.clone(),
        report,
        predictions,
        nocturnal: config.evaluation.nocturnal.enabled,
        metrics: config.evaluation.metrics.clone(),
        rows,
    })
}

/// Fewest residuals a horizon step's quantiles rest on before neighbouring steps are pooled.
const MIN_RESIDUALS_PER_STEP: usize = tsfm_eval::calibration::DEFAULT_MIN_RESIDUALS;

/// Calibrated quantiles for a point model from its validation residuals (split-conformal, per
/// horizon step), at [`crate::options::evaluation::calibration_levels`]. `None` when the split
/// has no windows.
pub fn fit_calibration<F: Forecaster>(
    model: &F,
    data: &ExperimentData,
    split: Split,
    config: &Config,
    device: &Device,
) -> Result<Option<ResidualCalibration>> {
    if data.windows(split).is_empty() {
        return Ok(None);
    }
    let batch = config.evaluation.eval_batch_size as usize;
    let options = crate::options::decoding::forecast_options(config, &model.info())?;
    let predictions = predict_split(model, data, split, batch, &options, device)?;
    let levels = crate::options::evaluation::calibration_levels(config);
    let pairs = predictions.iter().map(|p| (&p.truth[..], &p.point[..]));
    let calibration = ResidualCalibration::fit(pairs, &levels, MIN_RESIDUALS_PER_STEP)?;
    tracing::debug!(
        "calibrated {} levels over {} steps from {} {} windows",
        levels.len(),
        calibration.steps(),
        predictions.len(),
        split.name()
    );
    Ok(Some(calibration))
}
