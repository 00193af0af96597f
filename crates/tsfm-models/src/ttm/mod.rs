//! IBM's TinyTimeMixer (granite-tsfm 0.3.11 `TinyTimeMixerForPrediction`).
//!
//! - [`config`]: the checkpoint's `config.json`;
//! - [`scaler`]: in-model per-window scaling and patching;
//! - [`layers`], [`mixer`]: MLP, gated attention, patch/feature/channel mixing, adaptive patching;
//! - [`head`]: forecast head and forecast channel mixer (exogenous fusion);
//! - [`model`]: the model, its forward pass and HF save/load;
//! - weights and small layers come from [`crate::nn`].
//!
//! The [`Forecaster`] implementation maps the generic inputs onto TTM's channels: `past_values`
//! are the forecast channels (`prediction_channel_indices`, or every channel), `past_covariates`
//! the remaining channels in index order, `future_covariates` the exogenous
//! (`exogenous_channel_indices`) channels in index order, and each window's
//! `sampling_interval_s` becomes the frequency prefix token (required by checkpoints with
//! `resolution_prefix_tuning`; see [`default_frequency_token`]).

pub mod config;
pub mod head;
pub mod layers;
pub mod mixer;
pub mod model;
pub mod scaler;

use std::path::Path;

use burn::Tensor;
use burn::module::Module;
use burn::tensor::Device;

pub use config::{TtmConfig, TtmScaling};
pub use model::{TtmInput, TtmModel, TtmOutput};

use crate::checkpoint;
use crate::forecaster::{
    FinetuneMode, Forecast, ForecastInput, Forecaster, LossKind, ModelError, ParamCounts,
};
use crate::info::CheckpointInfo;

/// Loads a TTM checkpoint from a directory or a hub id in the local HF cache
/// (`ibm-granite/granite-timeseries-ttm-r2@512-96-r2`). Warnings (unknown config keys,
/// unused tensors) are available from [`load_ttm_with_warnings`].
pub fn load_forecaster_ttm(dir_or_hub_id: &str, device: &Device) -> Result<TtmModel, ModelError> {
    load_ttm_with_warnings(dir_or_hub_id, device).map(|(m, _)| m)
}

/// Like [`load_forecaster_ttm`], also returning the warnings.
pub fn load_ttm_with_warnings(
    dir_or_hub_id: &str,
    device: &Device,
) -> Result<(TtmModel, Vec<String>), ModelError> {
    let dir = checkpoint::resolve_checkpoint(dir_or_hub_id)?;
    let kind = checkpoint::detect_model_type(&dir)?;
    if kind != "ttm" {
        return Err(ModelError::Checkpoint {
            path: dir.display().to_string(),
            message: format!("this is a {kind} checkpoint, not TinyTimeMixer"),
        });
    }
    TtmModel::from_pretrained(&dir, device)
}

/// granite-tsfm's `DEFAULT_FREQUENCY_MAPPING` (what `TimeSeriesPreprocessor` feeds as
/// `freq_token`): the token of a sampling interval in seconds, 0 (`oov`) for intervals it does
/// not list.
pub fn default_frequency_token(interval_seconds: u64) -> i64 {
    match interval_seconds {
        60 => 1,
        120 => 2,
        300 => 3,
        600 => 4,
        900 => 5,
        1800 => 6,
        3600 => 7,
        86_400 => 8,
        604_800 => 9,
        _ => 0,
    }
}

impl TtmConfig {
    /// The checkpoint in family-independent terms.
    pub fn info(&self) -> CheckpointInfo {
        let targets = self.forecast_channels().len();
        let n_exog = self.exogenous_channels().len();
        CheckpointInfo {
            model_type: "ttm".into(),
            context_length: self.context_length,
            prediction_length: self.output_length(),
            target_channels: targets,
            past_covariates: self.num_input_channels - targets,
            future_covariates: if self.enable_forecast_channel_mixing {
                n_exog
            } else {
                0
            },
            uses_sampling_interval: self.resolution_prefix_tuning,
            quantile_levels: Vec::new(),
            sampling: None,
        }
    }
}

impl TtmModel {
    /// Checks that a generic batch fits this checkpoint's channels; [`Forecaster::forecast`]
    /// panics on the errors this reports.
    pub fn check_input(&self, input: &ForecastInput) -> Result<(), ModelError> {
        let cfg = &self.config;
        let targets = cfg.forecast_channels();
        let n_cov = cfg.num_input_channels - targets.len();
        let got = input.past_values.dims()[2];
        if got != targets.len() {
            return Err(ModelError::Invalid(format!(
                "past_values has {got} channels, the TTM checkpoint forecasts {} (prediction_channel_indices)",
                targets.len()
            )));
        }
        let got_cov = input.past_covariates.as_ref().map_or(0, |c| c.dims()[2]);
        if got_cov != n_cov {
            return Err(ModelError::Invalid(format!(
                "past_covariates has {got_cov} channels, the TTM checkpoint expects {n_cov} \
                 (num_input_channels minus forecast channels)"
            )));
        }
        let n_exog = cfg.exogenous_channels().len();
        if cfg.enable_forecast_channel_mixing && n_exog > 0 {
            match &input.future_covariates {
                Some(f) if f.dims()[2] == n_exog && f.dims()[1] >= cfg.output_length() => {}
                _ => {
                    return Err(ModelError::Invalid(format!(
                        "future_covariates must be [batch, >= {}, {n_exog}] (the exogenous channels' known future)",
                        cfg.output_length()
                    )));
                }
            }
        }
        if cfg.resolution_prefix_tuning {
            self.frequency_tokens(input)?;
        }
        Ok(())
    }

