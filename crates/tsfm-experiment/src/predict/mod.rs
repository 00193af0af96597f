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
//! input has several), then `q<level>` columns when quantiles were asked for (`<channel>_q<level>`
//! for several channels forecast one by one; native quantiles of models that have them, else a
//! run's calibrated ones); one row per
//! forecast step.
pub mod input;
pub mod options;
pub mod output;
pub mod trained;

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use tsfm_data::Series;
use tsfm_models::{AnyForecaster, ForecastOptions, Forecaster, LoadOptions};

use crate::batches::{HostBatch, to_vec};
use crate::error::{Result, user};
use crate::events::Events;
use crate::options::decoding::DecodingSettings;
use crate::options::timesfm::TimesFmFlags;
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
    /// TimesFM's forecast settings over the run's config or the README example's.
    pub timesfm: TimesFmFlags,
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
            let config = &t.resolved.config.model;
            let settings = crate::options::timesfm::settings(config)?.unwrap_or_default();
            let options = LoadOptions {
                timesfm: Some(request.timesfm.apply(settings)?),
                ..Default::default()
            };
            crate::model::load_model_with(config, &options, &device, events)?
        }
        PredictModel::Checkpoint { .. } => {
            let options = LoadOptions {
                timesfm: Some(request.timesfm.apply(Default::default())?),
                ..Default::default()
            };
            let loaded = tsfm_models::load_forecaster_in_with(&dir, &device, &options)?;
            for warning in loaded.warnings {
                events.warn(format!("{}: {warning}", dir.display()));
            }
            loaded.model
        }
    };
    let info = loaded.info();
    let timesfm_flags = request.timesfm.given();
    if info.model_type != "timesfm" && !timesfm_flags.is_empty() {
        return Err(user(format!(
            "{}: TimesFM settings, but this is a {} checkpoint; drop them",
            timesfm_flags.join(", "),
            info.model_type
        )));
    }
    let calibrated = matches!(&model, PredictModel::Trained(t) if t.calibration.is_some());
    for warning in request.sampling.check_for_model(&info, calibrated)? {
        events.warn(warning);
    }
    let horizon = request.horizon.unwrap_or(info.prediction_length);
    let max = loaded.max_horizon();
    if horizon == 0 || max.is_some_and(|m| horizon > m) {
        let most = max.map_or("any number of".to_string(), |m| m.to_string());
        return Err(user(format!(
            "--horizon {horizon}: this {} checkpoint forecasts 1 to {most} steps",
            info.model_type
        )));
    }
    let base = match &model {
        PredictModel::Trained(t) => DecodingSettings::from_config(
            &t.resolved.config.model,
            &info,
            t.resolved.config.training.seed,
        )?,
        PredictModel::Checkpoint { .. } => DecodingSettings::checkpoint(&info),
    };
    let options = ForecastOptions {
        horizon: Some(horizon),
        // Native quantiles at the asked levels (the model interpolates its own); a point
        // model's come from the run's calibration instead.
        quantile_levels: (info.has_quantiles() && !request.sampling.quantiles.is_empty()).then(
            || {
                request
                    .sampling
                    .quantiles
                    .iter()
                    .map(|&q| q as f32)
                    .collect()
            },
        ),
        decoding: request.sampling.decoding(base),
    };

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
            let out = t.forecast(&loaded, series, &options, request, &device, events)?;
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
            forecast_checkpoint(
                &loaded, &dir, &channels, &series, &options, request, &device,
            )?
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
    options: &ForecastOptions,
    request: &PredictRequest,
    device: &Device,
) -> Result<(Vec<String>, Vec<SeriesForecast>)> {
    let info = model.info();
    let horizon = options.horizon.unwrap_or(info.prediction_length);
    let levels = options.quantile_levels.clone().unwrap_or_default();
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
    if !levels.is_empty() && width > 1 {
        return Err(user(format!(
            "--quantiles: {} forecasts {width} channels together; quantile columns are written \
             for single-channel forecasts only, drop --quantiles",
            dir.display()
        )));
    }
    let context = info.context_length;
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
            columns: vec![Vec::new(); channels.len() * (1 + levels.len())],
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
        let forecast = model.forecast_with(&input, options)?;
        let point = to_vec(forecast.point);
        let quantiles = forecast.quantiles.map(to_vec);
        let nq = levels.len();
        for (k, &(s, c0)) in chunk.iter().enumerate() {
            for j in 0..width {
                forecasts[s].columns[c0 + j] = (0..horizon)
                    .map(|h| point[(k * horizon + h) * width + j])
                    .collect();
            }
            // Single-channel rows: quantile column l of channel c sits after every point column.
            if let Some(q) = &quantiles {
                for l in 0..nq {
                    forecasts[s].columns[channels.len() + c0 * nq + l] = (0..horizon)
                        .map(|h| q[(k * horizon + h) * nq + l])
                        .collect();
                }
            }
        }
    }
    let mut names = if channels.len() == 1 {
        vec!["point".to_string()]
    } else {
        channels.to_vec()
    };
    for c in channels {
        for l in &levels {
            names.push(if channels.len() == 1 {
                format!("q{l}")
            } else {
                format!("{c}_q{l}")
            });
        }
    }
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
