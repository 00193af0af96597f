//! Forecasting the series of a CSV/Parquet file.
//!
//! - a checkpoint as it is ([`PredictModel::Checkpoint`]): the input goes to the model in the
//!   file's units (the model scales each window itself);
//! - a trained run ([`PredictModel::Trained`]): through the run's own preprocessing and saved
//!   `scaler.json`; forecasts come back in the data's units, with calibrated quantiles when the
//!   run has a `calibration.json`.
//!
//! Input: the one convention of [`convention`]: long format `id,timestamp,<target>,
//! <covariates...>`, regular per series, empty cells missing, rows after the last target
//! reading the horizon (a covariate filled there known-future). Each series' last
//! `context_length` values form the context; shorter series are left-padded with zeros marked
//! unobserved (see [`crate::batches::HostBatch`]).
//! Output: `id,timestamp,step,point` (one column per channel name instead of `point` when the
//! input has several), then `q<level>` columns when quantiles were asked for (`<channel>_q<level>`
//! for several channels forecast one by one; native quantiles of models that have them, else a
//! run's calibrated ones); one row per
//! forecast step.
pub mod convention;
pub mod input;
pub mod options;
pub mod output;
pub mod text_columns;
pub mod trained;
pub mod units;

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
    /// The target column of the input (its other value columns are covariates); `None`: a
    /// trained run's target, or for a checkpoint every column is a target.
    pub target: Option<String>,
    /// The glucose unit of the input's target (`--unit`), for a run that forecasts glucose:
    /// converted to the run's mmol/L on reading, forecasts given back in it. `None`: the
    /// values must look like mmol/L.
    pub unit: Option<tsfm_data::units::GlucoseUnit>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredictSummary {
    pub series: usize,
    pub columns: usize,
    pub horizon: usize,
}

/// [`Predictor::load`], [`input::read`], [`Predictor::forecast`], then the forecast CSV.
pub fn predict(
    model: PredictModel,
    request: &PredictRequest,
    events: &mut dyn Events,
) -> Result<PredictSummary> {
    let predictor = Predictor::load(model, &request.timesfm, events)?;
    // The input first: its horizon rows, if any, decide the horizon.
    let input = input::read(&request.input, events)?;
    let out = predictor.forecast(input, request, events)?;
    output::write(&request.output, &out.names, &out.forecasts, out.horizon)?;
    Ok(PredictSummary {
        series: out.forecasts.len(),
        columns: out.names.len(),
        horizon: out.horizon,
    })
}

/// A model loaded once, asked for forecasts many times (`tsfm predict` asks once, `tsfm serve`
/// per batch of requests).
pub struct Predictor {
    model: PredictModel,
    loaded: AnyForecaster,
    dir: PathBuf,
    device: Device,
}

/// The series to forecast, as [`input::read`] gives them from a file (or a caller builds them
/// in memory with [`input::from_rows`]).
pub struct Input {
    /// Every value column, in input order.
    pub channels: Vec<String>,
    pub series: Vec<Series>,
    /// Categorical (text) columns; their channels hold category indices.
    pub text: Vec<text_columns::TextColumn>,
}

/// Forecasts in the data's units: `names` are the output columns (`point`, `q<level>`, ...).
pub struct Forecasts {
    pub names: Vec<String>,
    pub forecasts: Vec<SeriesForecast>,
    pub horizon: usize,
}