    /// The frequency token of each window's sampling interval (granite's default mapping),
    /// checked against this checkpoint's token table.
    pub fn frequency_tokens(&self, input: &ForecastInput) -> Result<Vec<i64>, ModelError> {
        let cfg = &self.config;
        let batch = input.past_values.dims()[0];
        let intervals = input.sampling_interval_s.as_ref().ok_or_else(|| {
            ModelError::Invalid(
                "this TTM checkpoint uses resolution_prefix_tuning: set \
                 ForecastInput::sampling_interval_s (one interval per window)"
                    .to_string(),
            )
        })?;
        if intervals.len() != batch {
            return Err(ModelError::Invalid(format!(
                "sampling_interval_s has {} intervals for a batch of {batch}",
                intervals.len()
            )));
        }
        let vocab = cfg.frequency_token_vocab_size as i64;
        intervals
            .iter()
            .map(|&s| {
                let token = default_frequency_token(s);
                if (0..vocab).contains(&token) {
                    Ok(token)
                } else {
                    Err(ModelError::Invalid(format!(
                        "a sampling interval of {s} s is frequency token {token}, outside this \
                         checkpoint's 0..{vocab} (frequency_token_vocab_size)"
                    )))
                }
            })
            .collect()
    }

    /// What this checkpoint is, in the family-independent terms of [`CheckpointInfo`].
    pub fn checkpoint_info(&self) -> CheckpointInfo {
        self.config.info()
    }

    /// Generic batch -> TTM's all-channel layout (the batch already checked).
    fn to_ttm_input(&self, input: &ForecastInput) -> TtmInput {
        let cfg = &self.config;
        let targets = cfg.forecast_channels();
        let c = cfg.num_input_channels;
        let past = &input.past_values;
        let device = past.device();
        let [b, t, _] = past.dims();
        // Place target channel i at targets[i], covariate j at the j-th non-target channel.
        let mut cov_idx = 0;
        let mut columns = Vec::with_capacity(c);
        let mut mask_columns = Vec::with_capacity(c);
        let ones = Tensor::<3>::ones([b, t, 1], &device);
        for ch in 0..c {
            if let Some(i) = targets.iter().position(|&x| x == ch) {
                columns.push(past.clone().narrow(2, i, 1));
                mask_columns.push(
                    input
                        .past_observed_mask
                        .as_ref()
                        .map_or_else(|| ones.clone(), |m| m.clone().narrow(2, i, 1)),
                );
            } else {
                let cov = input.past_covariates.as_ref().expect("checked");
                columns.push(cov.clone().narrow(2, cov_idx, 1));
                mask_columns.push(ones.clone());
                cov_idx += 1;
            }
        }
        let past_values = if c == targets.len() {
            past.clone()
        } else {
            Tensor::cat(columns, 2)
        };
        let past_observed_mask = input.past_observed_mask.as_ref().map(|m| {
            if c == targets.len() {
                m.clone()
            } else {
                Tensor::cat(mask_columns, 2)
            }
        });
        let exog = cfg.exogenous_channels();
        let future_values = match (&input.future_covariates, exog.is_empty()) {
            (Some(fc), false) => {
                let h = fc.dims()[1];
                let cols: Vec<Tensor<3>> = (0..c)
                    .map(|ch| match exog.iter().position(|&x| x == ch) {
                        Some(k) => fc.clone().narrow(2, k, 1),
                        None => Tensor::zeros([b, h, 1], &device),
                    })
                    .collect();
                Some(Tensor::cat(cols, 2))
            }
            _ => None,
        };
        let freq_token = cfg.resolution_prefix_tuning.then(|| {
            let ids = self.frequency_tokens(input).expect("checked before");
            Tensor::from_data(burn::tensor::TensorData::new(ids, [b]), &device)
        });
        TtmInput {
            past_values,
            past_observed_mask,
            future_values,
            freq_token,
        }
    }

    /// Whether [`Forecaster::loss`] accepts `kind` (TTM has no quantile head).
    pub fn supports_loss_kind(&self, kind: LossKind) -> bool {
        !matches!(kind, LossKind::Quantile)
    }

