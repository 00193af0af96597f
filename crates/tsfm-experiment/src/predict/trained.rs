//! Forecasting with a trained run: its config's preprocessing (grid, short-gap interpolation,
//! covariate imputation and derivation, calendar features), its saved `scaler.json` and its
//! model, with forecasts turned back into the data's units.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use tsfm_config::Resolved;
use tsfm_data::Series;
use tsfm_data::scaler::{Affine, Scaler, ScalingMethod, ScalingScope};
use tsfm_data::split::SplitSpec;
use tsfm_models::{AnyForecaster, ForecastOptions, Forecaster};

use super::PredictRequest;
use super::output::SeriesForecast;
use crate::batches::{HostBatch, to_vec};
use crate::error::{Result, user};
use crate::events::Events;
use crate::options;

/// A trained (or config-described) model and the preprocessing it was trained with.
pub struct TrainedModel {
    /// The run's (or the given) config, `model.model_path` pointing at `model_dir`.
    pub resolved: Resolved,
    pub model_dir: PathBuf,
    /// `None` when the model folder has no `scaler.json` (a checkpoint never trained here).
    pub scaler: Option<Scaler>,
    /// The run's calibrated residual quantiles (point models), when it has them.
    pub calibration: Option<tsfm_eval::ResidualCalibration>,
}

impl TrainedModel {
    /// The model in `model_dir` with the preprocessing of `resolved` (whose `model.model_path`
    /// is set to `model_dir` here).
    pub fn open(
        mut resolved: Resolved,
        model_dir: PathBuf,
        events: &mut dyn Events,
    ) -> Result<Self> {
        resolved.config.model.model_path = model_dir.to_string_lossy().into_owned();
        // A local folder: a hub revision from the base model's config does not apply to it.
        resolved.config.model.revision = None;
        let scaler_path = model_dir.join("scaler.json");
        let scaler = if scaler_path.is_file() {
            Some(Scaler::load(&scaler_path)?)
        } else {
            events.note(format!(
                "{} has no scaler.json (not a model trained by tsfm); inputs go to the model unscaled",
                model_dir.display()
            ));
            None
        };
        let calibration = crate::evaluate::load_calibration(&model_dir)?;
        Ok(TrainedModel {
            resolved,
            model_dir,
            scaler,
            calibration,
        })
    }
}

/// A run folder or a promoted production version (both hold `config.yaml` and `model/`) as a
/// trained model; a production version is checked against its `checksums.json` first, so a
/// damaged copy is refused before it forecasts.
pub fn open_saved(dir: &Path, events: &mut dyn Events) -> Result<TrainedModel> {
    if tsfm_runs::is_production(dir) {
        tsfm_runs::open_production(dir)?;
    }
    let model_dir = dir.join("model");
    let config = dir.join("config.yaml");
    if !config.is_file() || !model_dir.is_dir() {
        return Err(user(format!(
            "{}: not a run or production folder (no config.yaml and model/); give a run, a \
             promoted production_vN folder, or a checkpoint folder",
            dir.display()
        )));
    }
    let overrides = [tsfm_config::Override {
        key: "model.model_path".into(),
        value: tsfm_config::OverrideValue::Text(model_dir.to_string_lossy().into_owned()),
        origin: "--model".into(),
    }];
    let resolved = tsfm_config::load(None, Some(&config), &overrides)?;
    TrainedModel::open(resolved, model_dir, events)
}

