//! The T5 part of a `config.json` (transformers' `T5Config`), shared by Chronos-T5 and
//! Chronos-Bolt.
//!
//! Typed fields are the keys the layers read; `feed_forward_proj` is parsed as `T5Config`
//! does (`relu`, `gated-gelu` = gated tanh-GELU, ...). Every other key is kept in the raw map
//! so `save_pretrained` writes it back; keys neither T5 nor transformers know are reported as
//! warnings.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::checkpoint::HF_GENERIC_KEYS;
use crate::forecaster::ModelError;

/// The T5 configuration. Field names are the `config.json` keys; defaults are `T5Config()`'s.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct T5Config {
    pub vocab_size: usize,
    pub d_model: usize,
    pub d_kv: usize,
    pub d_ff: usize,
    pub num_layers: usize,
    /// `None` = `num_layers`.
    pub num_decoder_layers: Option<usize>,
    pub num_heads: usize,
    pub relative_attention_num_buckets: usize,
    pub relative_attention_max_distance: usize,
    pub dropout_rate: f64,
    pub layer_norm_epsilon: f64,
    pub feed_forward_proj: String,
    pub tie_word_embeddings: bool,
    /// Written by transformers >= 5.17; older configs imply it from `tie_word_embeddings`.
    pub scale_decoder_outputs: Option<bool>,
    pub pad_token_id: usize,
    pub eos_token_id: usize,
    /// `None` = `pad_token_id`.
    pub decoder_start_token_id: Option<usize>,
}

impl Default for T5Config {
    fn default() -> Self {
        Self {
            vocab_size: 32128,
            d_model: 512,
            d_kv: 64,
            d_ff: 2048,
            num_layers: 6,
            num_decoder_layers: None,
            num_heads: 8,
            relative_attention_num_buckets: 32,
            relative_attention_max_distance: 128,
            dropout_rate: 0.1,
            layer_norm_epsilon: 1e-6,
            feed_forward_proj: "relu".into(),
            tie_word_embeddings: true,
            scale_decoder_outputs: None,
            pad_token_id: 0,
            eos_token_id: 1,
            decoder_start_token_id: None,
        }
    }
}

/// The nonlinearity of the feed-forward block (transformers' `ACT2FN` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Relu,
    /// `gelu`: the exact (erf) GELU.
    Gelu,
    /// `gelu_new`: the tanh approximation (what `gated-gelu` means).
    GeluNew,
    /// `silu` / `swish`.
    Silu,
}

/// `feed_forward_proj` parsed: the activation and whether the block is gated
/// (`wi_0`/`wi_1` instead of `wi`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedForwardKind {
    pub activation: Activation,
    pub gated: bool,
}

/// T5-specific keys that transformers writes but the layers do not read (initialisation,
/// derived or generation settings).
const T5_INERT_KEYS: &[&str] = &[
    "n_positions",
    "initializer_factor",
    "dense_act_fn",
    "is_gated_act",
    "use_cache",
    "classifier_dropout",
    "gradient_checkpointing",
];

/// A parsed configuration, the original JSON and what parsing noticed.
#[derive(Debug, Clone)]
pub struct ParsedT5Config {
    pub config: T5Config,
    /// Every key of the file, written back unchanged by `save_pretrained`.
    pub raw: Map<String, Value>,
    /// Unknown keys, one message each.
    pub warnings: Vec<String>,
}

fn invalid(source: &str, key: &str, msg: impl std::fmt::Display) -> ModelError {
    ModelError::Invalid(format!("{source}: config.json key `{key}`: {msg}"))
}

