//! What train, evaluate and predict share: loading the model a config names and preparing
//! its data into windows.
use burn::tensor::Device;
use tsfm_config::ModelConfig;
use tsfm_models::{Forecaster, TtmModel};

use crate::exit::user_error;

/// The checkpoint `model.model_path` (+ `revision`) names, checked against `model.params`.
pub fn load_ttm(model: &ModelConfig, device: &Device) -> anyhow::Result<TtmModel> {
    let spec = match &model.revision {
        Some(rev) if !model.model_path.contains('@') => format!("{}@{rev}", model.model_path),
        _ => model.model_path.clone(),
    };
    let (ttm, warnings) = tsfm_models::ttm::load_ttm_with_warnings(&spec, device)?;
    for warning in warnings {
        eprintln!("warning: {}: {warning}", model.model_path);
    }
    check_param(model, "context_length", ttm.context_length())?;
    check_param(model, "prediction_length", ttm.prediction_length())?;
    Ok(ttm)
}

/// A `model.params` value must agree with the checkpoint: the checkpoint's shape wins, so a
/// disagreement is a mistake in the config.
fn check_param(model: &ModelConfig, key: &str, actual: usize) -> anyhow::Result<()> {
    match model.param_u64(key) {
        Some(configured) if configured as usize != actual => Err(user_error(format!(
            "model.params.{key}: the config says {configured} but the checkpoint {} has {actual}; \
             set model.params.{key}: {actual} or pick a checkpoint with that shape",
            model.model_path
        ))),
        _ => Ok(()),
    }
}
