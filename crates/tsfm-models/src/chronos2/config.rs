//! Chronos-2 `config.json`: `Chronos2CoreConfig` (T5-like keys plus `rope_theta`) and the
//! `chronos_config` object `Chronos2Model` reads (chronos-forecasting 2.3 `Chronos2Model`).
//!
//! The package builds `Chronos2ForecastingConfig(**chronos_config)`, so a key it does not
//! know there makes it fail to load: the same key is an error here. Top-level keys the model
//! does not read are kept and written back by `save_pretrained`; keys neither Chronos-2 nor
//! transformers know are reported as warnings.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::checkpoint::HF_GENERIC_KEYS;
use crate::chronos_bolt::config::activation_from_name;
use crate::forecaster::ModelError;
use crate::info::CheckpointInfo;
use crate::t5::Activation;

/// `Chronos2ForecastingConfig` (the `chronos_config` object). Field names are the JSON keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chronos2Settings {
    /// The most past steps the model reads; longer input keeps the last ones.
    pub context_length: usize,
    pub output_patch_size: usize,
    pub input_patch_size: usize,
    pub input_patch_stride: usize,
    /// The quantile levels of the output head, in the head's order.
    pub quantiles: Vec<f64>,
    /// Whether a `[REG]` token (`shared.weight[1]`) follows the context patches.
    #[serde(default)]
    pub use_reg_token: bool,
    /// Whether normalised values go through `arcsinh` (and forecasts back through `sinh`).
    #[serde(default)]
    pub use_arcsinh: bool,
    /// Output patches one forward pass may produce (the pipeline's unit of rollout).
    #[serde(default = "one")]
    pub max_output_patches: usize,
    /// Divisor of the time encoding; the package fills in `context_length` when absent (a
    /// written `null` would break its loader, so an absent value stays absent on saving).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_encoding_scale: Option<usize>,
}

fn one() -> usize {
    1
}

/// `Chronos2CoreConfig`: the encoder's sizes. Field names are the JSON keys; defaults are the
/// class's.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Chronos2Core {
    pub d_model: usize,
    pub d_kv: usize,
    pub d_ff: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub dropout_rate: f64,
    pub layer_norm_epsilon: f64,
    pub feed_forward_proj: String,
    pub rope_theta: f64,
}

impl Default for Chronos2Core {
    fn default() -> Self {
        Self {
            d_model: 512,
            d_kv: 64,
            d_ff: 2048,
            num_layers: 6,
            num_heads: 8,
            dropout_rate: 0.1,
            layer_norm_epsilon: 1e-6,
            feed_forward_proj: "relu".into(),
            rope_theta: 10000.0,
        }
    }
}

impl Chronos2Core {
    /// Width of the attention projections (`num_heads * d_kv`, not necessarily `d_model`).
    pub fn inner_dim(&self) -> usize {
        self.num_heads * self.d_kv
    }
}

/// A Chronos-2 `config.json`: the encoder's settings and the forecasting settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Chronos2Config {
    pub chronos: Chronos2Settings,
    pub core: Chronos2Core,
    /// `ACT2FN[config.dense_act_fn]`, used by the feed-forward and the residual blocks.
    pub activation: Activation,
}

/// A parsed configuration with the original JSON (written back by `save_pretrained`).
#[derive(Debug, Clone)]
pub struct ParsedChronos2Config {
    pub config: Chronos2Config,
    pub raw: Map<String, Value>,
    /// Unknown keys, one message each.
    pub warnings: Vec<String>,
}

/// The `[REG]` token id: the package sets `config.reg_token_id = 1` whatever the file says.
pub const REG_TOKEN_ID: usize = 1;

/// Keys of `Chronos2CoreConfig` the layers read.
const CORE_KEYS: &[&str] = &[
    "d_model",
    "d_kv",
    "d_ff",
    "num_layers",
    "num_heads",
    "dropout_rate",
    "layer_norm_epsilon",
    "feed_forward_proj",
    "rope_theta",
];