impl Predictor {
    /// Reads the checkpoint (with `timesfm` settings over the run's or the defaults).
    pub fn load(
        model: PredictModel,
        timesfm: &TimesFmFlags,
        events: &mut dyn Events,
    ) -> Result<Predictor> {
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
                    timesfm: Some(timesfm.apply(settings)?),
                    ..Default::default()
                };
                crate::model::load_model_with(config, &options, &device, events)?
            }
            PredictModel::Checkpoint { .. } => {
                let options = LoadOptions {
                    timesfm: Some(timesfm.apply(Default::default())?),
                    ..Default::default()
                };
                let loaded = tsfm_models::load_forecaster_in_with(&dir, &device, &options)?;
                for warning in loaded.warnings {
                    events.warn(format!("{}: {warning}", dir.display()));
                }
                loaded.model
            }
        };
        Ok(Predictor {
            model,
            loaded,
            dir,
            device,
        })
    }

    /// What the checkpoint is (family, context, horizon, quantiles).
    pub fn info(&self) -> tsfm_models::CheckpointInfo {
        self.loaded.info()
    }

    /// The model as it was asked for (a trained run's, or a bare checkpoint).
    pub fn model(&self) -> &PredictModel {
        &self.model
    }

    /// Forecasts `input` as `request` asks (its `input` path only names the data in messages,
    /// its `output` is not used).
    pub fn forecast(
        &self,
        input: Input,
        request: &PredictRequest,
        events: &mut dyn Events,
    ) -> Result<Forecasts> {
        let (model, loaded, dir, device) = (&self.model, &self.loaded, &self.dir, &self.device);
        let Input {
            mut channels,
            mut series,
            text,
        } = input;
        let info = loaded.info();
        let timesfm_flags = request.timesfm.given();
        if info.model_type != "timesfm" && !timesfm_flags.is_empty() {
            return Err(user(format!(
                "{}: TimesFM settings, but this is a {} checkpoint; drop them",
                timesfm_flags.join(", "),
                info.model_type
            )));
        }
        let calibrated = matches!(model, PredictModel::Trained(t) if t.calibration.is_some());
        for warning in request.sampling.check_for_model(&info, calibrated)? {
            events.warn(warning);
        }
        let mut output_unit = None;
        let targets = match &model {
            PredictModel::Trained(t) => {
                if let Some(name) = request.target.as_deref().filter(|n| *n != t.target()) {
                    return Err(user(format!(
                        "--target {name}: this run forecasts `{}`; drop --target or name that column",
                        t.target()
                    )));
                }
                let notes = input::to_config_channels(
                    &request.input,
                    &channels,
                    &mut series,
                    t.target(),
                    &t.covariates(),
                )?;
                for note in notes {
                    events.note(note);
                }
                // What the run does not read plays no part (it was reported above).
                channels = input::keep_read_channels(&mut series, t.target(), &t.covariates());
                output_unit = units::to_run_units(
                    &request.input,
                    t.target(),
                    &mut series,
                    units::forecasts_glucose(&t.resolved.config),
                    request.unit,
                )?;
                vec![0]
            }
            PredictModel::Checkpoint { .. } if request.unit.is_some() => {
                return Err(user(
                    "--unit: a checkpoint forecasts in the input's own units; --unit converts the \
                     input of a run trained on glucose (--run); drop it",
                ));
            }
            PredictModel::Checkpoint { .. } => match &request.target {
                Some(name) => vec![channels.iter().position(|c| c == name).ok_or_else(|| {
                    user(format!(
                        "--target {name}: {} has no such column (its value columns: {})",
                        request.input.display(),
                        channels.join(", ")
                    ))
                })?],
                None => (0..channels.len()).collect(),
            },
        };
        // A run with known-future covariates needs the horizon rows through its preprocessing.
        let full = match &model {
            PredictModel::Trained(t) if !t.known_future().is_empty() => Some(series.clone()),
            _ => None,
        };
        if let Some(t) = text.iter().find(|t| {
            targets.contains(
                &channels
                    .iter()
                    .position(|c| *c == t.name)
                    .expect("a channel"),
            )
        }) {
            return Err(user(format!(
                "{}:{}: column `{}` holds text (`{}`...), so it cannot be forecast; give numbers, \
             or name the numeric target with --target (a text column can be a categorical \
             covariate of Chronos-2)",
                request.input.display(),
                t.first_text_line,
                t.name,
                t.first_text
            )));
        }
        if let PredictModel::Trained(t) = &model
            && let Some(c) = text.iter().find(|c| t.covariates().contains(&c.name))
        {
            return Err(user(format!(
                "{}:{}: column `{}` holds text, but the run reads it as numbers; give numbers, or \
             forecast with a Chronos-2 checkpoint (--model-path), which encodes categories as \
             its package does",
                request.input.display(),
                c.first_text_line,
                c.name
            )));
        }
        let mut split =
            convention::split_horizon(&request.input, &channels, &mut series, &targets)?;
        if !text.is_empty()
            && loaded.reads_any_covariates()
            && matches!(model, PredictModel::Checkpoint { .. })
        {
            text_columns::encode_for_chronos2(
                &request.input,
                &channels,
                &mut series,
                &mut split,
                &text,
            )?;
        }
        // A run forecasts the horizon it was trained for (Chronos-2's checkpoint covers whole
        // output patches, often more).
        let default_horizon = match &model {
            PredictModel::Trained(t) => t
                .resolved
                .config
                .model
                .param_u64("prediction_length")
                .map_or(info.prediction_length, |h| h as usize),
            PredictModel::Checkpoint { .. } => info.prediction_length,
        };
        let horizon =
            convention::horizon(request.horizon, split.layout.horizon_rows, default_horizon)?;
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

        let (names, forecasts) = match &model {
            PredictModel::Trained(t) => {
                let filled: Vec<&str> = split
                    .layout
                    .known_future
                    .iter()
                    .map(|&c| channels[c].as_str())
                    .collect();
                let known: Vec<&str> = filled
                    .iter()
                    .copied()
                    .filter(|c| t.covariates().iter().any(|r| r == c))
                    .filter(|c| !t.known_future().iter().any(|r| r == c))
                    .collect();
                if !known.is_empty() {
                    events.note(format!(
                        "{}: the run reads {} as past-only covariate(s); their values in the \
                     horizon rows are not used",
                        request.input.display(),
                        known.join(", ")
                    ));
                }
                let series = match full {
                    Some(full) => t.with_horizon_rows(
                        &request.input,
                        full,
                        split.layout.horizon_rows,
                        &filled,
                        horizon,
                    )?,
                    None => series,
                };
                let out = t.forecast(loaded, series, &options, request, device, events)?;
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
                    loaded, dir, &channels, &series, &split, &options, request, device,
                )?
            }
        };
        let mut forecasts = forecasts;
        units::from_run_units(&mut forecasts, output_unit);
        Ok(Forecasts {
            names,
            forecasts,
            horizon,
        })
    }
}