    /// The loss between a prediction `[b, h, c]` and targets (un-scaled, like granite-tsfm),
    /// averaged over observed target steps.
    /// Threads a forecast of `input` is worth: rows are independent, and a batch big enough
    /// (rows x patches x channels x d_model^2 over 2^21, about a millisecond of GEMM per
    /// thread) is split over the available cores. Never on an autodiff device.
    fn forecast_threads(&self, input: &ForecastInput) -> usize {
        const MIN_WORK_PER_THREAD: usize = 1 << 21;
        if input.past_values.device().is_autodiff() {
            return 1;
        }
        let [rows, _, channels] = input.past_values.dims();
        let c = &self.config;
        let patches = c.context_length / c.patch_length.max(1);
        let work = rows * patches * channels * c.d_model * c.d_model;
        crate::parallel::threads_for(work, MIN_WORK_PER_THREAD)
    }

    pub fn loss_from_prediction(
        &self,
        prediction: Tensor<3>,
        future: &Tensor<3>,
        future_mask: Option<&Tensor<3>>,
        kind: LossKind,
    ) -> Tensor<1> {
        let h = prediction.dims()[1];
        let target = future.clone().narrow(1, 0, h);
        let diff = prediction - target;
        let kind = match kind {
            LossKind::Native => match self.config.loss.as_deref() {
                Some("mae") => LossKind::Mae,
                Some("huber") => LossKind::Huber {
                    delta: self.config.huber_delta as f32,
                },
                Some("pinball") => {
                    return reduce(pinball(diff, self.config.quantile), future_mask, h);
                }
                _ => LossKind::Mse,
            },
            k => k,
        };
        let elementwise = match kind {
            LossKind::Mse => diff.square(),
            LossKind::Mae => diff.abs(),
            LossKind::Huber { delta } => huber(diff, delta as f64),
            LossKind::Quantile => panic!(
                "TTM gives point forecasts only: the quantile loss is not supported (check supports_loss first)"
            ),
            LossKind::Native => unreachable!("resolved above"),
        };
        reduce(elementwise, future_mask, h)
    }
}

fn huber(diff: Tensor<3>, delta: f64) -> Tensor<3> {
    let a = diff.abs();
    let quadratic = a.clone().square() * 0.5;
    let linear = (a.clone() - 0.5 * delta) * delta;
    let small = a.lower_elem(delta);
    linear.mask_where(small, quadratic)
}

/// granite's `PinballLoss`: `max(q * e, (q - 1) * e)` with `e = target - prediction`.
fn pinball(diff: Tensor<3>, q: f64) -> Tensor<3> {
    let e = diff.neg();
    let a = e.clone() * q;
    let b = e * (q - 1.0);
    a.max_pair(b)
}

fn reduce(elementwise: Tensor<3>, mask: Option<&Tensor<3>>, h: usize) -> Tensor<1> {
    match mask {
        None => elementwise.mean(),
        Some(m) => {
            let m = m.clone().narrow(1, 0, h);
            (elementwise * m.clone()).sum() / m.sum().clamp_min(1.0)
        }
    }
}

impl Forecaster for TtmModel {
    fn model_type(&self) -> &'static str {
        "ttm"
    }

    fn check_input(&self, input: &ForecastInput) -> Result<(), ModelError> {
        TtmModel::check_input(self, input)
    }

    fn context_length(&self) -> usize {
        self.config.context_length
    }

    fn prediction_length(&self) -> usize {
        self.config.output_length()
    }

    fn info(&self) -> CheckpointInfo {
        self.checkpoint_info()
    }

    fn forecast(&self, input: &ForecastInput) -> Result<Forecast, ModelError> {
        TtmModel::check_input(self, input)?;
        let threads = self.forecast_threads(input);
        crate::parallel::forecast_rows(self, input, threads, |model, rows| {
            let out = model.forward(&model.to_ttm_input(rows), false);
            Ok(Forecast {
                point: out.prediction,
                quantile_levels: Vec::new(),
                quantiles: None,
            })
        })
    }

    fn loss(&self, input: &ForecastInput, loss: LossKind) -> Tensor<1> {
        let future = input
            .future_values
            .as_ref()
            .expect("Forecaster::loss needs future_values");
        if let Err(e) = TtmModel::check_input(self, input) {
            panic!("{e}");
        }
        let out = self.forward(&self.to_ttm_input(input), false);
        self.loss_from_prediction(
            out.prediction,
            future,
            input.future_observed_mask.as_ref(),
            loss,
        )
    }

    fn supports_loss(&self, kind: LossKind) -> bool {
        self.supports_loss_kind(kind)
    }

    fn apply_finetune_mode(self, mode: FinetuneMode) -> Self {
        self.with_finetune_mode(mode)
    }

    fn param_counts(&self) -> ParamCounts {
        ParamCounts {
            total: self.num_params(),
            trainable: self.trainable_params(),
        }
    }

    fn save_pretrained(&self, dir: &Path) -> Result<(), ModelError> {
        self.save_pretrained_dir(dir)
    }
}