/// Keys the package writes or reads that the layers do not (initialisation, derived values,
/// the attention kernel, the pipeline class).
const INERT_KEYS: &[&str] = &[
    "chronos_config",
    "chronos_pipeline_class",
    "reg_token_id",
    "vocab_size",
    "dense_act_fn",
    "is_gated_act",
    "initializer_factor",
    "attn_implementation",
    "_attn_implementation_autoset",
    "use_cache",
];

fn invalid(source: &str, key: &str, msg: impl std::fmt::Display) -> ModelError {
    ModelError::Invalid(format!("{source}: config.json key `{key}`: {msg}"))
}

/// `dense_act_fn` as the package ends up with it: `Chronos2CoreConfig` derives it from
/// `feed_forward_proj` (the part after the last `-`), then `PretrainedConfig` sets every
/// extra key of the file, so a written `dense_act_fn` wins.
fn activation_name(
    raw: &Map<String, Value>,
    core: &Chronos2Core,
    source: &str,
) -> Result<String, ModelError> {
    if let Some(v) = raw.get("dense_act_fn").filter(|v| !v.is_null()) {
        return v.as_str().map(str::to_string).ok_or_else(|| {
            invalid(
                source,
                "dense_act_fn",
                format!("expected a string, found {v}"),
            )
        });
    }
    let proj = core.feed_forward_proj.as_str();
    Ok(proj.rsplit('-').next().unwrap_or(proj).to_string())
}

impl Chronos2Settings {
    /// What the package would fail on, or this port cannot represent.
    pub fn validate(&self, source: &str) -> Result<(), ModelError> {
        let bad = |k: &str, msg: String| invalid(source, &format!("chronos_config.{k}"), msg);
        for (k, v) in [
            ("context_length", self.context_length),
            ("output_patch_size", self.output_patch_size),
            ("input_patch_size", self.input_patch_size),
            ("input_patch_stride", self.input_patch_stride),
            ("max_output_patches", self.max_output_patches),
            ("time_encoding_scale", self.time_encoding_scale.unwrap_or(1)),
        ] {
            if v == 0 {
                return Err(bad(k, "must be at least 1".into()));
            }
            if v > crate::forecaster::MAX_CONFIG_STEPS {
                return Err(bad(
                    k,
                    format!(
                        "{v} is over the limit of {}",
                        crate::forecaster::MAX_CONFIG_STEPS
                    ),
                ));
            }
        }
        // The package asserts this: future tokens are embedded by the input block.
        if self.input_patch_size != self.output_patch_size {
            return Err(bad(
                "output_patch_size",
                format!(
                    "{} differs from input_patch_size {}; the package requires them equal",
                    self.output_patch_size, self.input_patch_size
                ),
            ));
        }
        if self.quantiles.is_empty() {
            return Err(bad("quantiles", "the list is empty".into()));
        }
        for w in self.quantiles.windows(2) {
            if w[1] <= w[0] {
                return Err(bad(
                    "quantiles",
                    format!(
                        "levels must be ascending without repeats ({} then {})",
                        w[0], w[1]
                    ),
                ));
            }
        }
        if let Some(level) = self.quantiles.iter().find(|q| !(**q > 0.0 && **q < 1.0)) {
            return Err(bad("quantiles", format!("level {level} is outside (0, 1)")));
        }
        if self.median_index().is_none() {
            return Err(bad(
                "quantiles",
                "must include 0.5: the point forecast is the median, as in the package".into(),
            ));
        }
        Ok(())
    }

    /// Position of the 0.5 level in the head's output.
    pub fn median_index(&self) -> Option<usize> {
        self.quantiles.iter().position(|&q| q == 0.5)
    }

    /// The time encoding's divisor (`context_length` unless the file says otherwise).
    pub fn time_scale(&self) -> usize {
        self.time_encoding_scale.unwrap_or(self.context_length)
    }

    /// Steps one output patch covers.
    pub fn patch(&self) -> usize {
        self.output_patch_size
    }
}

