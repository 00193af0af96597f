//! The served model: what `--model` names, loaded once, and one batch of requests forecast in
//! one call of the predict pipeline (the same code as `tsfm predict`).
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tsfm_experiment::events::Collected;
use tsfm_experiment::predict::options::{DecodingFlags, Sampling};
use tsfm_experiment::predict::trained::open_saved;
use tsfm_experiment::predict::{Input, PredictModel, PredictRequest, Predictor, input};
use tsfm_experiment::{Event, ExperimentError};

use crate::api::{ForecastReply, ModelInfo, SeriesReply, ValidRequest};
use crate::error::{ApiError, ServeError};
use crate::hypo;

/// The name the predict pipeline gives the request's data in its messages.
const LABEL: &str = "request";
/// Quantile levels when a request names none and the model can give quantiles.
pub const DEFAULT_LEVELS: [f64; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/// A loaded model and what the server says about it.
pub struct ServedModel {
    predictor: Predictor,
    pub info: ModelInfo,
    /// The target's unit when the model knows it (a run's test report, a glucose source).
    pub unit: Option<String>,
    /// The channel name of `values`: a run's target, or `value` for a bare checkpoint.
    target: String,
    default_levels: Vec<f64>,
}

impl ServedModel {
    /// Loads what `spec` names: a production folder or name (`ttm/production_v1`,
    /// `production_v1`), a run folder, or a checkpoint (folder or cached hub id).
    pub fn load(spec: &str, save_dir: &Path) -> Result<ServedModel, ServeError> {
        let mut events = Collected::default();
        let dir = tsfm_runs::resolve_production(save_dir, spec)?;
        let last = spec.rsplit('/').next().unwrap_or(spec);
        if dir.is_none() && tsfm_runs::production::parse_version(last).is_some() {
            return Err(ServeError::User(format!(
                "--model {spec}: no such promoted version under {} (`tsfm runs list --save-dir \
                 {}` shows them; `tsfm runs promote RUN` makes one)",
                save_dir.join("models").display(),
                save_dir.display()
            )));
        }
        let saved = dir.as_ref().filter(|d| d.join("config.yaml").is_file());
        let (model, info) = match saved {
            Some(dir) => {
                let trained = open_saved(dir, &mut events)?;
                let info = describe(spec, dir, trained.resolved.config.model.model_type.as_str());
                (PredictModel::Trained(Box::new(trained)), info)
            }
            None => {
                let spec = dir.map_or_else(|| spec.to_string(), |d| d.display().to_string());
                let model = PredictModel::Checkpoint {
                    spec: spec.clone(),
                    device: tsfm_config::Device::Auto,
                };
                let info = ModelInfo {
                    name: spec,
                    version: None,
                    source_run: None,
                    family: String::new(),
                };
                (model, info)
            }
        };
        let (unit, target) = match &model {
            PredictModel::Trained(t) => (run_unit(t), t.target().to_string()),
            PredictModel::Checkpoint { .. } => (None, "value".to_string()),
        };
        let predictor = Predictor::load(model, &Default::default(), &mut events)?;
        for event in events.0 {
            tracing::info!("{}", text(&event));
        }
        let checkpoint = predictor.info();
        let calibrated =
            matches!(predictor.model(), PredictModel::Trained(t) if t.calibration.is_some());
        let default_levels = if checkpoint.has_quantiles() || calibrated {
            DEFAULT_LEVELS.to_vec()
        } else {
            Vec::new()
        };
        let mut info = info;
        info.family = checkpoint.model_type.clone();
        Ok(ServedModel {
            predictor,
            info,
            unit,
            target,
            default_levels,
        })
    }

    /// Forecasts `requests` in one call of the pipeline (they share horizon, levels and
    /// covariates, and no series id); one reply or error per request, in order.
    pub fn forecast(&self, requests: &[&ValidRequest]) -> Vec<Result<ForecastReply, ApiError>> {
        match self.forecast_together(requests) {
            Ok(replies) => replies.into_iter().map(Ok).collect(),
            // One bad request must not fail the others: each alone says whose it was.
            Err(_) if requests.len() > 1 => requests
                .iter()
                .map(|r| self.forecast_together(&[*r]).map(|mut v| v.remove(0)))
                .collect(),
            Err(e) => vec![Err(e)],
        }
    }

    fn forecast_together(
        &self,
        requests: &[&ValidRequest],
    ) -> Result<Vec<ForecastReply>, ApiError> {
        let first = requests[0];
        let levels = first
            .quantiles
            .clone()
            .unwrap_or_else(|| self.default_levels.clone());
        let channels: Vec<String> = std::iter::once(self.target.clone())
            .chain(first.covariates.iter().cloned())
            .collect();
        let rows = requests
            .iter()
            .flat_map(|r| r.rows.iter().cloned())
            .collect();
        let mut events = Collected::default();
        let label = PathBuf::from(LABEL);
        let input: Input =
            input::from_rows(&label, channels, rows, &mut events).map_err(api_error)?;
        let sampling = Sampling::parse(&levels, &DecodingFlags::default()).map_err(api_error)?;
        let trained = matches!(self.predictor.model(), PredictModel::Trained(_));
        let request = PredictRequest {
            input: label,
            output: PathBuf::new(),
            horizon: first.horizon,
            sampling,
            batch_size: usize::MAX,
            timesfm: Default::default(),
            target: (!trained).then(|| self.target.clone()),
            // The request's unit is checked against the model's before (api.rs); values reach
            // the run in its own unit.
            unit: None,
        };
        let out = self
            .predictor
            .forecast(input, &request, &mut events)
            .map_err(api_error)?;
        for event in &events.0 {
            tracing::debug!("{}", text(event));
        }
        // A checkpoint knows no unit: the request's declared one labels the values.
        let unit = self.unit.clone().or_else(|| first.unit.clone());
        let threshold = unit.as_deref().and_then(hypo::threshold);
        let mut by_id: HashMap<String, SeriesReply> = out
            .forecasts
            .into_iter()
            .map(|f| {
                let step = i64::from(f.interval_min) * 60;
                let timestamps = (1..=out.horizon as i64)
                    .map(|h| tsfm_experiment::predict::output::iso_timestamp(f.last_ts + h * step))
                    .collect();
                let mut columns = f.columns.into_iter();
                let point = columns.next().unwrap_or_default();
                let quantiles: Vec<Vec<f32>> = columns.collect();
                let p_below = threshold.and_then(|t| hypo::p_below(&levels, &quantiles, t));
                (
                    f.id.clone(),
                    SeriesReply {
                        id: f.id,
                        timestamps,
                        point,
                        quantiles,
                        p_below,
                    },
                )
            })
            .collect();
        requests
            .iter()
            .map(|r| {
                let forecasts = r
                    .ids
                    .iter()
                    .map(|id| {
                        by_id.remove(id).ok_or_else(|| {
                            ApiError::invalid(
                                "series",
                                format!("series `{id}` could not be forecast (too few readings on the model's grid)"),
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?;
                Ok(ForecastReply {
                    model: self.info.clone(),
                    unit: unit.clone(),
                    horizon: out.horizon,
                    quantile_levels: levels.clone(),
                    hypo_threshold: threshold,
                    forecasts,
                })
            })
            .collect()
    }
}

/// The run's unit: its test report's, else mmol/L for glucose sources (they convert to it).
fn run_unit(t: &tsfm_experiment::predict::TrainedModel) -> Option<String> {
    let run_dir = t.model_dir.parent()?;
    let from_report = std::fs::read_to_string(run_dir.join("metrics.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|m| m.pointer("/test/units")?.as_str().map(str::to_string))
        .filter(|u| u != "units");
    let data = &t.resolved.config.data;
    let glucose_source = matches!(
        data.source,
        tsfm_config::DataSource::BrisT1d | tsfm_config::DataSource::Aleppo
    ) || data.unit.is_some();
    from_report.or_else(|| glucose_source.then(|| "mmol/L".to_string()))
}

/// Name, version and source run of a production or run folder.
fn describe(spec: &str, dir: &Path, family: &str) -> ModelInfo {
    let promotion: Option<tsfm_runs::Promotion> =
        std::fs::read_to_string(dir.join("promotion.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
    let manifest = tsfm_runs::RunManifest::read(&dir.join("run.json")).ok();
    ModelInfo {
        name: spec.to_string(),
        version: promotion.as_ref().map(|p| p.version.clone()),
        source_run: promotion
            .map(|p| p.source_run)
            .or_else(|| manifest.map(|m| format!("{}/{}/{}", m.model, m.experiment, m.run_id))),
        family: family.to_string(),
    }
}

fn text(event: &Event) -> &str {
    match event {
        Event::Warning(m) | Event::Note(m) | Event::Info(m) => m,
    }
}

/// A pipeline error as an answer: the user's problems are 422 (with the CLI's flag names
/// turned into the request's field names), the rest 500.
fn api_error(e: ExperimentError) -> ApiError {
    if e.is_user_error() {
        let message = e
            .to_string()
            .replace("--horizon", "horizon")
            .replace("--quantiles", "quantiles")
            .replace("--target", "values");
        ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, None, message)
    } else {
        tracing::error!("forecast failed: {e}");
        ApiError::internal(format!("the model failed: {e}"))
    }
}