impl T5Config {
    /// Parses the T5 keys of a `config.json` object. `family_keys` are the keys the calling
    /// family reads itself (`chronos_config`, ...), so they are not reported as unknown.
    pub fn from_json(
        raw: Map<String, Value>,
        source: &str,
        family_keys: &[&str],
    ) -> Result<ParsedT5Config, ModelError> {
        let typed = [
            "vocab_size",
            "d_model",
            "d_kv",
            "d_ff",
            "num_layers",
            "num_decoder_layers",
            "num_heads",
            "relative_attention_num_buckets",
            "relative_attention_max_distance",
            "dropout_rate",
            "layer_norm_epsilon",
            "feed_forward_proj",
            "tie_word_embeddings",
            "scale_decoder_outputs",
            "pad_token_id",
            "eos_token_id",
            "decoder_start_token_id",
        ];
        let mut warnings = Vec::new();
        let mut filtered = Map::new();
        for (k, v) in &raw {
            if typed.contains(&k.as_str()) {
                // `null` means "the default" for every typed key.
                if !v.is_null() {
                    filtered.insert(k.clone(), v.clone());
                }
                continue;
            }
            let known = T5_INERT_KEYS.contains(&k.as_str())
                || HF_GENERIC_KEYS.contains(&k.as_str())
                || family_keys.contains(&k.as_str());
            if !known {
                warnings.push(format!(
                    "{source}: unknown config key `{k}` = {v} (ignored)"
                ));
            }
        }
        let config: T5Config = serde_json::from_value(Value::Object(filtered))
            .map_err(|e| ModelError::Invalid(format!("{source}: {e}")))?;
        config.validate(source)?;
        Ok(ParsedT5Config {
            config,
            raw,
            warnings,
        })
    }