impl Chronos2Core {
    fn validate(&self, source: &str) -> Result<(), ModelError> {
        for (key, value) in [
            ("d_model", self.d_model),
            ("d_kv", self.d_kv),
            ("d_ff", self.d_ff),
            ("num_layers", self.num_layers),
            ("num_heads", self.num_heads),
        ] {
            if value == 0 {
                return Err(invalid(source, key, "must be at least 1"));
            }
        }
        // Rotary embeddings rotate halves of each head.
        if !self.d_kv.is_multiple_of(2) {
            return Err(invalid(
                source,
                "d_kv",
                format!("{} must be even (RoPE)", self.d_kv),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout_rate) {
            return Err(invalid(
                source,
                "dropout_rate",
                format!("{} is outside [0, 1)", self.dropout_rate),
            ));
        }
        if self.layer_norm_epsilon.is_nan() || self.layer_norm_epsilon < 0.0 {
            return Err(invalid(source, "layer_norm_epsilon", "must be >= 0"));
        }
        if self.rope_theta.is_nan() || self.rope_theta <= 0.0 {
            return Err(invalid(source, "rope_theta", "must be > 0"));
        }
        if self.feed_forward_proj.starts_with("gated-") {
            return Err(invalid(
                source,
                "feed_forward_proj",
                format!(
                    "`{}`: Chronos-2 has no gated feed-forward",
                    self.feed_forward_proj
                ),
            ));
        }
        Ok(())
    }
}

impl Chronos2Config {
    /// What this checkpoint is, in the family-independent terms of [`CheckpointInfo`]: one
    /// forward pass forecasts `max_output_patches * output_patch_size` steps; the
    /// [`crate::Forecaster`] reads each channel as its own series, without covariates (yet).
    pub fn info(&self) -> CheckpointInfo {
        CheckpointInfo {
            model_type: "chronos2".into(),
            context_length: self.chronos.context_length,
            prediction_length: self.chronos.max_output_patches * self.chronos.output_patch_size,
            target_channels: 1,
            past_covariates: 0,
            future_covariates: 0,
            uses_sampling_interval: false,
            quantile_levels: self.chronos.quantiles.clone(),
            sampling: None,
        }
    }

    /// Parses a `config.json` object; `source` names the file in messages.
    pub fn from_json(
        raw: Map<String, Value>,
        source: &str,
    ) -> Result<ParsedChronos2Config, ModelError> {
        if let Some(mt) = raw.get("model_type").and_then(|v| v.as_str())
            && mt != "t5"
        {
            return Err(invalid(
                source,
                "model_type",
                format!("`{mt}` is not a Chronos-2 (t5) checkpoint"),
            ));
        }
        let chronos_json = raw.get("chronos_config").cloned().ok_or_else(|| {
            invalid(
                source,
                "chronos_config",
                "missing; this is not a Chronos checkpoint",
            )
        })?;
        let chronos: Chronos2Settings = serde_json::from_value(chronos_json)
            .map_err(|e| invalid(source, "chronos_config", e))?;
        chronos.validate(source)?;
        let mut warnings = Vec::new();
        let mut typed = Map::new();
        for (k, v) in &raw {
            if CORE_KEYS.contains(&k.as_str()) {
                // `null` means "the default".
                if !v.is_null() {
                    typed.insert(k.clone(), v.clone());
                }
            } else if !(INERT_KEYS.contains(&k.as_str()) || HF_GENERIC_KEYS.contains(&k.as_str())) {
                warnings.push(format!(
                    "{source}: unknown config key `{k}` = {v} (ignored)"
                ));
            }
        }
        let core: Chronos2Core = serde_json::from_value(Value::Object(typed))
            .map_err(|e| ModelError::Invalid(format!("{source}: {e}")))?;
        core.validate(source)?;
        let activation = activation_from_name(&activation_name(&raw, &core, source)?, source)?;
        Ok(ParsedChronos2Config {
            config: Self {
                chronos,
                core,
                activation,
            },
            raw,
            warnings,
        })
    }

    /// `[PAD]` and, with `[REG]`, the `[REG]` row.
    pub fn vocab_size(&self) -> usize {
        if self.chronos.use_reg_token { 2 } else { 1 }
    }

    pub fn num_quantiles(&self) -> usize {
        self.chronos.quantiles.len()
    }

    /// The JSON `save_pretrained` writes: the original keys, with `chronos_config` and the
    /// vocabulary as this model has them.
    pub fn to_json(&self, raw: &Map<String, Value>) -> Map<String, Value> {
        let mut out = raw.clone();
        out.insert(
            "chronos_config".into(),
            serde_json::to_value(&self.chronos).expect("settings serialise"),
        );
        out.insert("vocab_size".into(), Value::from(self.vocab_size()));
        out.entry("model_type")
            .or_insert_with(|| Value::String("t5".into()));
        out.entry("architectures")
            .or_insert_with(|| Value::Array(vec![Value::String("Chronos2Model".into())]));
        out.entry("chronos_pipeline_class")
            .or_insert_with(|| Value::String("Chronos2Pipeline".into()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<ParsedChronos2Config, ModelError> {
        Chronos2Config::from_json(v.as_object().unwrap().clone(), "config.json")
    }

    fn base() -> Value {
        json!({
            "model_type": "t5",
            "d_model": 16,
            "d_kv": 4,
            "d_ff": 32,
            "num_heads": 4,
            "chronos_config": {
                "context_length": 64, "output_patch_size": 16, "input_patch_size": 16,
                "input_patch_stride": 16, "quantiles": [0.1, 0.5, 0.9], "use_reg_token": true
            }
        })
    }

    fn with(mut v: Value, path: &[&str], value: Value) -> Value {
        let mut obj = v.as_object_mut().unwrap();
        for p in &path[..path.len() - 1] {
            obj = obj.get_mut(*p).unwrap().as_object_mut().unwrap();
        }
        obj.insert(path[path.len() - 1].to_string(), value);
        v
    }

    #[test]
    fn parses_defaults_and_derived_values() {
        let p = parse(base()).unwrap();
        let c = &p.config;
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        assert_eq!(c.activation, Activation::Relu);
        assert_eq!(c.vocab_size(), 2);
        assert_eq!(c.chronos.time_scale(), 64);
        assert_eq!(c.chronos.max_output_patches, 1);
        assert!(!c.chronos.use_arcsinh);
        assert_eq!(c.core.num_layers, 6);
        assert_eq!(c.core.rope_theta, 10000.0);
        let s = parse(with(base(), &["dense_act_fn"], json!("silu"))).unwrap();
        assert_eq!(s.config.activation, Activation::Silu);
        let w = parse(with(base(), &["my_key"], json!(3))).unwrap().warnings;
        assert_eq!(
            w,
            vec!["config.json: unknown config key `my_key` = 3 (ignored)"]
        );
    }

    #[test]
    fn invalid_settings_name_the_key() {
        let err = |v: Value| parse(v).unwrap_err().to_string();
        let e = err(with(
            base(),
            &["chronos_config", "output_patch_size"],
            json!(8),
        ));
        assert!(e.contains("`chronos_config.output_patch_size`"), "{e}");
        let e = err(with(
            base(),
            &["chronos_config", "quantiles"],
            json!([0.1, 0.9]),
        ));
        assert!(e.contains("must include 0.5"), "{e}");
        let e = err(with(base(), &["chronos_config", "patch_len"], json!(4)));
        assert!(e.contains("unknown field `patch_len`"), "{e}");
        let e = err(with(base(), &["feed_forward_proj"], json!("gated-gelu")));
        assert!(e.contains("`feed_forward_proj`"), "{e}");
        let e = err(with(base(), &["d_kv"], json!(3)));
        assert!(e.contains("`d_kv`: 3 must be even"), "{e}");
        let e = err(with(
            base(),
            &["chronos_config", "max_output_patches"],
            json!(0),
        ));
        assert!(
            e.contains("`chronos_config.max_output_patches`: must be at least 1"),
            "{e}"
        );
    }

    #[test]
    fn to_json_keeps_unknown_keys_and_sets_the_vocabulary() {
        let p = parse(with(base(), &["my_key"], json!("x"))).unwrap();
        let out = p.config.to_json(&p.raw);
        assert_eq!(out["my_key"], json!("x"));
        assert_eq!(out["vocab_size"], json!(2));
        assert_eq!(out["architectures"], json!(["Chronos2Model"]));
        assert_eq!(out["chronos_config"]["quantiles"], json!([0.1, 0.5, 0.9]));
    }
}
