//! What a checkpoint is, read from its `config.json` alone (no weights): enough for the
//! experiment layer to size windows, check a config against the checkpoint and describe it.
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::checkpoint::{detect_model_type, read_config_json, resolve_checkpoint};
use crate::chronos::ChronosModelConfig;
use crate::chronos_bolt::ChronosBoltConfig;
use crate::chronos2::Chronos2Config;
use crate::forecaster::{ModelError, SamplingOptions};
use crate::lora::{self, TargetModules};
use crate::timesfm::TimesFmDefinition;
use crate::ttm::TtmConfig;

/// A checkpoint's shape and inputs, the same for every family.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckpointInfo {
    /// `ttm`, `chronos`, `chronos_bolt`, `chronos2` or `timesfm`.
    pub model_type: String,
    /// Past steps the model reads (the longest useful context for models that take any).
    pub context_length: usize,
    /// Steps one forward pass forecasts.
    pub prediction_length: usize,
    /// Channels forecast together (`past_values`' last axis).
    pub target_channels: usize,
    /// Past-only covariate channels the model reads beside the targets.
    pub past_covariates: usize,
    /// Known-future covariate channels the model reads over the horizon.
    pub future_covariates: usize,
    /// Whether `ForecastInput::sampling_interval_s` changes the forecast (TTM with a
    /// resolution prefix).
    pub uses_sampling_interval: bool,
    /// The model's own quantile levels, ascending; empty for a point model.
    pub quantile_levels: Vec<f64>,
    /// The checkpoint's default sampling settings for models that forecast by drawing sample
    /// paths (Chronos-T5); `None` for deterministic models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampling: Option<SamplingOptions>,
}

impl CheckpointInfo {
    /// Whether the model forecasts quantiles itself (else the run's calibration gives them).
    pub fn has_quantiles(&self) -> bool {
        !self.quantile_levels.is_empty()
    }

    /// The linear layers a LoRA fine-tune adapts when the config names none
    /// ([`lora::default_targets`]).
    pub fn default_lora_targets(&self) -> TargetModules {
        lora::default_targets(&self.model_type)
    }
}

/// A checkpoint directory and what it is.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub dir: PathBuf,
    pub info: CheckpointInfo,
    /// Unknown config keys and similar, for the caller to show.
    pub warnings: Vec<String>,
}

/// Resolve `spec` (a directory or `org/name[@revision]` in the local HF cache) and read its
/// `config.json`. Families this build recognises but cannot run are an error naming them.
pub fn checkpoint_info(spec: &str) -> Result<Checkpoint, ModelError> {
    let dir = resolve_checkpoint(spec)?;
    checkpoint_info_in(&dir)
}

/// As [`checkpoint_info`] for a resolved directory. A LoRA adapter directory is described by
/// its base checkpoint (an adapter changes weights, not shapes).
pub fn checkpoint_info_in(dir: &Path) -> Result<Checkpoint, ModelError> {
    if lora::is_adapter_dir(dir) {
        let base = lora::AdapterDir::read(dir)?.base_dir()?;
        return Ok(Checkpoint {
            dir: dir.to_path_buf(),
            ..checkpoint_info_in(&base)?
        });
    }
    let kind = detect_model_type(dir)?;
    let source = dir.join("config.json").display().to_string();
    match kind.as_str() {
        "ttm" => {
            let parsed = TtmConfig::from_json(read_config_json(dir)?, &source)?;
            Ok(Checkpoint {
                dir: dir.to_path_buf(),
                info: parsed.config.info(),
                warnings: parsed.warnings,
            })
        }
        "chronos" => {
            let parsed = ChronosModelConfig::from_json(read_config_json(dir)?, &source)?;
            Ok(Checkpoint {
                dir: dir.to_path_buf(),
                info: parsed.config.info(),
                warnings: parsed.warnings,
            })
        }
        "chronos_bolt" => {
            let parsed = ChronosBoltConfig::from_json(read_config_json(dir)?, &source)?;
            Ok(Checkpoint {
                dir: dir.to_path_buf(),
                info: parsed.config.info(),
                warnings: parsed.warnings,
            })
        }
        "chronos2" => {
            let parsed = Chronos2Config::from_json(read_config_json(dir)?, &source)?;
            Ok(Checkpoint {
                dir: dir.to_path_buf(),
                info: parsed.config.info(),
                warnings: parsed.warnings,
            })
        }
        "timesfm" => {
            let config = dir.join("config.json");
            let raw = if config.is_file() {
                Some(read_config_json(dir)?)
            } else {
                None
            };
            // Without a definition block the sizes are in the weights' shapes.
            let tensors = match &raw {
                Some(r)
                    if r.contains_key("definition")
                        || r.get("model_type").and_then(|v| v.as_str()) == Some("timesfm2_5") =>
                {
                    crate::checkpoint::TensorMap::new()
                }
                _ => crate::checkpoint::load_checkpoint_tensors(dir)?,
            };
            let parsed = TimesFmDefinition::from_checkpoint(raw.as_ref(), &tensors, &source)?;
            Ok(Checkpoint {
                dir: dir.to_path_buf(),
                info: parsed.definition.info(),
                warnings: parsed.warnings,
            })
        }
        other => Err(not_supported(other, dir)),
    }
}

/// A family `detect_model_type` knows but this build has no model for.
pub(crate) fn not_supported(kind: &str, dir: &Path) -> ModelError {
    ModelError::Checkpoint {
        path: dir.display().to_string(),
        message: format!(
            "model type {kind} is recognised but not supported yet by this version of tsfm \
             (supported: {})",
            crate::any::SUPPORTED.join(", ")
        ),
    }
}
