//! Forecasting with a trained run: its config's preprocessing (grid, short-gap interpolation,
//! covariate imputation and derivation, calendar features), its saved `scaler.json` and its
//! model, with forecasts turned back into the data's units.
use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use burn::module::Module;
use burn::tensor::Device;
use tsfm_config::Resolved;
use tsfm_data::Series;
use tsfm_data::scaler::{Affine, Scaler, ScalingMethod, ScalingScope};
use tsfm_data::split::SplitSpec;
use tsfm_models::{ForecastInput, Forecaster, TtmModel};
use tsfm_runs::RunLayout;

use super::output::SeriesForecast;
use crate::cli::PredictArgs;
use crate::exit::user_error;
use crate::tensors::{freq_tokens, tensor3, to_vec};
use crate::{adapt, experiment, load};

/// A trained (or config-described) model and the preprocessing it was trained with.
pub struct TrainedModel {
    /// The run's (or the given) config, `model.model_path` pointing at `model_dir`.
    pub resolved: Resolved,
    pub model_dir: PathBuf,
    /// `None` when the model folder has no `scaler.json` (a checkpoint never trained here).
    pub scaler: Option<Scaler>,
}

/// The model `--run`, or `--config` (its experiment's `best_model`, or `--model-path` with the
/// config's preprocessing), names; `None` for a plain `--model-path` checkpoint.
pub fn locate(args: &PredictArgs) -> Result<Option<TrainedModel>> {
    let flags = &args.config;
    if let Some(query) = &args.run {
        if flags.model_path.is_some() {
            return Err(user_error(
                "--run and --model-path both name a model; give one of them",
            ));
        }
        let save_dir = match &flags.config {
            Some(_) => PathBuf::from(load::resolve(flags, false)?.config.output.save_dir),
            None => PathBuf::from("tsfm_results"),
        };
        let run = tsfm_runs::find_run(&save_dir, query)?;
        return open(flags, run.config_path(), run.model_dir()).map(Some);
    }
    let Some(config_path) = &flags.config else {
        return Ok(None);
    };
    if let Some(path) = &flags.model_path {
        let dir = tsfm_models::resolve_checkpoint(path)?;
        return open(flags, config_path.clone(), dir).map(Some);
    }
    let config = load::resolve(flags, false)?.config;
    let layout = RunLayout::new(&config.output.save_dir);
    let model = config.model.model_type.as_str();
    let experiment = &config.output.experiment_name;
    let experiment_dir = layout.experiment_dir(model, experiment)?;
    let Some(best) = layout.best_model(model, experiment)? else {
        return Err(user_error(format!(
            "{}: experiment `{experiment}` has no trained model yet (no {}); train it with \
             `tsfm train --config {}`, or forecast zero-shot with --model-path",
            config_path.display(),
            experiment_dir.join("best_model").display(),
            config_path.display()
        )));
    };
    open(
        flags,
        config_path.clone(),
        experiment_dir.join(best).join("model"),
    )
    .map(Some)
}

fn open(
    flags: &crate::cli::ConfigArgs,
    config: PathBuf,
    model_dir: PathBuf,
) -> Result<TrainedModel> {
    let mut flags = flags.clone();
    flags.config = Some(config);
    flags.model_path = Some(model_dir.to_string_lossy().into_owned());
    let mut resolved = load::resolve(&flags, false)?;
    // A local folder: a hub revision from the base model's config does not apply to it.
    resolved.config.model.revision = None;
    let scaler_path = model_dir.join("scaler.json");
    let scaler = if scaler_path.is_file() {
        Some(Scaler::load(&scaler_path)?)
    } else {
        eprintln!(
            "note: {} has no scaler.json (not a model trained by tsfm); inputs go to the model unscaled",
            model_dir.display()
        );
        None
    };
    Ok(TrainedModel {
        resolved,
        model_dir,
        scaler,
    })
}