impl TrainedModel {
    /// Forecast every series (their channels already named as the config's) for `horizon`
    /// steps: the last `context_length` grid rows of each, as the trainer's windows hold them.
    ///
    /// A run with known-future covariates (`data.future_covariates`) reads them over the
    /// horizon: `series` then still hold their `horizon` rows at the end (see
    /// [`TrainedModel::with_horizon_rows`]), which go through the run's preprocessing (derived
    /// features, scaling) with the history and are cut off before the model sees the context.
    pub fn forecast(
        &self,
        model: &AnyForecaster,
        series: Vec<Series>,
        options: &ForecastOptions,
        request: &PredictRequest,
        device: &Device,
        events: &mut dyn Events,
    ) -> Result<(Vec<String>, Vec<SeriesForecast>)> {
        let (context, steps) = (model.context_length(), model.prediction_length());
        let horizon = options.horizon.unwrap_or(steps);
        let future_rows = if self.known_future().is_empty() {
            0
        } else {
            horizon
        };
        let (prepared, calendar) = self.preprocess(series, context, steps, request, events)?;
        let model = model.valid();
        let mut out = Vec::with_capacity(prepared.series.len());
        let indices: Vec<usize> = (0..prepared.series.len()).collect();
        for chunk in indices.chunks(request.batch_size.max(1)) {
            let input = self.batch(
                &prepared,
                chunk,
                context,
                future_rows,
                steps,
                &calendar,
                device,
            )?;
            model.check_input(&input).map_err(|e| {
                user(format!(
                    "{}: the model does not take this run's channels ({}): {e}",
                    self.model_dir.display(),
                    prepared.series[chunk[0]].channel_names.join(", ")
                ))
            })?;
            let forecast = model.forecast_with(&input, options)?;
            let [_, _, out_channels] = forecast.point.dims();
            let point = to_vec(forecast.point);
            let native = forecast.quantiles.map(to_vec);
            let per_window = horizon * out_channels;
            for (k, &si) in chunk.iter().enumerate() {
                let s = &prepared.series[si];
                // The target is channel 0 of the model's output.
                let target = |values: &[f32], stride: usize, offset: usize| -> Vec<f32> {
                    let mut v: Vec<f32> = (0..horizon)
                        .map(|h| values[(k * per_window + h * out_channels) * stride + offset])
                        .collect();
                    prepared.unscale_target(si, &mut v);
                    v
                };
                let values = target(&point, 1, 0);
                let columns = match &native {
                    // Unscaling is increasing: the levels keep their order.
                    Some(q) => {
                        let nq = request.sampling.quantiles.len();
                        std::iter::once(values)
                            .chain((0..nq).map(|l| target(q, nq, l)))
                            .collect()
                    }
                    None => self.with_quantiles(values, &request.sampling.quantiles)?,
                };
                out.push(SeriesForecast {
                    id: s.id.clone(),
                    last_ts: s.timestamps[s.timestamps.len() - 1 - future_rows],
                    interval_min: s.interval_min,
                    columns,
                });
            }
        }
        let mut names = vec!["point".to_string()];
        names.extend(request.sampling.quantiles.iter().map(|l| format!("q{l}")));
        Ok((names, out))
    }