    /// Sizes that must be positive and settings the layers cannot run otherwise.
    pub fn validate(&self, source: &str) -> Result<(), ModelError> {
        for (key, value) in [
            ("vocab_size", self.vocab_size),
            ("d_model", self.d_model),
            ("d_kv", self.d_kv),
            ("d_ff", self.d_ff),
            ("num_layers", self.num_layers),
            ("num_decoder_layers", self.decoder_layers()),
            ("num_heads", self.num_heads),
            (
                "relative_attention_num_buckets",
                self.relative_attention_num_buckets,
            ),
        ] {
            if value == 0 {
                return Err(invalid(source, key, "must be at least 1"));
            }
        }
        // The bucket formula takes log(max_distance / max_exact), max_exact = buckets / 4 in
        // the encoder: it needs at least 4 buckets and a distance beyond the exact range.
        if self.relative_attention_num_buckets < 4
            || self.relative_attention_max_distance <= self.relative_attention_num_buckets / 2
        {
            return Err(invalid(
                source,
                "relative_attention_max_distance",
                format!(
                    "{} with {} buckets: needs at least 4 buckets and a max distance above half of them",
                    self.relative_attention_max_distance, self.relative_attention_num_buckets
                ),
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
        // The decoder's first input is a row of the embedding, whatever the family.
        self.check_token_ids(
            source,
            &[("decoder_start_token_id", self.decoder_start_token_id())],
        )?;
        self.feed_forward(source).map(|_| ())
    }

    /// `pad_token_id` and `eos_token_id` inside the vocabulary, for a family that reads them
    /// (Chronos-T5 tokenises with both). Chronos-Bolt does not: its package keeps T5's
    /// `eos_token_id` 1 with a one-token vocabulary when there is no `[REG]` token.
    pub fn validate_special_tokens(&self, source: &str) -> Result<(), ModelError> {
        self.check_token_ids(
            source,
            &[
                ("pad_token_id", self.pad_token_id),
                ("eos_token_id", self.eos_token_id),
            ],
        )
    }

    fn check_token_ids(&self, source: &str, ids: &[(&str, usize)]) -> Result<(), ModelError> {
        for &(key, id) in ids {
            if id >= self.vocab_size {
                return Err(invalid(
                    source,
                    key,
                    format!("{id} is not below vocab_size {}", self.vocab_size),
                ));
            }
        }
        Ok(())
    }

    /// `feed_forward_proj` as `T5Config.__init__` reads it: `[gated-]ACT`, and `gated-gelu`
    /// means the tanh GELU (`gelu_new`).
    pub fn feed_forward(&self, source: &str) -> Result<FeedForwardKind, ModelError> {
        let proj = self.feed_forward_proj.as_str();
        let (gated, act) = match proj.split_once('-') {
            Some(("gated", act)) => (true, act),
            None => (false, proj),
            Some(_) => {
                return Err(invalid(
                    source,
                    "feed_forward_proj",
                    format!("`{proj}` is not a valid activation; use `gated-{{ACT}}` or `{{ACT}}`"),
                ));
            }
        };
        let activation = match (proj, act) {
            ("gated-gelu", _) => Activation::GeluNew,
            (_, "relu") => Activation::Relu,
            (_, "gelu") => Activation::Gelu,
            (_, "gelu_new") => Activation::GeluNew,
            (_, "silu" | "swish") => Activation::Silu,
            (_, other) => {
                return Err(invalid(
                    source,
                    "feed_forward_proj",
                    format!(
                        "activation `{other}` is not supported (relu, gelu, gelu_new, silu, optionally gated-)"
                    ),
                ));
            }
        };
        Ok(FeedForwardKind { activation, gated })
    }

    pub fn decoder_layers(&self) -> usize {
        self.num_decoder_layers.unwrap_or(self.num_layers)
    }

    pub fn decoder_start_token_id(&self) -> usize {
        self.decoder_start_token_id.unwrap_or(self.pad_token_id)
    }

    /// Width of the attention projections (`num_heads * d_kv`, not necessarily `d_model`).
    pub fn inner_dim(&self) -> usize {
        self.num_heads * self.d_kv
    }

    /// Whether the decoder output is multiplied by `d_model^-0.5` before the vocabulary
    /// projection (the tied-embedding convention of Mesh TensorFlow).
    pub fn scales_decoder_output(&self) -> bool {
        self.scale_decoder_outputs
            .unwrap_or(self.tie_word_embeddings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<ParsedT5Config, ModelError> {
        T5Config::from_json(
            v.as_object().unwrap().clone(),
            "config.json",
            &["chronos_config"],
        )
    }

    #[test]
    fn feed_forward_proj_follows_t5config() {
        let ff = |s: &str| {
            parse(json!({ "feed_forward_proj": s })).map(|p| p.config.feed_forward("c").unwrap())
        };
        assert_eq!(
            ff("relu").unwrap(),
            FeedForwardKind {
                activation: Activation::Relu,
                gated: false
            }
        );
        assert_eq!(
            ff("gated-gelu").unwrap(),
            FeedForwardKind {
                activation: Activation::GeluNew,
                gated: true
            }
        );
        assert_eq!(
            ff("gelu").unwrap(),
            FeedForwardKind {
                activation: Activation::Gelu,
                gated: false
            }
        );
        assert_eq!(
            ff("gated-silu").unwrap(),
            FeedForwardKind {
                activation: Activation::Silu,
                gated: true
            }
        );
        let e = ff("dense-relu").unwrap_err().to_string();
        assert!(
            e.contains("`feed_forward_proj`: `dense-relu` is not a valid activation"),
            "{e}"
        );
        let e = ff("tanh").unwrap_err().to_string();
        assert!(e.contains("activation `tanh` is not supported"), "{e}");
    }

    #[test]
    fn defaults_unknown_keys_and_derived_values() {
        let p = parse(json!({
            "d_model": 16, "num_layers": 2, "chronos_config": {}, "n_positions": 512,
            "my_key": 1, "decoder_start_token_id": null
        }))
        .unwrap();
        assert_eq!(
            p.warnings,
            vec!["config.json: unknown config key `my_key` = 1 (ignored)".to_string()]
        );
        assert_eq!(p.config.decoder_layers(), 2);
        assert_eq!(p.config.decoder_start_token_id(), 0);
        assert!(p.config.scales_decoder_output());
        let untied = parse(json!({"tie_word_embeddings": false})).unwrap().config;
        assert!(!untied.scales_decoder_output());
        let explicit = parse(json!({"tie_word_embeddings": false, "scale_decoder_outputs": true}))
            .unwrap()
            .config;
        assert!(explicit.scales_decoder_output());
    }

    #[test]
    fn impossible_sizes_name_the_key() {
        let e = parse(json!({"num_heads": 0})).unwrap_err().to_string();
        assert!(e.contains("`num_heads`: must be at least 1"), "{e}");
        let e = parse(json!({"dropout_rate": 1.0})).unwrap_err().to_string();
        assert!(e.contains("`dropout_rate`: 1 is outside [0, 1)"), "{e}");
        let e = parse(json!({"vocab_size": 8, "eos_token_id": 9}))
            .unwrap()
            .config
            .validate_special_tokens("config.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`eos_token_id`: 9 is not below vocab_size 8"),
            "{e}"
        );
        let e = parse(json!({"d_model": "big"})).unwrap_err().to_string();
        assert!(e.contains("config.json: invalid type"), "{e}");
    }
}
