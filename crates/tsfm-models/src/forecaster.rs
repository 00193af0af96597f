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
//! - `past_covariates`: `[batch, context, n_covariates]`, the covariates' history, with
//!   `past_covariates_mask` (same shape, 1.0 observed) when some readings are missing;
//! - `future_covariates`: `[batch, >= horizon, n_future]`, known-future values: the future of the
//!   LAST `n_future` past covariates (Chronos-2, the official order within a group: targets,
//!   past-only, known-future), TTM: of its exogenous channels; calendar features (whose history
//!   is not a channel) for models that read them;
//! - `sampling_interval_s`: each window's sampling interval in seconds, a model-agnostic fact;
//!   each model maps it to what it needs (TTM with `resolution_prefix_tuning`: its frequency
//!   token), others ignore it.

use std::path::Path;

use burn::Tensor;
use burn::module::Module;

use crate::info::CheckpointInfo;

/// The largest context, horizon, patch or sample count a checkpoint's config may declare
/// (2^16): inputs are padded to these sizes, so an absurd value would be an absurd allocation
/// before anything else could refuse it. The released models stay far below (Chronos-2's
/// context: 8,192 steps).
pub const MAX_CONFIG_STEPS: usize = 1 << 16;

/// One batch of windows.
#[derive(Debug, Clone)]
pub struct ForecastInput {
    pub past_values: Tensor<3>,
    pub past_observed_mask: Option<Tensor<3>>,
    pub future_values: Option<Tensor<3>>,
    pub future_observed_mask: Option<Tensor<3>>,
    pub past_covariates: Option<Tensor<3>>,
    /// `past_covariates`' observed mask (1.0 observed, 0.0 missing); `None` = all observed.
    pub past_covariates_mask: Option<Tensor<3>>,
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
            past_covariates_mask: None,
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

/// Decoding choices that are not data: how far, which quantile levels, greedy or sampled.
/// `ForecastOptions::default()` is what [`Forecaster::forecast`] does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ForecastOptions {
    /// Steps to forecast; `None` = the checkpoint's `prediction_length`. Longer horizons are
    /// rolled out where the family supports it ([`Forecaster::max_horizon`]).
    pub horizon: Option<usize>,
    /// Levels wanted in [`Forecast::quantiles`], ascending in `(0, 1)`; `None` = the model's
    /// own levels. Models interpolate as their official package does.
    pub quantile_levels: Option<Vec<f32>>,
    /// Sampling models only (Chronos-T5); `None` = the checkpoint's defaults.
    pub decoding: Option<Decoding>,
}

/// How a token model (Chronos-T5) turns its distribution into forecasts.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoding {
    /// The most likely token at each step: one deterministic path.
    Greedy,
    /// `num_samples` paths drawn as `ChronosPipeline.predict` does.
    Sample(SamplingOptions),
}

/// Sampling parameters (HF `generate` semantics); `seed` makes the draws reproducible.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SamplingOptions {
    pub num_samples: usize,
    pub temperature: f32,
    pub top_k: usize,
    pub top_p: f32,
    pub seed: u64,
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
    /// Only LoRA adapters train (the model must be loaded with them: [`crate::LoadOptions`]).
    Lora,
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
    /// Whether the model reads any number of covariates, past-only or known-future, beside its
    /// targets (Chronos-2: each one another row of the series' group). `false`: exactly the
    /// checkpoint's [`CheckpointInfo`] counts (TTM), or none.
    fn reads_any_covariates(&self) -> bool {
        false
    }
    /// The longest horizon [`forecast_with`](Forecaster::forecast_with) accepts; `None` = no
    /// limit (autoregressive rollout).
    fn max_horizon(&self) -> Option<usize> {
        Some(self.prediction_length())
    }
    /// Forecast with decoding options. The default serves models that only truncate: a
    /// horizon up to [`prediction_length`](Forecaster::prediction_length), their own quantile
    /// levels (or a subset of them), no decoding choices.
    fn forecast_with(
        &self,
        input: &ForecastInput,
        options: &ForecastOptions,
    ) -> Result<Forecast, ModelError> {
        if options.decoding.is_some() {
            return Err(ModelError::Invalid(format!(
                "{} forecasts are deterministic: decoding options (greedy/sampling) do not apply",
                self.model_type()
            )));
        }
        let horizon = check_horizon(self, options.horizon)?;
        let mut forecast = self.forecast(input)?;
        forecast = forecast.truncated(horizon);
        if let Some(levels) = &options.quantile_levels {
            forecast = forecast.select_levels(levels)?;
        }
        Ok(forecast)
    }
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
    /// `Lora` is the same for every family: [`crate::lora::train_adapters_only`].
    fn apply_finetune_mode(self, mode: FinetuneMode) -> Self;
    /// Total and trainable parameter counts (adapters count in the total, as in PEFT).
    fn param_counts(&self) -> ParamCounts;
    /// Write `config.json` + `model.safetensors` with the HuggingFace tensor names; LoRA
    /// adapters are merged into the weights ([`crate::nn::hf_tensors`]).
    fn save_pretrained(&self, dir: &Path) -> Result<(), ModelError>;
}