    /// The run's preprocessing (grid, gaps, imputation, features, its scaler) over the input,
    /// and the calendar features it adds; series it cannot use are named.
    fn preprocess(
        &self,
        series: Vec<Series>,
        context: usize,
        steps: usize,
        request: &PredictRequest,
        events: &mut dyn Events,
    ) -> Result<(tsfm_data::Prepared, tsfm_data::calendar::Calendar)> {
        let ids: Vec<String> = series.iter().map(|s| s.id.clone()).collect();
        let data = &self.resolved.config.data;
        let mut options = options::data::pipeline_options(data, &ids, context, steps)?;
        // Nothing is held out: the split only matters for training windows.
        options.split = SplitSpec::Patient {
            val_ids: Vec::new(),
            test_ids: Vec::new(),
        };
        let names: Vec<String> = std::iter::once(options.target.clone())
            .chain(options.past_covariates.iter().cloned())
            .collect();
        self.note_unseen(&ids, events);
        let scaler = self.scaler.clone().unwrap_or_else(|| identity(names));
        let prepared = tsfm_data::run_with_scaler(series, &options, scaler)?;
        let kept: std::collections::BTreeSet<&str> =
            prepared.series.iter().map(|s| s.id.as_str()).collect();
        let dropped: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|id| !kept.contains(id))
            .collect();
        if !dropped.is_empty() {
            events.warn(format!(
                "{}: series {} have fewer than 2 rows (no sampling interval) and are not \
                 forecast; give each series at least two readings",
                request.input.display(),
                dropped.join(", ")
            ));
        }
        Ok((prepared, options.calendar_features()))
    }

    /// Series a per-series scaler has not seen are scaled with its global statistics.
    fn note_unseen(&self, ids: &[String], events: &mut dyn Events) {
        let Some(scaler) = self
            .scaler
            .as_ref()
            .filter(|s| s.scope == ScalingScope::PerSeries)
        else {
            return;
        };
        let unseen: Vec<&str> = ids
            .iter()
            .filter(|id| !scaler.per_series.contains_key(*id))
            .map(String::as_str)
            .collect();
        if !unseen.is_empty() {
            events.note(format!(
                "series {} not in the run's training data: scaled with its global statistics",
                unseen.join(", ")
            ));
        }
    }

    /// The model input of the series at `chunk`: their last `context` rows before the
    /// `future_rows` horizon rows they end with and, when the run uses calendar features, those
    /// of the forecast steps (as training windows have them); the run's known-future covariates
    /// (its last channels) over the horizon rows.
    #[allow(clippy::too_many_arguments)]
    fn batch(
        &self,
        prepared: &tsfm_data::Prepared,
        chunk: &[usize],
        context: usize,
        future_rows: usize,
        steps: usize,
        calendar: &tsfm_data::calendar::Calendar,
        device: &Device,
    ) -> Result<tsfm_models::ForecastInput> {
        let first = &prepared.series[chunk[0]];
        let (ch, nf) = (first.n_channels(), first.n_future);
        let n_known = self.known_future().len();
        let mut batch = HostBatch::new(context, ch);
        let mut future = Vec::with_capacity(chunk.len() * steps * nf);
        let mut known = Vec::with_capacity(chunk.len() * future_rows * n_known);
        for &si in chunk {
            let s = &prepared.series[si];
            let history = s.timestamps.len() - future_rows;
            batch.push_history(
                &s.values[..history * ch],
                &s.observed[..history * ch],
                u64::from(s.interval_min) * 60,
            );
            for t in history..s.timestamps.len() {
                known.extend_from_slice(&s.values[t * ch + ch - n_known..(t + 1) * ch]);
            }
            let last = s.timestamps[history - 1];
            if nf > 0 {
                for h in 1..=steps as i64 {
                    calendar.push(last + h * s.interval_min as i64 * 60, &mut future);
                }
            }
        }
        if nf > 0 {
            batch.future_covariates = Some((steps, nf, future));
        }
        if n_known > 0 {
            if nf > 0 {
                return Err(user(
                    "a run with known-future covariates and calendar features: not supported; \
                     turn data.features.calendar off",
                ));
            }
            batch.future_covariates = Some((future_rows, n_known, known));
        }
        batch.into_input(device)
    }

    /// The series with their horizon rows back for a run with known-future covariates: the
    /// file's own (`rows`, checked: every raw known-future column filled there) or, when the
    /// file has none and every known-future covariate is derived (IOB, COB: their horizon
    /// follows from the doses given, none = none planned), `horizon` empty rows appended.
    pub fn with_horizon_rows(
        &self,
        path: &std::path::Path,
        mut series: Vec<Series>,
        rows: usize,
        filled: &[&str],
        horizon: usize,
    ) -> Result<Vec<Series>> {
        let raw: Vec<&str> = self
            .known_future()
            .iter()
            .map(String::as_str)
            .filter(|c| tsfm_data::features::derivation(c).is_none())
            .collect();
        let missing: Vec<&str> = raw
            .iter()
            .copied()
            .filter(|c| !filled.contains(c))
            .collect();
        if !missing.is_empty() {
            return Err(user(format!(
                "{}: the run reads {} as known-future covariate(s): give {horizon} rows after \
                 each series' last reading with the target empty and {} filled",
                path.display(),
                missing
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if missing.len() == 1 { "it" } else { "them" }
            )));
        }
        if rows == 0 {
            for s in &mut series {
                let step = i64::from(s.interval_min) * 60;
                let last = *s.timestamps.last().expect("series have rows");
                s.timestamps
                    .extend((1..=horizon as i64).map(|h| last + h * step));
                for c in &mut s.channels {
                    c.values.extend(std::iter::repeat_n(f64::NAN, horizon));
                }
            }
        }
        Ok(series)
    }

    /// Known-future covariates the run reads (its last channels).
    pub fn known_future(&self) -> &[String] {
        &self.resolved.config.data.future_covariates
    }

    /// The point forecast, then its calibrated quantiles at `levels` (data units).
    fn with_quantiles(&self, point: Vec<f32>, levels: &[f64]) -> Result<Vec<Vec<f32>>> {
        let mut columns = vec![point];
        if levels.is_empty() {
            return Ok(columns);
        }
        let calibration = self.calibration.as_ref().ok_or_else(|| {
            user(format!(
                "--quantiles: {} has no calibration.json; retrain the run to calibrate it",
                self.model_dir.display()
            ))
        })?;
        let point: Vec<f64> = columns[0].iter().map(|&v| f64::from(v)).collect();
        let q = calibration.apply(&point, levels)?;
        columns.extend(
            q.values
                .into_iter()
                .map(|v| v.into_iter().map(|x| x as f32).collect()),
        );
        Ok(columns)
    }

    pub fn target(&self) -> &str {
        self.resolved
            .config
            .data
            .target_columns
            .first()
            .map(String::as_str)
            .unwrap_or("target")
    }

    /// Every covariate the run reads: past-only, then known-future.
    pub fn covariates(&self) -> Vec<String> {
        let data = &self.resolved.config.data;
        data.past_covariates
            .iter()
            .chain(&data.future_covariates)
            .cloned()
            .collect()
    }

    pub fn describe(&self) -> String {
        format!(
            "{} (experiment `{}`){}",
            self.model_dir.display(),
            self.resolved.config.output.experiment_name,
            if self.scaler.is_some() {
                ", with its scaler.json"
            } else {
                ""
            }
        )
    }
}

/// No scaling: the model sees the data's units.
fn identity(channels: Vec<String>) -> Scaler {
    Scaler {
        method: ScalingMethod::None,
        scope: ScalingScope::Global,
        global: vec![Affine::IDENTITY; channels.len()],
        channels,
        per_series: BTreeMap::new(),
    }
}
