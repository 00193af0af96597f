//! The one interface the trainer, the evaluator and the CLI see.
//!
//! Every model family (TTM, Chronos-T5, Chronos-Bolt, TimesFM) implements [`Forecaster`].
//! Tensors are Burn 0.22 tensors: the backend is chosen at run time by the `Device`
//! (`Device::flex()` on CPU, `device.autodiff()` for training), so no backend type parameter
//! appears here.
//!
//! Shapes, always batch-first and channel-last as the HuggingFace models take them:
//! - `past_values`: `[batch, context, channels]` in the data's units (models scale internally);
//! - `past_observed_mask`: same shape, 1.0 where observed, 0.0 where missing;
//! - `future_values`: `[batch, horizon, channels]`, present for training and evaluation;
//! - `future_observed_mask`: same shape as `future_values`;
//! - `past_covariates` / `future_covariates`: `[batch, context|horizon, n_covariates]`,
//!   known-future covariates (calendar features) go in `future_covariates`;
//! - `sampling_interval_s`: each window's sampling interval in seconds, a model-agnostic fact;
//!   each model maps it to what it needs (TTM with `resolution_prefix_tuning`: its frequency
//!   token), others ignore it.

use std::path::Path;

use burn::Tensor;
use burn::module::Module;

use crate::info::CheckpointInfo;

/// One batch of windows.
#[derive(Debug, Clone)]
pub struct ForecastInput {
    pub past_values: Tensor<3>,
    pub past_observed_mask: Option<Tensor<3>>,
    pub future_values: Option<Tensor<3>>,
    pub future_observed_mask: Option<Tensor<3>>,
    pub past_covariates: Option<Tensor<3>>,
    pub future_covariates: Option<Tensor<3>>,
    /// Each window's sampling interval in seconds (`[batch]`), for models conditioned on the
    /// resolution.
    pub sampling_interval_s: Option<Vec<u64>>,
}

impl ForecastInput {
    /// Context only: what inference needs.
    pub fn context(past_values: Tensor<3>) -> Self {
        Self {
            past_values,
            past_observed_mask: None,
            future_values: None,
            future_observed_mask: None,
            past_covariates: None,
            future_covariates: None,
            sampling_interval_s: None,
        }
    }
}

/// A model's forecast in the data's units.
#[derive(Debug, Clone)]
pub struct Forecast {
    /// `[batch, horizon, channels]`: the model's own point forecast (TTM: its prediction;
    /// Chronos-Bolt: the 0.5 quantile; TimesFM: the point head).
    pub point: Tensor<3>,
    /// Quantile levels, ascending, matching the last axis of `quantiles`.
    pub quantile_levels: Vec<f32>,
    /// `[batch, horizon, channels, n_quantiles]` when the model gives quantiles.
    pub quantiles: Option<Tensor<4>>,
}

/// Training losses the trainer can ask for. Models with their own native loss (Chronos-T5:
/// cross-entropy over tokens; Bolt/TimesFM: quantile loss) may use it under `Native`. The one
/// loss type from the experiment's config through the trainer's saved arguments to the model.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LossKind {
    #[default]
    Mse,
    Mae,
    Huber {
        #[serde(default = "default_huber_delta")]
        delta: f32,
    },
    /// Mean pinball loss over the model's quantile levels.
    Quantile,
    /// The loss the model was pre-trained with.
    Native,
}

fn default_huber_delta() -> f32 {
    1.0
}

impl LossKind {
    /// The config's name of the loss.
    pub fn name(self) -> &'static str {
        match self {
            LossKind::Mse => "mse",
            LossKind::Mae => "mae",
            LossKind::Huber { .. } => "huber",
            LossKind::Quantile => "quantile",
            LossKind::Native => "native",
        }
    }
}

/// How much of the model is trained (the one type from the config to the model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinetuneMode {
    #[default]
    Full,
    FrozenBackbone,
    HeadOnly,
}

/// Parameter counts reported in `metrics.json` and by `--dry-run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParamCounts {
    pub total: usize,
    pub trainable: usize,
}

/// Errors shared by every model family.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {message}")]
    Checkpoint { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A time-series foundation model.
pub trait Forecaster: Module + Sized {
    /// `ttm`, `chronos`, `chronos_bolt` or `timesfm`.
    fn model_type(&self) -> &'static str;
    /// What the checkpoint is: shapes, channels, quantile levels (as
    /// [`crate::checkpoint_info`] reads them from `config.json`).
    fn info(&self) -> CheckpointInfo;
    /// Number of past steps the model reads (longer input keeps the last ones).
    fn context_length(&self) -> usize;
    /// Steps the model produces in one call.
    fn prediction_length(&self) -> usize;
    /// Whether a batch fits this checkpoint (channel counts, covariates, tokens). Callers check
    /// one batch before a long run so that a config/checkpoint mismatch is a clear error, not
    /// a panic in [`forecast`](Forecaster::forecast) or [`loss`](Forecaster::loss).
    fn check_input(&self, input: &ForecastInput) -> Result<(), ModelError> {
        let _ = input;
        Ok(())
    }
    /// Forecast in the data's units. Dropout is active only if the module is in training state.
    /// A batch [`check_input`](Forecaster::check_input) rejects is an error, never a panic.
    fn forecast(&self, input: &ForecastInput) -> Result<Forecast, ModelError>;
    /// Scalar training loss for a batch with `future_values` set. Panics for a kind that
    /// [`supports_loss`](Forecaster::supports_loss) rejects or a batch that
    /// [`check_input`](Forecaster::check_input) rejects: the trainer's callers check the config
    /// and a batch before the run (the hot path stays free of host round trips).
    fn loss(&self, input: &ForecastInput, loss: LossKind) -> Tensor<1>;
    /// Whether [`loss`](Forecaster::loss) implements `kind` (TTM: no quantile loss).
    fn supports_loss(&self, kind: LossKind) -> bool {
        let _ = kind;
        true
    }
    /// Apply a fine-tune mode: parameters outside the trained groups stop requiring gradients.
    fn apply_finetune_mode(self, mode: FinetuneMode) -> Self;
    /// Total and trainable parameter counts.
    fn param_counts(&self) -> ParamCounts;
    /// Write `config.json` + `model.safetensors` with the HuggingFace tensor names.
    fn save_pretrained(&self, dir: &Path) -> Result<(), ModelError>;
}