/// The shape checks every univariate family makes of a batch: at least one step and one
/// channel, masks shaped like their values, as many future channels as past ones.
pub fn check_shapes(input: &ForecastInput) -> Result<(), ModelError> {
    let dims = input.past_values.dims();
    if dims[1] == 0 || dims[2] == 0 {
        return Err(ModelError::Invalid(format!(
            "past_values {dims:?} has no steps or no channels to forecast from"
        )));
    }
    for (name, mask, values) in [
        (
            "past_observed_mask",
            &input.past_observed_mask,
            Some(&input.past_values),
        ),
        (
            "future_observed_mask",
            &input.future_observed_mask,
            input.future_values.as_ref(),
        ),
    ] {
        if let (Some(m), Some(v)) = (mask, values)
            && m.dims() != v.dims()
        {
            return Err(ModelError::Invalid(format!(
                "{name} {:?} does not match its values {:?}",
                m.dims(),
                v.dims()
            )));
        }
    }
    if let Some(f) = &input.future_values
        && f.dims()[2] != dims[2]
    {
        return Err(ModelError::Invalid(format!(
            "future_values has {} channels, past_values {}",
            f.dims()[2],
            dims[2]
        )));
    }
    Ok(())
}

/// `[b, t, c] -> [b * c, t]`: each channel of each window as its own series (what the
/// univariate families forecast).
pub fn fold_channels(x: &Tensor<3>) -> Tensor<2> {
    let [b, t, c] = x.dims();
    x.clone().swap_dims(1, 2).reshape([b * c, t])
}

/// The horizon `requested` resolves to, or an error naming the model's limit.
pub fn check_horizon<F: Forecaster>(
    model: &F,
    requested: Option<usize>,
) -> Result<usize, ModelError> {
    let horizon = requested.unwrap_or_else(|| model.prediction_length());
    if horizon == 0 {
        return Err(ModelError::Invalid(
            "the horizon must be at least 1 step".into(),
        ));
    }
    match model.max_horizon() {
        Some(max) if horizon > max => Err(ModelError::Invalid(format!(
            "a {} checkpoint forecasts at most {max} steps; {horizon} were asked for (lower the horizon)",
            model.model_type()
        ))),
        _ => Ok(horizon),
    }
}

/// Requested quantile levels must lie strictly inside (0, 1), ascending, without repeats.
pub fn check_quantile_levels(levels: &[f32]) -> Result<(), ModelError> {
    if levels.is_empty() {
        return Err(ModelError::Invalid(
            "the list of quantile levels is empty".into(),
        ));
    }
    for w in levels.windows(2) {
        if w[1] <= w[0] {
            return Err(ModelError::Invalid(format!(
                "quantile levels must be ascending without repeats ({} then {})",
                w[0], w[1]
            )));
        }
    }
    if let Some(bad) = levels.iter().find(|q| !(**q > 0.0 && **q < 1.0)) {
        return Err(ModelError::Invalid(format!(
            "quantile level {bad} is outside (0, 1)"
        )));
    }
    Ok(())
}

