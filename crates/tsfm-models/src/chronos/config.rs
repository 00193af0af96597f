//! A Chronos-T5 `config.json`: the T5 keys plus `chronos_config`, the dataclass
//! `ChronosConfig` of chronos-forecasting (tokenizer, lengths, special tokens, sampling).

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::forecaster::ModelError;
use crate::info::CheckpointInfo;
use crate::t5::T5Config;

/// Quantile levels a Chronos-T5 forecast reports by default (`predict_quantiles`' default).
pub const DEFAULT_QUANTILE_LEVELS: [f64; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/// `MeanScaleUniformBins`' arguments.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TokenizerKwargs {
    pub low_limit: f64,
    pub high_limit: f64,
}

/// `chronos_config`. Every field is required, as in the Python dataclass.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ChronosConfig {
    pub tokenizer_class: String,
    pub tokenizer_kwargs: TokenizerKwargs,
    pub context_length: usize,
    pub prediction_length: usize,
    pub n_tokens: usize,
    pub n_special_tokens: usize,
    pub pad_token_id: usize,
    pub eos_token_id: usize,
    pub use_eos_token: bool,
    pub model_type: String,
    pub num_samples: usize,
    pub temperature: f64,
    pub top_k: usize,
    pub top_p: f64,
}

/// Keys of `chronos_config` (anything else is reported, not silently dropped).
const CHRONOS_KEYS: &[&str] = &[
    "tokenizer_class",
    "tokenizer_kwargs",
    "context_length",
    "prediction_length",
    "n_tokens",
    "n_special_tokens",
    "pad_token_id",
    "eos_token_id",
    "use_eos_token",
    "model_type",
    "num_samples",
    "temperature",
    "top_k",
    "top_p",
];

/// The whole configuration of a Chronos-T5 checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct ChronosModelConfig {
    pub t5: T5Config,
    pub chronos: ChronosConfig,
}

/// A parsed configuration, the original JSON and the warnings.
#[derive(Debug, Clone)]
pub struct ParsedChronosConfig {
    pub config: ChronosModelConfig,
    pub raw: Map<String, Value>,
    pub warnings: Vec<String>,
}

fn invalid(source: &str, key: &str, msg: impl std::fmt::Display) -> ModelError {
    ModelError::Invalid(format!(
        "{source}: config.json key `chronos_config.{key}`: {msg}"
    ))
}

impl ChronosConfig {
    pub fn low_limit(&self) -> f32 {
        self.tokenizer_kwargs.low_limit as f32
    }

    pub fn high_limit(&self) -> f32 {
        self.tokenizer_kwargs.high_limit as f32
    }

    /// What chronos-forecasting asserts, and what this port needs to run the checkpoint.
    fn validate(&self, source: &str, t5: &T5Config) -> Result<(), ModelError> {
        if self.model_type != "seq2seq" {
            return Err(invalid(
                source,
                "model_type",
                format!(
                    "`{}` is not supported: only seq2seq (T5) Chronos models are",
                    self.model_type
                ),
            ));
        }
        if self.tokenizer_class != "MeanScaleUniformBins" {
            return Err(invalid(
                source,
                "tokenizer_class",
                format!(
                    "`{}` is not supported (MeanScaleUniformBins)",
                    self.tokenizer_class
                ),
            ));
        }
        let (lo, hi) = (
            self.tokenizer_kwargs.low_limit,
            self.tokenizer_kwargs.high_limit,
        );
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(invalid(
                source,
                "tokenizer_kwargs",
                format!("low_limit {lo} must be below high_limit {hi}"),
            ));
        }
        for (key, id) in [
            ("pad_token_id", self.pad_token_id),
            ("eos_token_id", self.eos_token_id),
        ] {
            if id >= self.n_special_tokens {
                return Err(invalid(
                    source,
                    key,
                    format!(
                        "{id} must be smaller than n_special_tokens {}",
                        self.n_special_tokens
                    ),
                ));
            }
        }
        if self.n_tokens < self.n_special_tokens + 2 {
            return Err(invalid(
                source,
                "n_tokens",
                format!(
                    "{} leaves no value bins after {} special tokens",
                    self.n_tokens, self.n_special_tokens
                ),
            ));
        }
        if self.n_tokens > t5.vocab_size {
            return Err(invalid(
                source,
                "n_tokens",
                format!(
                    "{} exceeds the T5 vocab_size {}",
                    self.n_tokens, t5.vocab_size
                ),
            ));
        }
        for (key, v) in [
            ("context_length", self.context_length),
            ("prediction_length", self.prediction_length),
            ("num_samples", self.num_samples),
        ] {
            if v == 0 {
                return Err(invalid(source, key, "must be at least 1"));
            }
            if v > crate::forecaster::MAX_CONFIG_STEPS {
                return Err(invalid(
                    source,
                    key,
                    format!(
                        "{v} is over the limit of {}",
                        crate::forecaster::MAX_CONFIG_STEPS
                    ),
                ));
            }
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(invalid(source, "temperature", "must be positive"));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(invalid(source, "top_p", "must be in (0, 1]"));
        }
        Ok(())
    }
}

impl ChronosModelConfig {
    /// Parses a Chronos-T5 `config.json`; `source` names the file in messages.
    pub fn from_json(
        raw: Map<String, Value>,
        source: &str,
    ) -> Result<ParsedChronosConfig, ModelError> {
        let chronos_value = raw.get("chronos_config").cloned().ok_or_else(|| {
            ModelError::Invalid(format!(
                "{source}: no `chronos_config` key; this is not a Chronos checkpoint"
            ))
        })?;
        let parsed =
            T5Config::from_json(raw, source, &["chronos_config", "chronos_pipeline_class"])?;
        let mut warnings = parsed.warnings;
        if let Value::Object(m) = &chronos_value {
            for (k, v) in m {
                if !CHRONOS_KEYS.contains(&k.as_str()) {
                    warnings.push(format!(
                        "{source}: unknown config key `chronos_config.{k}` = {v} (ignored)"
                    ));
                }
            }
        }
        let chronos: ChronosConfig = serde_json::from_value(chronos_value)
            .map_err(|e| ModelError::Invalid(format!("{source}: `chronos_config`: {e}")))?;
        parsed.config.validate_special_tokens(source)?;
        chronos.validate(source, &parsed.config)?;
        Ok(ParsedChronosConfig {
            config: ChronosModelConfig {
                t5: parsed.config,
                chronos,
            },
            raw: parsed.raw,
            warnings,
        })
    }

    /// The checkpoint in family-independent terms: univariate (channels are folded into the
    /// batch), no covariates, quantiles from the samples.
    pub fn info(&self) -> CheckpointInfo {
        CheckpointInfo {
            model_type: "chronos".into(),
            context_length: self.chronos.context_length,
            prediction_length: self.chronos.prediction_length,
            target_channels: 1,
            past_covariates: 0,
            future_covariates: 0,
            uses_sampling_interval: false,
            quantile_levels: DEFAULT_QUANTILE_LEVELS.to_vec(),
            sampling: Some(crate::forecaster::SamplingOptions {
                num_samples: self.chronos.num_samples,
                temperature: self.chronos.temperature as f32,
                top_k: self.chronos.top_k,
                top_p: self.chronos.top_p as f32,
                seed: super::DEFAULT_SEED,
            }),
        }
    }
}
