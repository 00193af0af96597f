//! Chronos-Bolt `config.json`: a T5 configuration plus the `chronos_config` object that
//! `ChronosBoltModelForForecasting` reads (chronos-forecasting 2.3).
//!
//! The package builds `ChronosBoltConfig(**chronos_config)`, so a key it does not know there
//! makes it fail to load: the same key is an error here. Top-level keys are T5's, the
//! pipeline's and `PretrainedConfig`'s; they are all kept and written back by
//! `save_pretrained`, so a saved checkpoint loads in the package exactly as the original did.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::forecaster::ModelError;
use crate::info::CheckpointInfo;
use crate::t5::{Activation, T5Config};

/// `ChronosBoltConfig` (the `chronos_config` object). Field names are the JSON keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChronosBoltSettings {
    /// The most past steps the model reads; longer input keeps the last ones.
    pub context_length: usize,
    /// Steps one forward pass forecasts.
    pub prediction_length: usize,
    pub input_patch_size: usize,
    pub input_patch_stride: usize,
    /// The quantile levels of the output head, in the head's order.
    pub quantiles: Vec<f64>,
    /// Whether a `[REG]` token (`shared.weight[1]`) is appended after the patches.
    #[serde(default)]
    pub use_reg_token: bool,
}

/// `ACT2FN[name]` for the names T5 checkpoints use (the residual blocks' `dense_act_fn`).
pub fn activation_from_name(name: &str, source: &str) -> Result<Activation, ModelError> {
    match name {
        "relu" => Ok(Activation::Relu),
        "gelu" => Ok(Activation::Gelu),
        "gelu_new" | "gelu_pytorch_tanh" => Ok(Activation::GeluNew),
        "silu" | "swish" => Ok(Activation::Silu),
        other => Err(invalid(
            source,
            "dense_act_fn",
            format!("`{other}` is not supported (relu, gelu, gelu_new, silu)"),
        )),
    }
}

/// A Chronos-Bolt `config.json`: the T5 stack's settings and Chronos-Bolt's own.
#[derive(Debug, Clone, PartialEq)]
pub struct ChronosBoltConfig {
    pub chronos: ChronosBoltSettings,
    /// The T5 keys, with `vocab_size` as the package sets it (2 with `[REG]`, else 1).
    pub t5: T5Config,
    /// The residual blocks' activation (`ACT2FN[config.dense_act_fn]`).
    pub activation: Activation,
}

/// A parsed configuration with the original JSON (written back by `save_pretrained`).
#[derive(Debug, Clone)]
pub struct ParsedBoltConfig {
    pub config: ChronosBoltConfig,
    pub raw: Map<String, Value>,
    /// Unknown keys, one message each.
    pub warnings: Vec<String>,
}

/// The `[REG]` token id: the package sets `config.reg_token_id = 1` whatever the file says.
pub const REG_TOKEN_ID: usize = 1;

fn invalid(source: &str, key: &str, msg: impl std::fmt::Display) -> ModelError {
    ModelError::Invalid(format!("{source}: config.json key `{key}`: {msg}"))
}

/// The residual blocks' activation name: `dense_act_fn` when written, else derived from
/// `feed_forward_proj` as `T5Config` does (`gated-gelu` means `gelu_new`; otherwise the part
/// after the last `-`).
fn activation_name(raw: &Map<String, Value>, source: &str) -> Result<String, ModelError> {
    if let Some(v) = raw.get("dense_act_fn").filter(|v| !v.is_null()) {
        return v.as_str().map(str::to_string).ok_or_else(|| {
            invalid(
                source,
                "dense_act_fn",
                format!("expected a string, found {v}"),
            )
        });
    }
    let proj = match raw.get("feed_forward_proj") {
        None | Some(Value::Null) => "relu",
        Some(v) => v.as_str().ok_or_else(|| {
            invalid(
                source,
                "feed_forward_proj",
                format!("expected a string, found {v}"),
            )
        })?,
    };
    if proj == "gated-gelu" {
        return Ok("gelu_new".into());
    }
    Ok(proj.rsplit('-').next().unwrap_or(proj).to_string())
}

