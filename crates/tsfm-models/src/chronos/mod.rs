//! Chronos-T5 (chronos-forecasting 2.3.2 `ChronosPipeline`, `chronos_config.model_type:
//! seq2seq`): values are scaled and quantised into tokens, a T5 encoder-decoder predicts the
//! next tokens, and forecasts are sample paths decoded back into values.
//!
//! - [`config`]: `config.json` (T5 keys + `chronos_config`);
//! - [`tokenizer`]: the `MeanScaleUniformBins` tokenizer;
//! - [`model`]: the weights (the shared [`crate::t5`] stack), loading, saving, fine-tune modes;
//! - [`generate`]: KV-cached autoregressive decoding and the rollout past `prediction_length`;
//! - [`sampling`]: greedy choice, temperature / top-k / top-p sampling, seeded streams;
//! - [`quantiles`]: `torch.quantile` and `torch.median` of the paths;
//! - [`loss`]: the training cross-entropy of `scripts/training/train.py`.
//!
//! The [`Forecaster`] side: channels are folded into the batch (`[b, t, c] -> [b*c, t]`) and
//! a 0 in `past_observed_mask` is a missing value (NaN to the tokenizer, a pad token the
//! encoder does not attend to). A series with no observed value gets scale 1 and only pad
//! tokens, as in the package: its forecast is what the model predicts from EOS alone.
//! `forecast` samples `chronos_config.num_samples` paths (its temperature, top-k and top-p,
//! seed [`DEFAULT_SEED`]); `point` is the 0.5 quantile of the paths (linear interpolation,
//! so the mean of the two middle paths for an even count), `quantiles` their empirical
//! quantiles as `predict_quantiles` computes them. Greedy decoding gives one path: `point`
//! is that path and there are no quantiles. Covariates are refused: Chronos-T5 reads the
//! target alone.

pub mod config;
pub mod generate;
pub mod loss;
pub mod model;
pub mod quantiles;
pub mod sampling;
pub mod tokenizer;

use std::path::Path;

use burn::Tensor;
use burn::module::Module;
use burn::tensor::TensorData;

pub use config::{ChronosConfig, ChronosModelConfig, DEFAULT_QUANTILE_LEVELS};
pub use generate::Paths;
pub use model::ChronosModel;
pub use tokenizer::MeanScaleUniformBins;

use crate::forecaster::{
    Decoding, FinetuneMode, Forecast, ForecastInput, ForecastOptions, Forecaster, LossKind,
    ModelError, ParamCounts, SamplingOptions, check_horizon, check_quantile_levels,
};
use crate::info::CheckpointInfo;

/// The seed `forecast` samples with when no [`SamplingOptions`] are given.
pub const DEFAULT_SEED: u64 = 0;

/// `[b, t, c]` values (and 1/0 mask) -> `b * c` univariate series, row `i * c + j` holding
/// channel `j` of window `i`, NaN where unobserved.
pub(crate) fn fold_channels(values: &Tensor<3>, mask: Option<&Tensor<3>>) -> Vec<Vec<f32>> {
    let [b, t, c] = values.dims();
    let v = host(values.clone());
    let m = mask.map(|m| host(m.clone()));
    let mut rows = vec![Vec::with_capacity(t); b * c];
    for i in 0..b {
        for step in 0..t {
            for j in 0..c {
                let k = (i * t + step) * c + j;
                let observed = m.as_ref().is_none_or(|m| m[k] != 0.0);
                rows[i * c + j].push(if observed { v[k] } else { f32::NAN });
            }
        }
    }
    rows
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 data")
}

impl ChronosModel {
    /// `chronos_config`'s sampling settings with [`DEFAULT_SEED`].
    pub fn default_sampling(&self) -> SamplingOptions {
        let c = &self.config.chronos;
        SamplingOptions {
            num_samples: c.num_samples,
            temperature: c.temperature as f32,
            top_k: c.top_k,
            top_p: c.top_p as f32,
            seed: DEFAULT_SEED,
        }
    }