impl Forecast {
    /// The first `horizon` steps (a no-op when the forecast is not longer).
    pub fn truncated(self, horizon: usize) -> Self {
        let [b, h, c] = self.point.dims();
        if horizon >= h {
            return self;
        }
        Self {
            point: self.point.slice([0..b, 0..horizon, 0..c]),
            quantile_levels: self.quantile_levels,
            quantiles: self.quantiles.map(|q| {
                let [b, _, c, n] = q.dims();
                q.slice([0..b, 0..horizon, 0..c, 0..n])
            }),
        }
    }

    /// Keep the levels `wanted`, each of which must be one of the forecast's own levels (to
    /// within 1e-6); models that interpolate other levels override `forecast_with`.
    pub fn select_levels(self, wanted: &[f32]) -> Result<Self, ModelError> {
        check_quantile_levels(wanted)?;
        let Some(q) = self.quantiles else {
            return Err(ModelError::Invalid(
                "this model gives no quantiles of its own".into(),
            ));
        };
        let mut idx = Vec::with_capacity(wanted.len());
        for w in wanted {
            let i = self
                .quantile_levels
                .iter()
                .position(|l| (l - w).abs() < 1e-6)
                .ok_or_else(|| {
                    ModelError::Invalid(format!(
                        "quantile level {w} is not one of the model's levels {:?}",
                        self.quantile_levels
                    ))
                })?;
            idx.push(i as i64);
        }
        let device = q.device();
        let ids = Tensor::<1, burn::tensor::Int>::from_data(
            burn::tensor::TensorData::new(idx, [wanted.len()]),
            &device,
        );
        Ok(Self {
            point: self.point,
            quantile_levels: wanted.to_vec(),
            quantiles: Some(q.select(3, ids)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn forecast() -> Forecast {
        let device = Device::flex();
        // [1, 3, 1] point, [1, 3, 1, 3] quantiles at 0.1, 0.5, 0.9.
        let q: Vec<f32> = (0..9).map(|v| v as f32).collect();
        Forecast {
            point: Tensor::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0], [1, 3, 1]), &device),
            quantile_levels: vec![0.1, 0.5, 0.9],
            quantiles: Some(Tensor::from_data(TensorData::new(q, [1, 3, 1, 3]), &device)),
        }
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn truncating_keeps_the_first_steps_of_point_and_quantiles() {
        let f = forecast().truncated(2);
        assert_eq!(values(f.point), vec![1.0, 2.0]);
        assert_eq!(
            values(f.quantiles.unwrap()),
            vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        );
        assert_eq!(values(forecast().truncated(5).point), vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn selecting_levels_keeps_those_asked_for_in_order() {
        let f = forecast().select_levels(&[0.1, 0.9]).unwrap();
        assert_eq!(f.quantile_levels, vec![0.1, 0.9]);
        assert_eq!(
            values(f.quantiles.unwrap()),
            vec![0.0, 2.0, 3.0, 5.0, 6.0, 8.0]
        );
        assert_eq!(
            forecast().select_levels(&[0.25]).unwrap_err().to_string(),
            "quantile level 0.25 is not one of the model's levels [0.1, 0.5, 0.9]"
        );
        assert_eq!(
            forecast()
                .select_levels(&[0.5, 0.1])
                .unwrap_err()
                .to_string(),
            "quantile levels must be ascending without repeats (0.5 then 0.1)"
        );
        assert_eq!(
            check_quantile_levels(&[0.5, 1.0]).unwrap_err().to_string(),
            "quantile level 1 is outside (0, 1)"
        );
        let point_only = Forecast {
            quantiles: None,
            quantile_levels: vec![],
            ..forecast()
        };
        assert_eq!(
            point_only.select_levels(&[0.5]).unwrap_err().to_string(),
            "this model gives no quantiles of its own"
        );
    }
}