impl TrainedModel {
    /// Forecast every series (their channels already named as the config's) for `horizon`
    /// steps: the last `context_length` grid rows of each, as the trainer's windows hold them.
    pub fn forecast(
        &self,
        model: &TtmModel,
        series: Vec<Series>,
        horizon: usize,
        batch_size: usize,
        device: &Device,
    ) -> Result<Vec<SeriesForecast>> {
        let data = &self.resolved.config.data;
        let (context, steps) = (model.context_length(), model.prediction_length());
        let ids: Vec<String> = series.iter().map(|s| s.id.clone()).collect();
        let mut options = adapt::data::pipeline_options(data, &ids, context, steps)?;
        // Nothing is held out: the split only matters for training windows.
        options.split = SplitSpec::Patient {
            val_ids: Vec::new(),
            test_ids: Vec::new(),
        };
        let names: Vec<String> = std::iter::once(options.target.clone())
            .chain(options.past_covariates.iter().cloned())
            .collect();
        if let Some(scaler) = &self.scaler
            && scaler.scope == ScalingScope::PerSeries
        {
            let unseen: Vec<&str> = ids
                .iter()
                .filter(|id| !scaler.per_series.contains_key(*id))
                .map(String::as_str)
                .collect();
            if !unseen.is_empty() {
                eprintln!(
                    "note: series {} not in the run's training data: scaled with its global statistics",
                    unseen.join(", ")
                );
            }
        }
        let scaler = self.scaler.clone().unwrap_or_else(|| identity(names));
        let prepared = tsfm_data::run_with_scaler(series, &options, scaler)?;
        let calendar = options.calendar_features();
        let model = model.valid();

        let mut out = Vec::with_capacity(prepared.series.len());
        let indices: Vec<usize> = (0..prepared.series.len()).collect();
        for chunk in indices.chunks(batch_size.max(1)) {
            let first = &prepared.series[chunk[0]];
            let (ch, nf) = (first.n_channels(), first.n_future);
            let mut past = Vec::with_capacity(chunk.len() * context * ch);
            let mut mask = Vec::with_capacity(chunk.len() * context * ch);
            let mut future = Vec::with_capacity(chunk.len() * steps * nf);
            for &si in chunk {
                let s = &prepared.series[si];
                let n = s.timestamps.len();
                let take = n.min(context);
                // The model's own padding rule for short series: zeros, marked unobserved.
                past.extend(std::iter::repeat_n(0.0, (context - take) * ch));
                mask.extend(std::iter::repeat_n(0.0, (context - take) * ch));
                past.extend_from_slice(&s.values[(n - take) * ch..n * ch]);
                mask.extend_from_slice(&s.observed[(n - take) * ch..n * ch]);
                let last = s.timestamps[n - 1];
                if nf > 0 {
                    // The calendar features the pipeline gives training windows, at the
                    // forecast steps.
                    for h in 1..=steps as i64 {
                        calendar.push(last + h * s.interval_min as i64 * 60, &mut future);
                    }
                }
            }
            let shape = [chunk.len(), context, ch];
            let (past_values, past_covariates) = experiment::split_channels(&past, shape, device);
            let mut input = ForecastInput::context(past_values);
            input.past_covariates = past_covariates;
            input.freq_token = Some(freq_tokens(
                chunk.iter().map(|&si| prepared.series[si].interval_min),
                device,
            ));
            input.past_observed_mask = Some(experiment::split_channels(&mask, shape, device).0);
            input.future_covariates =
                (nf > 0).then(|| tensor3(future, [chunk.len(), steps, nf], device));
            model.check_input(&input).map_err(|e| {
                user_error(format!(
                    "{}: the model does not take this run's channels ({}): {e}",
                    self.model_dir.display(),
                    first.channel_names.join(", ")
                ))
            })?;
            let point = to_vec(model.forecast(&input).point);
            let per_window = point.len() / chunk.len();
            let out_channels = per_window / steps;
            for (k, &si) in chunk.iter().enumerate() {
                let s = &prepared.series[si];
                // The target is channel 0 of the model's output.
                let mut values: Vec<f32> = (0..horizon)
                    .map(|h| point[k * per_window + h * out_channels])
                    .collect();
                prepared.unscale_target(si, &mut values);
                out.push(SeriesForecast {
                    id: s.id.clone(),
                    last_ts: *s.timestamps.last().expect("series have rows"),
                    interval_min: s.interval_min,
                    columns: vec![values],
                });
            }
        }
        Ok(out)
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

    pub fn covariates(&self) -> &[String] {
        &self.resolved.config.data.past_covariates
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
