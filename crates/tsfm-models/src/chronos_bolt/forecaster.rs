//! The [`Forecaster`] side of Chronos-Bolt: channels folded into the batch, missing steps as
//! NaN, the pipeline's rollout and quantile interpolation, the package's loss.

use std::path::Path;

use burn::Tensor;
use burn::module::Module;

use super::loss::{Target, point_loss};
use super::model::ChronosBoltModel;
use super::scaler::Context;
use crate::forecaster::{
    FinetuneMode, Forecast, ForecastInput, ForecastOptions, Forecaster, LossKind, ModelError,
    ParamCounts, check_horizon, check_quantile_levels, check_shapes, fold_channels,
};
use crate::info::CheckpointInfo;

impl ChronosBoltModel {
    /// What this checkpoint is, in the family-independent terms of [`CheckpointInfo`].
    pub fn checkpoint_info(&self) -> CheckpointInfo {
        self.config.info()
    }

    /// A batch Chronos-Bolt can forecast: no covariates (the model reads none), at least one
    /// step, masks shaped like the values.
    pub fn check_batch(&self, input: &ForecastInput) -> Result<(), ModelError> {
        let mut covariates = Vec::new();
        for (name, c) in [
            ("past_covariates", &input.past_covariates),
            ("future_covariates", &input.future_covariates),
        ] {
            if let Some(c) = c {
                covariates.push(format!("{name} ({} channels)", c.dims()[2]));
            }
        }
        if !covariates.is_empty() {
            return Err(ModelError::Invalid(format!(
                "Chronos-Bolt reads no covariates, but the batch has {}: remove them from the \
                 data config",
                covariates.join(" and ")
            )));
        }
        check_shapes(input)
    }

    /// The batch's context, one series per window and channel, missing steps as in the package.
    fn context_of(&self, input: &ForecastInput) -> Context {
        Context::from_nan(
            fold_channels(&input.past_values),
            input.past_observed_mask.as_ref().map(fold_channels),
        )
    }

    /// Threads a forecast of `input` is worth: every series is scaled and encoded on its own,
    /// so a batch with enough encoder work (series x patches x d_model^2 over 2^22) is split
    /// over the available cores. Never on an autodiff device.
    fn forecast_threads(&self, input: &ForecastInput) -> usize {
        const MIN_WORK_PER_THREAD: usize = 1 << 22;
        if input.past_values.device().is_autodiff() {
            return 1;
        }
        let [rows, _, channels] = input.past_values.dims();
        let c = &self.config.chronos;
        let patches = c.context_length / c.input_patch_stride.max(1);
        let d = self.config.t5.d_model;
        let work = rows * channels * patches * d * d;
        crate::parallel::threads_for(work, MIN_WORK_PER_THREAD)
    }

    /// The pipeline's forecast for a checked batch, unfolded to `[b, h, c(, q)]`.
    fn forecast_checked(
        &self,
        input: &ForecastInput,
        horizon: usize,
        levels: Option<&[f32]>,
    ) -> Forecast {
        let [b, _, c] = input.past_values.dims();
        let own = self.quantile_levels();
        let levels = levels.unwrap_or(&own);
        let (quantiles, median) = self.predict_quantiles(self.context_of(input), horizon, levels);
        let n = levels.len();
        Forecast {
            point: median.reshape([b, c, horizon]).swap_dims(1, 2),
            quantile_levels: levels.to_vec(),
            quantiles: Some(quantiles.reshape([b, c, horizon, n]).permute([0, 2, 1, 3])),
        }
    }
}

impl Forecaster for ChronosBoltModel {
    fn model_type(&self) -> &'static str {
        "chronos_bolt"
    }

    fn info(&self) -> CheckpointInfo {
        self.checkpoint_info()
    }

    fn context_length(&self) -> usize {
        self.config.chronos.context_length
    }

    fn prediction_length(&self) -> usize {
        self.config.chronos.prediction_length
    }

    fn check_input(&self, input: &ForecastInput) -> Result<(), ModelError> {
        self.check_batch(input)
    }

    fn forecast(&self, input: &ForecastInput) -> Result<Forecast, ModelError> {
        self.forecast_with(input, &ForecastOptions::default())
    }

    fn max_horizon(&self) -> Option<usize> {
        Some(self.horizon_limit())
    }

    fn forecast_with(
        &self,
        input: &ForecastInput,
        options: &ForecastOptions,
    ) -> Result<Forecast, ModelError> {
        if options.decoding.is_some() {
            return Err(ModelError::Invalid(
                "Chronos-Bolt forecasts quantiles directly: decoding options (greedy/sampling) \
                 do not apply"
                    .into(),
            ));
        }
        let horizon = check_horizon(self, options.horizon)?;
        if let Some(levels) = &options.quantile_levels {
            check_quantile_levels(levels)?;
        }
        self.check_batch(input)?;
        let levels = options.quantile_levels.as_deref();
        let threads = self.forecast_threads(input);
        crate::parallel::forecast_rows(self, input, threads, |model, rows| {
            Ok(model.forecast_checked(rows, horizon, levels))
        })
    }

    fn loss(&self, input: &ForecastInput, kind: LossKind) -> Tensor<1> {
        if let Err(e) = self.check_batch(input) {
            panic!("{e}");
        }
        let future = input
            .future_values
            .as_ref()
            .expect("Forecaster::loss needs future_values");
        let target = Target::from_nan(
            fold_channels(future),
            input.future_observed_mask.as_ref().map(fold_channels),
        );
        let context = self.context_of(input);
        match kind {
            LossKind::Quantile | LossKind::Native => self.quantile_loss(context, target),
            point => {
                let median_at = self.config.chronos.median_index().expect("validated");
                let preds = self.forward(context).quantile_preds();
                let median = preds.narrow(1, median_at, 1).squeeze_dim::<2>(1);
                point_loss(median, target, point)
            }
        }
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
