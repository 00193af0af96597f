//! How a sampling model (Chronos-T5) decodes, from `model.params` over the checkpoint's own
//! defaults: `decoding` (`sample` or `greedy`), `num_samples`, `temperature`, `top_k`, `top_p`.
//! The draws are seeded with `training.seed`, so an evaluation is reproducible.
use tsfm_config::{Config, ModelConfig};
use tsfm_models::{CheckpointInfo, Decoding, ForecastOptions, SamplingOptions};
use yaml_serde::Value;

use crate::error::{Result, user};

/// The `model.params` keys a sampling model reads beside its shape.
pub const DECODING_PARAMS: &[&str] = &["decoding", "num_samples", "temperature", "top_k", "top_p"];

/// A sampling model's decoding: greedy or not, and the sampling settings either way (so a
/// `--decoding sample` flag over a greedy config still has them).
#[derive(Debug, Clone, PartialEq)]
pub struct DecodingSettings {
    pub greedy: bool,
    pub sample: SamplingOptions,
}

impl DecodingSettings {
    /// The checkpoint's own defaults (`None` for a deterministic model), sampled.
    pub fn checkpoint(info: &CheckpointInfo) -> Option<Self> {
        info.sampling.clone().map(|sample| Self {
            greedy: false,
            sample,
        })
    }

    /// `model.params` over the checkpoint's defaults; `None` for a deterministic model, whose
    /// params may hold none of [`DECODING_PARAMS`] (checked by `check_model`).
    pub fn from_config(
        model: &ModelConfig,
        info: &CheckpointInfo,
        seed: u64,
    ) -> Result<Option<Self>> {
        let Some(mut settings) = Self::checkpoint(info) else {
            return Ok(None);
        };
        settings.sample.seed = seed;
        let key = |k: &str| model.params.get(k);
        if let Some(v) = key("decoding") {
            settings.greedy = match v.as_str() {
                Some("greedy") => true,
                Some("sample") => false,
                _ => {
                    return Err(user(format!(
                        "model.params.decoding: expected `sample` or `greedy`, got {}",
                        show(v)
                    )));
                }
            };
        }
        if let Some(v) = key("num_samples") {
            settings.sample.num_samples = v
                .as_u64()
                .filter(|&n| n >= 1)
                .ok_or_else(|| bad("num_samples", v, "an integer of 1 or more"))?
                as usize;
        }
        if let Some(v) = key("temperature") {
            settings.sample.temperature = v
                .as_f64()
                .filter(|t| t.is_finite() && *t > 0.0)
                .ok_or_else(|| bad("temperature", v, "a number above 0"))?
                as f32;
        }
        if let Some(v) = key("top_k") {
            settings.sample.top_k = v
                .as_u64()
                .ok_or_else(|| bad("top_k", v, "an integer (0 = no top-k filtering)"))?
                as usize;
        }
        if let Some(v) = key("top_p") {
            settings.sample.top_p =
                v.as_f64()
                    .filter(|p| *p > 0.0 && *p <= 1.0)
                    .ok_or_else(|| bad("top_p", v, "a number in (0, 1]"))? as f32;
        }
        Ok(Some(settings))
    }

    pub fn decoding(&self) -> Decoding {
        if self.greedy {
            Decoding::Greedy
        } else {
            Decoding::Sample(self.sample.clone())
        }
    }
}

/// What an evaluation asks the model for: the config's decoding (sampling models), the
/// model's own quantile levels, the horizon set by the caller.
pub fn forecast_options(config: &Config, info: &CheckpointInfo) -> Result<ForecastOptions> {
    let settings = DecodingSettings::from_config(&config.model, info, config.training.seed)?;
    Ok(ForecastOptions {
        horizon: None,
        quantile_levels: None,
        decoding: settings.map(|s| s.decoding()),
    })
}

fn show(v: &Value) -> String {
    yaml_serde::to_string(v)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

fn bad(key: &str, v: &Value, expected: &str) -> crate::error::ExperimentError {
    user(format!(
        "model.params.{key}: expected {expected}, got {}",
        show(v)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chronos() -> CheckpointInfo {
        CheckpointInfo {
            model_type: "chronos".into(),
            context_length: 64,
            prediction_length: 8,
            target_channels: 1,
            past_covariates: 0,
            future_covariates: 0,
            uses_sampling_interval: false,
            quantile_levels: vec![0.1, 0.5, 0.9],
            sampling: Some(SamplingOptions {
                num_samples: 20,
                temperature: 1.0,
                top_k: 50,
                top_p: 1.0,
                seed: 0,
            }),
        }
    }

    fn model(yaml: &str) -> ModelConfig {
        ModelConfig {
            params: yaml_serde::from_str(yaml).unwrap(),
            ..Default::default()
        }
    }

    #[test]
    fn params_override_the_checkpoint_and_the_seed_is_the_experiments() {
        let s = DecodingSettings::from_config(
            &model("{num_samples: 7, temperature: 0.5, top_k: 0, top_p: 0.9}"),
            &chronos(),
            42,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            s.decoding(),
            Decoding::Sample(SamplingOptions {
                num_samples: 7,
                temperature: 0.5,
                top_k: 0,
                top_p: 0.9,
                seed: 42
            })
        );
        let g = DecodingSettings::from_config(&model("{decoding: greedy}"), &chronos(), 1)
            .unwrap()
            .unwrap();
        assert_eq!(g.decoding(), Decoding::Greedy);
    }

    #[test]
    fn deterministic_models_have_no_decoding() {
        let mut ttm = chronos();
        ttm.sampling = None;
        assert_eq!(
            DecodingSettings::from_config(&model("{}"), &ttm, 1).unwrap(),
            None
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = |y: &str| {
            DecodingSettings::from_config(&model(y), &chronos(), 1)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("{decoding: beam}"),
            "model.params.decoding: expected `sample` or `greedy`, got beam"
        );
        assert_eq!(
            err("{num_samples: 0}"),
            "model.params.num_samples: expected an integer of 1 or more, got 0"
        );
        assert_eq!(
            err("{temperature: -1}"),
            "model.params.temperature: expected a number above 0, got -1"
        );
        assert_eq!(
            err("{top_p: 1.5}"),
            "model.params.top_p: expected a number in (0, 1], got 1.5"
        );
        assert_eq!(
            err("{top_k: -2}"),
            "model.params.top_k: expected an integer (0 = no top-k filtering), got -2"
        );
    }
}
