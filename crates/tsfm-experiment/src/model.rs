//! The model a config names: loaded through [`tsfm_models::load_forecaster`] whatever its
//! family, checked against `model.params` and `data.context_length`.
use tsfm_config::{Config, ModelConfig};
use tsfm_models::{AnyForecaster, CheckpointInfo, Forecaster, LoadOptions};

use crate::error::{Result, user};
use crate::events::Events;
use crate::options::decoding::DECODING_PARAMS;
use crate::options::timesfm::TIMESFM_PARAMS;

/// `model.model_path` with `model.revision` appended as a hub revision.
pub fn checkpoint_spec(model: &ModelConfig) -> String {
    match &model.revision {
        Some(rev) if !model.model_path.contains('@') => format!("{}@{rev}", model.model_path),
        _ => model.model_path.clone(),
    }
}

/// The checkpoint `model.model_path` (+ `revision`) names, checked against `model.params`
/// and `model.model_type`. A LoRA adapter folder loads onto its base checkpoint.
pub fn load_model(
    model: &ModelConfig,
    device: &burn::tensor::Device,
    events: &mut dyn Events,
) -> Result<AnyForecaster> {
    load_model_with(model, &LoadOptions::default(), device, events)
}

/// As [`load_model`], with LoRA adapters attached when `options` asks (training).
pub fn load_model_with(
    model: &ModelConfig,
    options: &LoadOptions,
    device: &burn::tensor::Device,
    events: &mut dyn Events,
) -> Result<AnyForecaster> {
    let mut options = options.clone();
    if options.timesfm.is_none() {
        options.timesfm = crate::options::timesfm::settings(model)?;
    }
    let mut loaded = tsfm_models::load_forecaster_with(&checkpoint_spec(model), device, &options)
        .map_err(name_lora_key)?;
    if let AnyForecaster::Chronos2(m) = loaded.model {
        loaded.model = AnyForecaster::Chronos2(fit_chronos2_lengths(model, m));
    }
    for warning in loaded.warnings {
        events.warn(format!("{}: {warning}", model.model_path));
    }
    let info = loaded.model.info();
    tracing::debug!(
        "loaded {} checkpoint {}: context {}, horizon {}, {} target(s), {} past covariate(s)",
        info.model_type,
        model.model_path,
        info.context_length,
        info.prediction_length,
        info.target_channels,
        info.past_covariates
    );
    check_model(model, &info)?;
    Ok(loaded.model)
}

/// Chronos-2 reads `model.params.context_length` / `prediction_length` as
/// `Chronos2Pipeline.fit` reads its `context_length` / `prediction_length`: the run's window,
/// which may be shorter than the checkpoint's, and when longer grows the model's (saved with
/// it; see [`tsfm_models::chronos2::fit`]).
fn fit_chronos2_lengths(
    model: &ModelConfig,
    m: tsfm_models::chronos2::Chronos2Model,
) -> tsfm_models::chronos2::Chronos2Model {
    let context = model.param_u64("context_length").unwrap_or(0) as usize;
    let horizon = model.param_u64("prediction_length").unwrap_or(0) as usize;
    m.fit_lengths(context, horizon)
}

/// Whether `model.params.context_length` / `prediction_length` are the run's window rather
/// than the checkpoint's shape (Chronos-2, as its `fit`).
fn window_params(model_type: &str) -> bool {
    model_type == "chronos2"
}

/// A LoRA target problem found while building the model is a mistake in
/// `training.lora.target_modules`: say so by the config key.
fn name_lora_key(e: tsfm_models::ModelError) -> crate::error::ExperimentError {
    match &e {
        tsfm_models::ModelError::Invalid(m) if m.starts_with("LoRA target_modules:") => {
            user(m.replacen("LoRA target_modules:", "training.lora.target_modules:", 1))
        }
        _ => e.into(),
    }
}

/// `model.model_type` and the shape keys of `model.params` must agree with the checkpoint:
/// the checkpoint's shape wins, so a disagreement is a mistake in the config.
pub fn check_model(model: &ModelConfig, info: &CheckpointInfo) -> Result<()> {
    if model.model_type.as_str() != info.model_type {
        return Err(user(format!(
            "model.model_type: the config says {} but {} is a {} checkpoint; set \
             model.model_type: {}",
            model.model_type.as_str(),
            model.model_path,
            info.model_type,
            info.model_type
        )));
    }
    // A key nobody reads would be validated by nobody and silently ignored.
    let known: Vec<&str> = SHAPE_PARAMS
        .iter()
        .chain(if info.sampling.is_some() {
            DECODING_PARAMS
        } else {
            &[]
        })
        .chain(if info.model_type == "timesfm" {
            TIMESFM_PARAMS
        } else {
            &[]
        })
        .copied()
        .collect();
    if let Some(key) = model
        .params
        .keys()
        .filter_map(|k| k.as_str())
        .find(|k| !known.contains(k))
    {
        return Err(user(format!(
            "model.params.{key}: {} takes no such setting (model.params holds {}, checked \
             against the checkpoint); remove it",
            info.model_type,
            known.join(", ")
        )));
    }
    if window_params(&info.model_type) {
        return Ok(());
    }
    check_param(model, "context_length", info.context_length)?;
    check_param(model, "prediction_length", info.prediction_length)
}

/// The `model.params` keys every family reads: its shape, which the checkpoint decides.
const SHAPE_PARAMS: &[&str] = &["context_length", "prediction_length"];

fn check_param(model: &ModelConfig, key: &str, actual: usize) -> Result<()> {
    match model.param_u64(key) {
        Some(configured) if configured as usize != actual => Err(user(format!(
            "model.params.{key}: the config says {configured} but the checkpoint {} has {actual}; \
             set model.params.{key}: {actual} or pick a checkpoint with that shape",
            model.model_path
        ))),
        _ => Ok(()),
    }
}

/// Window lengths for a model: `data.context_length` history steps (default: the model's
/// context; shorter histories are left-padded, unobserved, as the model pads itself) and the
/// model's horizon.
pub fn window_lengths(config: &Config, model: &impl Forecaster) -> Result<(usize, usize)> {
    let max = model.context_length();
    let own = window_params(model.model_type());
    let param = |key| own.then(|| config.model.param_u64(key)).flatten();
    let context = match config.data.context_length.or(param("context_length")) {
        None => max,
        Some(0) => {
            return Err(user(
                "data.context_length: 0 steps of history cannot make a forecast; give 1 or more, \
                 or remove the key to use the model's context",
            ));
        }
        Some(n) if n as usize > max => {
            return Err(user(format!(
                "data.context_length: {n} steps is longer than the {max} the checkpoint {} reads; \
                 give at most {max}, or remove the key",
                config.model.model_path
            )));
        }
        Some(n) => n as usize,
    };
    let horizon = param("prediction_length").map_or(model.prediction_length(), |h| h as usize);
    Ok((context, horizon))
}

/// Steps a batch's history is padded to: the model's context, except for a model that reads
/// any length (Chronos-2 pads to whole patches itself), whose windows stay as long as the run
/// made them instead of being padded to a checkpoint context of thousands of steps.
pub fn padded_context(model: &impl Forecaster, window_context: usize) -> usize {
    if window_params(model.model_type()) {
        window_context
    } else {
        model.context_length()
    }
}
