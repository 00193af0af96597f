//! The [`Forecaster`] side of Chronos-2, univariate: each channel of each window is its own
//! series and its own group (no covariates yet), missing steps as NaN, the pipeline's
//! unrolled long horizons and quantile interpolation, the model's training loss.

use std::path::Path;

use burn::Tensor;
use burn::module::Module;

use super::model::{Chronos2Input, Chronos2Model};
use crate::chronos_bolt::loss::{Target, point_loss};
use crate::chronos_bolt::scaler::Context;
use crate::forecaster::{
    FinetuneMode, Forecast, ForecastInput, ForecastOptions, Forecaster, LossKind, ModelError,
    ParamCounts, check_horizon, check_quantile_levels, check_shapes, fold_channels,
};
use crate::info::CheckpointInfo;

impl Chronos2Model {
    /// What this checkpoint is, in the family-independent terms of [`CheckpointInfo`].
    pub fn checkpoint_info(&self) -> CheckpointInfo {
        self.config.info()
    }

    /// Steps one forward pass forecasts: `max_output_patches * output_patch_size`.
    pub fn model_prediction_length(&self) -> usize {
        let c = &self.config.chronos;
        c.max_output_patches * c.output_patch_size
    }

    /// The longest horizon the [`Forecaster`] accepts: every unrolled pass must still see
    /// some of the observed context, so at most `context_length` steps (or one pass, if that
    /// is longer). The package allows any horizon with a warning.
    pub fn horizon_limit(&self) -> usize {
        self.model_prediction_length()
            .max(self.config.chronos.context_length)
    }

    /// A batch the univariate Chronos-2 forecaster reads: no covariates (not wired yet), at
    /// least one step, masks shaped like the values.
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
                "Chronos-2 covariates are not supported by this version of tsfm yet, but the \
                 batch has {}: remove them from the data config",
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

    /// The pipeline's forecast for a checked batch, unfolded to `[b, h, c(, q)]`.
    fn forecast_checked(
        &self,
        input: &ForecastInput,
        horizon: usize,
        levels: Option<&[f32]>,
    ) -> Result<Forecast, ModelError> {
        let [b, _, c] = input.past_values.dims();
        let own = self.quantile_levels();
        let levels = levels.unwrap_or(&own);
        let (quantiles, median) =
            self.predict_quantiles(self.context_of(input), None, horizon, levels)?;
        let n = levels.len();
        Ok(Forecast {
            point: median.reshape([b, c, horizon]).swap_dims(1, 2),
            quantile_levels: levels.to_vec(),
            quantiles: Some(quantiles.reshape([b, c, horizon, n]).permute([0, 2, 1, 3])),
        })
    }
}

impl Forecaster for Chronos2Model {
    fn model_type(&self) -> &'static str {
        "chronos2"
    }

    fn info(&self) -> CheckpointInfo {
        self.checkpoint_info()
    }

    fn context_length(&self) -> usize {
        self.config.chronos.context_length
    }

    fn prediction_length(&self) -> usize {
        self.model_prediction_length()
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
                "Chronos-2 forecasts quantiles directly: decoding options (greedy/sampling) \
                 do not apply"
                    .into(),
            ));
        }
        let horizon = check_horizon(self, options.horizon)?;
        if let Some(levels) = &options.quantile_levels {
            check_quantile_levels(levels)?;
        }
        self.check_batch(input)?;
        self.forecast_checked(input, horizon, options.quantile_levels.as_deref())
    }

    /// `Native` and `Quantile`: the model's training loss (`Chronos2Model.forward(...,
    /// future_target=...).loss`) with `ceil(h / patch)` output patches; point losses on the
    /// median in data units.
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
        let h = target.values.dims()[1];
        let patches = h.div_ceil(self.config.chronos.output_patch_size).max(1);
        let model_input = Chronos2Input::univariate(self.context_of(input), patches);
        match kind {
            LossKind::Quantile | LossKind::Native => {
                match self.quantile_loss(model_input, target) {
                    Ok((loss, _)) => loss,
                    Err(e) => panic!("{e}"),
                }
            }
            point => {
                let median_at = self.config.chronos.median_index().expect("validated");
                let out = match self.forward(model_input) {
                    Ok(out) => out,
                    Err(e) => panic!("{e}"),
                };
                let median = out
                    .quantile_preds()
                    .narrow(1, median_at, 1)
                    .squeeze_dim::<2>(1);
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
