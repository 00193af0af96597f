//! Forecasting the series of a CSV/Parquet file.
//!
//! - a checkpoint as it is ([`PredictModel::Checkpoint`]): the input goes to the model in the
//!   file's units (the model scales each window itself);
//! - a trained run ([`PredictModel::Trained`]): through the run's own preprocessing and saved
//!   `scaler.json`; forecasts come back in the data's units, with calibrated quantiles when the
//!   run has a `calibration.json`.
//!
//! Input: long format `id,timestamp,<channel>[,<channel>...]`, regular per series, empty cells
//! missing. Each series' last `context_length` values form the context; shorter series are
//! left-padded with zeros marked unobserved (see [`crate::batches::HostBatch`]).
//! Output: `id,timestamp,step,point` (one column per channel name instead of `point` when the
//! input has several), then `q<level>` columns when quantiles were asked for; one row per
//! forecast step.
pub mod input;
pub mod options;
pub mod output;
pub mod trained;

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use tsfm_data::Series;
use tsfm_models::{AnyForecaster, Forecaster};

use crate::batches::{HostBatch, to_vec};
use crate::error::{Result, user};
use crate::events::Events;
use options::Sampling;
use output::SeriesForecast;
pub use trained::TrainedModel;

/// Which model forecasts.
pub enum PredictModel {
    /// A checkpoint directory or hub id, used as it is.
    Checkpoint {
        spec: String,
        device: tsfm_config::Device,
    },
    /// A trained run's (or a config's) model with its preprocessing.
    Trained(Box<TrainedModel>),
}

/// What to forecast and where to write it.
pub struct PredictRequest {
    pub input: PathBuf,
    pub output: PathBuf,
    /// Steps to forecast (default: the model's horizon).
    pub horizon: Option<usize>,
    pub sampling: Sampling,
    pub batch_size: usize,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredictSummary {
    pub series: usize,
    pub columns: usize,
    pub horizon: usize,
}

pub fn predict(
    model: PredictModel,
    request: &PredictRequest,
    events: &mut dyn Events,
) -> Result<PredictSummary> {
    let (dir, device) = match &model {
        PredictModel::Trained(t) => (t.model_dir.clone(), t.resolved.config.model.device),
        PredictModel::Checkpoint { spec, device } => {
            (tsfm_models::resolve_checkpoint(spec)?, *device)
        }
    };
    let device = crate::device::resolve(device)?;
    let loaded = match &model {
        PredictModel::Trained(t) => {
            crate::model::load_model(&t.resolved.config.model, &device, events)?
        }
        PredictModel::Checkpoint { .. } => {
            let loaded = tsfm_models::load_forecaster_in(&dir, &device)?;
            for warning in loaded.warnings {
                events.warn(format!("{}: {warning}", dir.display()));
            }
            loaded.model
        }
    };
    let info = loaded.info();
    let calibrated = matches!(&model, PredictModel::Trained(t) if t.calibration.is_some());
    for warning in request.sampling.check_for_model(&info, calibrated)? {
        events.warn(warning);
    }
    let steps = info.prediction_length;
    let horizon = request.horizon.unwrap_or(steps);
    if horizon == 0 || horizon > steps {
        return Err(user(format!(
            "--horizon {horizon}: this {} checkpoint forecasts 1 to {steps} steps",
            info.model_type
        )));
    }

    let (channels, mut series) = input::read(&request.input, events)?;
    let (names, forecasts) = match &model {
        PredictModel::Trained(t) => {
            let notes = input::to_config_channels(
                &request.input,
                &channels,
                &mut series,
                t.target(),
                t.covariates(),
            )?;
            for note in notes {
                events.note(note);
            }
            let out = t.forecast(&loaded, series, horizon, request, &device, events)?;
            events.info(format!("model: {}", t.describe()));
            out
        }
        PredictModel::Checkpoint { .. } => {
            if dir.join("scaler.json").is_file() {
                events.note(format!(
                    "{} holds a training scaler.json that --model-path does not apply; \
                     `tsfm predict --run RUN` forecasts through the run's preprocessing",
                    dir.display()
                ));
            }
            forecast_checkpoint(&loaded, &dir, &channels, &series, horizon, request, &device)?
        }
    };
    output::write(&request.output, &names, &forecasts, horizon)?;
    Ok(PredictSummary {
        series: forecasts.len(),
        columns: names.len(),
        horizon,
    })
}

/// A checkpoint used as it is: channels in the file's units. A single-channel model forecasts
/// every column on its own; a model of several channels takes exactly that many columns
/// together.
fn forecast_checkpoint(
    model: &AnyForecaster,
    dir: &Path,
    channels: &[String],
    series: &[Series],
    horizon: usize,
    request: &PredictRequest,
    device: &Device,
) -> Result<(Vec<String>, Vec<SeriesForecast>)> {
    let info = model.info();
    let targets = info.target_channels;
    if info.past_covariates > 0 || info.future_covariates > 0 {
        return Err(user(format!(
            "{}: this checkpoint reads {} covariate channel(s) beside {targets} target(s); \
             --model-path forecasts target columns only: train a run whose config names the \
             covariates and use --run",
            dir.display(),
            info.past_covariates + info.future_covariates
        )));
    }
    let width = targets.max(1);
    if width > 1 && channels.len() != width {
        return Err(user(format!(
            "{}: this checkpoint forecasts {width} channels together, but the input has {} ({}); give exactly {width} value columns",
            dir.display(),
            channels.len(),
            channels.join(", ")
        )));
    }
    let (context, steps) = (info.context_length, info.prediction_length);
    let model = model.valid();
    // (series, first channel) per model row.
    let items: Vec<(usize, usize)> = (0..series.len())
        .flat_map(|s| (0..channels.len()).step_by(width).map(move |c| (s, c)))
        .collect();
    let mut forecasts: Vec<SeriesForecast> = series
        .iter()
        .map(|s| SeriesForecast {
            id: s.id.clone(),
            last_ts: *s.timestamps.last().expect("series have rows"),
            interval_min: s.interval_min,
            columns: vec![Vec::new(); channels.len()],
        })
        .collect();
    for chunk in items.chunks(request.batch_size.max(1)) {
        let mut batch = HostBatch::new(context, width);
        batch.targets = width;
        for &(s, c0) in chunk {
            let (values, mask) = history(&series[s], c0, width);
            batch.push_history(&values, &mask, u64::from(series[s].interval_min) * 60);
        }
        let input = batch.into_input(device)?;
        model
            .check_input(&input)
            .map_err(|e| user(format!("{}: {e}", dir.display())))?;
        let point = to_vec(model.forecast(&input)?.point);
        for (k, &(s, c0)) in chunk.iter().enumerate() {
            for j in 0..width {
                forecasts[s].columns[c0 + j] = (0..horizon)
                    .map(|h| point[(k * steps + h) * width + j])
                    .collect();
            }
        }
    }
    let names = if channels.len() == 1 {
        vec!["point".to_string()]
    } else {
        channels.to_vec()
    };
    Ok((names, forecasts))
}

/// Channels `c0..c0 + width` of a series, row-major, with the observed mask (missing -> 0).
fn history(series: &Series, c0: usize, width: usize) -> (Vec<f32>, Vec<f32>) {
    let mut values = Vec::with_capacity(series.len() * width);
    let mut mask = Vec::with_capacity(series.len() * width);
    for t in 0..series.len() {
        for c in c0..c0 + width {
            let v = series.channels[c].values[t];
            values.push(if v.is_finite() { v as f32 } else { 0.0 });
            mask.push(if v.is_finite() { 1.0 } else { 0.0 });
        }
    }
    (values, mask)
}