impl ChronosBoltSettings {
    /// What the package would fail on, or this port cannot represent.
    pub fn validate(&self, source: &str) -> Result<(), ModelError> {
        let key = |k: &str| format!("chronos_config.{k}");
        let bad = |k: &str, msg: String| invalid(source, &key(k), msg);
        for (k, v) in [
            ("context_length", self.context_length),
            ("prediction_length", self.prediction_length),
            ("input_patch_size", self.input_patch_size),
            ("input_patch_stride", self.input_patch_stride),
        ] {
            if v == 0 {
                return Err(bad(k, "must be at least 1".into()));
            }
            // Inputs are padded to the context length: 2^31 steps asked for an 8 GiB
            // allocation (found by fuzzing). The package's models use 2,048.
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

    /// Patches the model sees for a context of `len` steps: the context is left-padded to a
    /// multiple of `input_patch_size`, then cut every `input_patch_stride` steps.
    pub fn num_patches(&self, len: usize) -> usize {
        let padded = len.div_ceil(self.input_patch_size) * self.input_patch_size;
        if padded < self.input_patch_size {
            return 0;
        }
        (padded - self.input_patch_size) / self.input_patch_stride + 1
    }
}

impl ChronosBoltConfig {
    /// Parses a `config.json` object; `source` names the file in messages.
    pub fn from_json(
        raw: Map<String, Value>,
        source: &str,
    ) -> Result<ParsedBoltConfig, ModelError> {
        if let Some(mt) = raw.get("model_type").and_then(|v| v.as_str())
            && mt != "t5"
        {
            return Err(invalid(
                source,
                "model_type",
                format!("`{mt}` is not a Chronos-Bolt (t5) checkpoint"),
            ));
        }
        let chronos_json = raw.get("chronos_config").cloned().ok_or_else(|| {
            invalid(
                source,
                "chronos_config",
                "missing; this is not a Chronos checkpoint",
            )
        })?;
        let chronos: ChronosBoltSettings = serde_json::from_value(chronos_json)
            .map_err(|e| invalid(source, "chronos_config", e))?;
        chronos.validate(source)?;
        let parsed = T5Config::from_json(raw, source, FAMILY_KEYS)?;
        let mut t5 = parsed.config;
        t5.vocab_size = if chronos.use_reg_token { 2 } else { 1 };
        t5.validate(source)?;
        let config = ChronosBoltConfig {
            activation: activation_from_name(&activation_name(&parsed.raw, source)?, source)?,
            chronos,
            t5,
        };
        let (raw, warnings) = (parsed.raw, parsed.warnings);
        Ok(ParsedBoltConfig {
            config,
            raw,
            warnings,
        })
    }

    /// The package sets `vocab_size` to 2 with a `[REG]` token (decoder start + REG), else 1.
    pub fn vocab_size(&self) -> usize {
        self.t5.vocab_size
    }

    /// The decoder's one input token.
    pub fn decoder_start_token_id(&self) -> usize {
        self.t5.decoder_start_token_id()
    }

    pub fn num_quantiles(&self) -> usize {
        self.chronos.quantiles.len()
    }

    /// The checkpoint in family-independent terms: one series at a time, no covariates.
    pub fn info(&self) -> CheckpointInfo {
        CheckpointInfo {
            model_type: "chronos_bolt".into(),
            context_length: self.chronos.context_length,
            prediction_length: self.chronos.prediction_length,
            target_channels: 1,
            past_covariates: 0,
            future_covariates: 0,
            uses_sampling_interval: false,
            quantile_levels: self.chronos.quantiles.clone(),
            sampling: None,
        }
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
        out.entry("architectures").or_insert_with(|| {
            Value::Array(vec![Value::String("ChronosBoltModelForForecasting".into())])
        });
        out.entry("chronos_pipeline_class")
            .or_insert_with(|| Value::String("ChronosBoltPipeline".into()));
        out
    }
}

/// Top-level keys Chronos-Bolt reads itself (the rest are T5's or `PretrainedConfig`'s).
const FAMILY_KEYS: &[&str] = &["chronos_config", "chronos_pipeline_class", "reg_token_id"];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<ParsedBoltConfig, ModelError> {
        ChronosBoltConfig::from_json(v.as_object().unwrap().clone(), "config.json")
    }

    fn base() -> Value {
        json!({
            "model_type": "t5",
            "d_model": 16,
            "d_ff": 32,
            "chronos_config": {
                "context_length": 64, "prediction_length": 16, "input_patch_size": 8,
                "input_patch_stride": 8, "quantiles": [0.1, 0.5, 0.9], "use_reg_token": true
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
    fn parses_the_keys_and_derives_the_activation() {
        let p = parse(base()).unwrap();
        assert_eq!(p.config.activation, Activation::Relu);
        assert_eq!(p.config.vocab_size(), 2);
        assert_eq!(p.config.decoder_start_token_id(), 0);
        assert_eq!(p.config.chronos.median_index(), Some(1));
        let g = parse(with(base(), &["feed_forward_proj"], json!("gated-gelu"))).unwrap();
        assert_eq!(g.config.activation, Activation::GeluNew);
        let s = parse(with(base(), &["dense_act_fn"], json!("silu"))).unwrap();
        assert_eq!(s.config.activation, Activation::Silu);
        assert!(p.warnings.is_empty());
        let w = parse(with(base(), &["my_key"], json!(3))).unwrap().warnings;
        assert_eq!(
            w,
            vec!["config.json: unknown config key `my_key` = 3 (ignored)"]
        );
    }

    #[test]
    fn patches_follow_the_left_padding() {
        let c = parse(base()).unwrap().config;
        assert_eq!(c.chronos.num_patches(64), 8);
        assert_eq!(c.chronos.num_patches(60), 8);
        assert_eq!(c.chronos.num_patches(3), 1);
        let s = with(base(), &["chronos_config", "input_patch_stride"], json!(4));
        assert_eq!(parse(s).unwrap().config.chronos.num_patches(64), 15);
    }

    #[test]
    fn invalid_settings_name_the_key() {
        let err = |v: Value| parse(v).unwrap_err().to_string();
        let e = err(with(
            base(),
            &["chronos_config", "quantiles"],
            json!([0.1, 0.9]),
        ));
        assert!(
            e.contains("`chronos_config.quantiles`: must include 0.5"),
            "{e}"
        );
        let e = err(with(
            base(),
            &["chronos_config", "quantiles"],
            json!([0.5, 0.1]),
        ));
        assert!(e.contains("ascending"), "{e}");
        let e = err(with(
            base(),
            &["chronos_config", "input_patch_size"],
            json!(0),
        ));
        assert!(
            e.contains("`chronos_config.input_patch_size`: must be at least 1"),
            "{e}"
        );
        let e = err(with(base(), &["chronos_config", "patch_len"], json!(4)));
        assert!(e.contains("unknown field `patch_len`"), "{e}");
        let e = err(with(base(), &["dense_act_fn"], json!("mish")));
        assert!(e.contains("`dense_act_fn`: `mish` is not supported"), "{e}");
        let e = err(with(base(), &["decoder_start_token_id"], json!(2)));
        assert!(
            e.contains("`decoder_start_token_id`: 2 is not below vocab_size 2"),
            "{e}"
        );
        let mut no_chronos = base();
        no_chronos.as_object_mut().unwrap().remove("chronos_config");
        assert!(err(no_chronos).contains("`chronos_config`"));
    }

    #[test]
    fn to_json_keeps_unknown_keys_and_sets_the_vocabulary() {
        let p = parse(with(base(), &["my_key"], json!("x"))).unwrap();
        let out = p.config.to_json(&p.raw);
        assert_eq!(out["my_key"], json!("x"));
        assert_eq!(out["vocab_size"], json!(2));
        assert_eq!(out["chronos_config"]["quantiles"], json!([0.1, 0.5, 0.9]));
        assert_eq!(
            out["architectures"],
            json!(["ChronosBoltModelForForecasting"])
        );
    }
}