    /// Covariates and empty or mismatched batches, named.
    pub fn check_batch(&self, input: &ForecastInput) -> Result<(), ModelError> {
        for (name, cov) in [
            ("past_covariates", &input.past_covariates),
            ("future_covariates", &input.future_covariates),
        ] {
            if let Some(cov) = cov
                && cov.dims()[2] > 0
            {
                return Err(ModelError::Invalid(format!(
                    "Chronos-T5 forecasts each target from its own history only: {name} \
                     ({} channel(s)) cannot be used; remove the covariates",
                    cov.dims()[2]
                )));
            }
        }
        let [b, t, c] = input.past_values.dims();
        if b == 0 || t == 0 || c == 0 {
            return Err(ModelError::Invalid(format!(
                "past_values is [{b}, {t}, {c}]: Chronos-T5 needs at least one window, step and channel"
            )));
        }
        if let Some(mask) = &input.past_observed_mask
            && mask.dims() != [b, t, c]
        {
            return Err(ModelError::Invalid(format!(
                "past_observed_mask is {:?}, past_values {:?}",
                mask.dims(),
                [b, t, c]
            )));
        }
        if let Some(future) = &input.future_values {
            let [fb, fh, fc] = future.dims();
            if fb != b || fc != c || fh == 0 {
                return Err(ModelError::Invalid(format!(
                    "future_values is [{fb}, {fh}, {fc}], past_values [{b}, {t}, {c}]: the windows \
                     and channels must match and the horizon must not be empty"
                )));
            }
        }
        Ok(())
    }

    /// Forecast from sample paths: `point` = the 0.5 quantile, `quantiles` at `levels`
    /// (None for a single greedy path).
    fn summarise(
        &self,
        paths: &Paths,
        windows: usize,
        channels: usize,
        levels: Option<&[f32]>,
    ) -> Forecast {
        let device = self.shared.weight.device();
        let h = paths.horizon;
        let n_levels = levels.map_or(0, <[f32]>::len);
        let mut point = vec![0f32; windows * h * channels];
        let mut quantiles = vec![0f32; windows * h * channels * n_levels];
        for row in 0..paths.rows {
            let (i, j) = (row / channels, row % channels);
            for step in 0..h {
                let mut at = paths.at(row, step);
                at.sort_by(f32::total_cmp);
                let k = (i * h + step) * channels + j;
                point[k] = quantiles::quantile(&at, 0.5);
                for (l, &q) in levels.unwrap_or(&[]).iter().enumerate() {
                    quantiles[k * n_levels + l] = quantiles::quantile(&at, q);
                }
            }
        }
        Forecast {
            point: Tensor::from_data(TensorData::new(point, [windows, h, channels]), &device),
            quantile_levels: levels.map(<[f32]>::to_vec).unwrap_or_default(),
            quantiles: levels.map(|_| {
                Tensor::from_data(
                    TensorData::new(quantiles, [windows, h, channels, n_levels]),
                    &device,
                )
            }),
        }
    }
}

impl Forecaster for ChronosModel {
    fn model_type(&self) -> &'static str {
        "chronos"
    }

    fn info(&self) -> CheckpointInfo {
        self.config.info()
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

    /// Autoregressive: any horizon is rolled out window by window.
    fn max_horizon(&self) -> Option<usize> {
        None
    }

    fn forecast_with(
        &self,
        input: &ForecastInput,
        options: &ForecastOptions,
    ) -> Result<Forecast, ModelError> {
        self.check_batch(input)?;
        let horizon = check_horizon(self, options.horizon)?;
        let decoding = options
            .decoding
            .clone()
            .unwrap_or_else(|| Decoding::Sample(self.default_sampling()));
        let default_levels: Vec<f32> = DEFAULT_QUANTILE_LEVELS.iter().map(|&q| q as f32).collect();
        let levels = match (&decoding, &options.quantile_levels) {
            (Decoding::Greedy, Some(_)) => {
                return Err(ModelError::Invalid(
                    "greedy decoding gives one path, which has no quantiles; sample to get them"
                        .into(),
                ));
            }
            (Decoding::Greedy, None) => None,
            (Decoding::Sample(o), levels) => {
                sampling::check_sampling(o)?;
                let levels = levels.clone().unwrap_or(default_levels);
                check_quantile_levels(&levels)?;
                Some(levels)
            }
        };
        let [windows, _, channels] = input.past_values.dims();
        let series = fold_channels(&input.past_values, input.past_observed_mask.as_ref());
        let paths = self.predict_paths(&series, horizon, &decoding);
        Ok(self.summarise(&paths, windows, channels, levels.as_deref()))
    }

    fn loss(&self, input: &ForecastInput, kind: LossKind) -> Tensor<1> {
        assert!(
            self.supports_loss(kind),
            "Chronos-T5 trains on its token cross-entropy only (loss: native), not {}",
            kind.name()
        );
        if let Err(e) = self.check_batch(input) {
            panic!("{e}");
        }
        self.native_loss(input)
    }

    fn supports_loss(&self, kind: LossKind) -> bool {
        matches!(kind, LossKind::Native)
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