/// A checkpoint used as it is: channels in the file's units. A single-channel model forecasts
/// every target column on its own; a model of several channels takes exactly that many
/// columns together; a model that reads covariates (Chronos-2) forecasts all target columns of
/// a series as one group with its covariates, known-future ones with their horizon values.
#[allow(clippy::too_many_arguments)]
fn forecast_checkpoint(
    model: &AnyForecaster,
    dir: &Path,
    channels: &[String],
    series: &[Series],
    split: &convention::SplitInput,
    options: &ForecastOptions,
    request: &PredictRequest,
    device: &Device,
) -> Result<(Vec<String>, Vec<SeriesForecast>)> {
    let info = model.info();
    let horizon = options.horizon.unwrap_or(info.prediction_length);
    let levels = options.quantile_levels.clone().unwrap_or_default();
    let layout = &split.layout;
    let covariates = layout.covariates();
    if !covariates.is_empty() && !model.reads_any_covariates() {
        let named: Vec<String> = covariates
            .iter()
            .map(|&c| format!("`{}`", channels[c]))
            .collect();
        return Err(user(format!(
            "{}: covariate column(s) {} beside the target `{}`, but a {} checkpoint cannot use \
             covariates; drop them, leave out --target to forecast every column, or use a model \
             that reads covariates (Chronos-2)",
            request.input.display(),
            named.join(", "),
            channels[layout.targets[0]],
            info.model_type
        )));
    }
    if info.past_covariates > 0 || info.future_covariates > 0 {
        return Err(user(format!(
            "{}: this checkpoint reads {} covariate channel(s) beside {} target(s); \
             --model-path forecasts target columns only: train a run whose config names the \
             covariates and use --run",
            dir.display(),
            info.past_covariates + info.future_covariates,
            info.target_channels
        )));
    }
    let targets = &layout.targets;
    let width = if model.reads_any_covariates() {
        targets.len()
    } else {
        info.target_channels.max(1)
    };
    if width > 1 && targets.len() != width {
        return Err(user(format!(
            "{}: this checkpoint forecasts {width} channels together, but the input has {} ({}); give exactly {width} value columns",
            dir.display(),
            targets.len(),
            targets
                .iter()
                .map(|&c| channels[c].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let context = info.context_length;
    let n_future = layout.known_future.len();
    let model = model.valid();
    // (series, first target) per model row.
    let items: Vec<(usize, usize)> = (0..series.len())
        .flat_map(|s| (0..targets.len()).step_by(width).map(move |t| (s, t)))
        .collect();
    let nq = levels.len();
    let mut forecasts: Vec<SeriesForecast> = series
        .iter()
        .map(|s| SeriesForecast {
            id: s.id.clone(),
            last_ts: *s.timestamps.last().expect("series have rows"),
            interval_min: s.interval_min,
            columns: vec![Vec::new(); targets.len() * (1 + nq)],
        })
        .collect();
    for chunk in items.chunks(request.batch_size.max(1)) {
        let mut batch = HostBatch::new(context, width + covariates.len());
        batch.targets = width;
        let mut future = Vec::with_capacity(chunk.len() * horizon * n_future);
        for &(s, t0) in chunk {
            let columns: Vec<usize> = targets[t0..t0 + width]
                .iter()
                .chain(&covariates)
                .copied()
                .collect();
            let (values, mask) = history(&series[s], &columns);
            batch.push_history(&values, &mask, u64::from(series[s].interval_min) * 60);
            future.extend(split.future[s].iter().map(|&v| v as f32));
        }
        if n_future > 0 {
            batch.future_covariates = Some((horizon, n_future, future));
        }
        let input = batch.into_input(device)?;
        model
            .check_input(&input)
            .map_err(|e| user(format!("{}: {e}", dir.display())))?;
        let forecast = model.forecast_with(&input, options)?;
        let point = to_vec(forecast.point);
        let quantiles = forecast.quantiles.map(to_vec);
        for (k, &(s, t0)) in chunk.iter().enumerate() {
            for j in 0..width {
                forecasts[s].columns[t0 + j] = (0..horizon)
                    .map(|h| point[(k * horizon + h) * width + j])
                    .collect();
                // Quantile column l of target c sits after every point column.
                if let Some(q) = &quantiles {
                    for l in 0..nq {
                        forecasts[s].columns[targets.len() + (t0 + j) * nq + l] = (0..horizon)
                            .map(|h| q[((k * horizon + h) * width + j) * nq + l])
                            .collect();
                    }
                }
            }
        }
    }
    let single = targets.len() == 1;
    let mut names: Vec<String> = if single {
        vec!["point".to_string()]
    } else {
        targets.iter().map(|&c| channels[c].clone()).collect()
    };
    for &c in targets {
        for l in &levels {
            names.push(if single {
                format!("q{l}")
            } else {
                format!("{}_q{l}", channels[c])
            });
        }
    }
    Ok((names, forecasts))
}

/// The series' channels `columns`, row-major `[len, columns]`, with the observed mask
/// (missing -> 0).
fn history(series: &Series, columns: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let mut values = Vec::with_capacity(series.len() * columns.len());
    let mut mask = Vec::with_capacity(series.len() * columns.len());
    for t in 0..series.len() {
        for &c in columns {
            let v = series.channels[c].values[t];
            values.push(if v.is_finite() { v as f32 } else { 0.0 });
            mask.push(if v.is_finite() { 1.0 } else { 0.0 });
        }
    }
    (values, mask)
}
