//! The [`Forecaster`] side of TimesFM 2.5: channels folded into the batch, missing steps as
//! NaN, the official `forecast()` with the model's [`ForecastSettings`], the recipe's loss.

use std::path::Path;

use burn::Tensor;
use burn::module::Module;
use burn::tensor::TensorData;

use super::model::TimesFmModel;
use super::pipeline::ForecastSettings;
use crate::chronos_bolt::loss::Target;
use crate::forecaster::{
    FinetuneMode, Forecast, ForecastInput, ForecastOptions, Forecaster, LossKind, ModelError,
    ParamCounts, check_horizon, check_quantile_levels, check_shapes, fold_channels,
};
use crate::info::CheckpointInfo;

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 tensor")
}

impl TimesFmModel {
    /// Uses `settings` for every later forecast and loss.
    pub fn with_forecast_settings(mut self, settings: ForecastSettings) -> Self {
        self.settings = settings;
        self
    }

    /// The batch's series, one per window and channel, NaN where a step is missing.
    fn rows_of(values: &Tensor<3>, mask: Option<&Tensor<3>>) -> Vec<Vec<f32>> {
        let t = values.dims()[1];
        let mut data = host(fold_channels(values));
        if let Some(m) = mask {
            for (v, m) in data.iter_mut().zip(host(fold_channels(m))) {
                if m <= 0.0 {
                    *v = f32::NAN;
                }
            }
        }
        data.chunks(t.max(1)).map(<[f32]>::to_vec).collect()
    }

    /// A batch TimesFM can forecast: no covariates (it reads none), at least one step.
    pub fn check_batch(&self, input: &ForecastInput) -> Result<(), ModelError> {
        for (name, c) in [
            ("past_covariates", &input.past_covariates),
            ("future_covariates", &input.future_covariates),
        ] {
            if let Some(c) = c {
                return Err(ModelError::Invalid(format!(
                    "TimesFM reads no covariates, but the batch has {name} ({} channels): remove \
                     them from the data config",
                    c.dims()[2]
                )));
            }
        }
        check_shapes(input)
    }
}

impl Forecaster for TimesFmModel {
    fn model_type(&self) -> &'static str {
        "timesfm"
    }

    fn info(&self) -> CheckpointInfo {
        self.definition.info_with_context(self.context_length())
    }

    /// `max_context` rounded up to whole patches, as `compile` rounds it.
    fn context_length(&self) -> usize {
        let p = self.definition.input_patch_len;
        self.settings.max_context.div_ceil(p) * p
    }

    fn prediction_length(&self) -> usize {
        self.definition.output_patch_len
    }

    fn check_input(&self, input: &ForecastInput) -> Result<(), ModelError> {
        self.check_batch(input)
    }

    fn forecast(&self, input: &ForecastInput) -> Result<Forecast, ModelError> {
        self.forecast_with(input, &ForecastOptions::default())
    }

    /// With the continuous quantile head: its length; without: what fits beside the context.
    fn max_horizon(&self) -> Option<usize> {
        let d = &self.definition;
        let s = &self.settings;
        let limit = if s.use_continuous_quantile_head {
            d.output_quantile_len
        } else {
            let context = s.max_context.div_ceil(d.input_patch_len) * d.input_patch_len;
            d.context_limit.saturating_sub(context) / d.output_patch_len * d.output_patch_len
        };
        Some(s.max_horizon.map_or(limit, |m| m.min(limit)))
    }

    fn forecast_with(
        &self,
        input: &ForecastInput,
        options: &ForecastOptions,
    ) -> Result<Forecast, ModelError> {
        if options.decoding.is_some() {
            return Err(ModelError::Invalid(
                "TimesFM forecasts quantiles directly: decoding options (greedy/sampling) do not apply".into(),
            ));
        }
        let horizon = check_horizon(self, options.horizon)?;
        if let Some(levels) = &options.quantile_levels {
            check_quantile_levels(levels)?;
        }
        self.check_batch(input)?;
        let fc = self.settings.config(horizon).compiled(self)?;
        let rows = Self::rows_of(&input.past_values, input.past_observed_mask.as_ref());
        let out = self.forecast_rows(&rows, horizon, &fc)?;
        let [b, _, c] = input.past_values.dims();
        let levels: Vec<f32> = self
            .definition
            .quantiles
            .iter()
            .map(|l| *l as f32)
            .collect();
        let n = levels.len();
        let device = input.past_values.device();
        let point: Vec<f32> = out.point.into_iter().flatten().collect();
        let quantiles: Vec<f32> = out.quantiles.into_iter().flatten().flatten().collect();
        let forecast = Forecast {
            point: Tensor::<3>::from_data(TensorData::new(point, [b, c, horizon]), &device)
                .swap_dims(1, 2),
            quantile_levels: levels,
            quantiles: Some(
                Tensor::<4>::from_data(TensorData::new(quantiles, [b, c, horizon, n]), &device)
                    .permute([0, 2, 1, 3]),
            ),
        };
        match &options.quantile_levels {
            Some(wanted) => forecast.select_levels(wanted),
            None => Ok(forecast),
        }
    }

    /// The recipe's loss over the first output patch of the target (longer targets are
    /// trained on their first `output_patch_len` steps, as one forward pass forecasts them).
    fn loss(&self, input: &ForecastInput, kind: LossKind) -> Tensor<1> {
        if let Err(e) = self.check_batch(input) {
            panic!("{e}");
        }
        let future = input
            .future_values
            .as_ref()
            .expect("Forecaster::loss needs future_values");
        let rows = Self::rows_of(&input.past_values, input.past_observed_mask.as_ref());
        let mut target = Target::from_nan(
            fold_channels(future),
            input.future_observed_mask.as_ref().map(fold_channels),
        );
        let h = target.values.dims()[1].min(self.definition.output_patch_len);
        target = target.fit(h);
        let fc = self.settings.config(h);
        self.recipe_loss(&rows, target, &fc, kind)
            .unwrap_or_else(|e| panic!("{e}"))
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
