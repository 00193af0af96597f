//! TimesFM 2.5's definition (`TimesFM_2p5_200M_Definition` of the official `timesfm` package),
//! read from one of three layouts:
//!
//! - tsfm's and the reference fixtures' `config.json`: `{"model_type": "timesfm_2p5",
//!   "definition": {...}}` with the dataclass written out (what `save_pretrained` writes);
//! - the transformers port's `config.json` (`model_type: timesfm2_5`, `TimesFm2_5Config`);
//! - no usable `config.json` at all (the official `google/timesfm-2.5-200m-pytorch` is a bare
//!   `model.safetensors`): every size is then read from the tensor shapes, and the rest
//!   (quantile levels, decode index, activations) is the 200M definition's.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::checkpoint::TensorMap;
use crate::forecaster::ModelError;
use crate::info::CheckpointInfo;

/// `configs.ResidualBlockConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidualBlockConfig {
    pub input_dims: usize,
    pub hidden_dims: usize,
    pub output_dims: usize,
    pub use_bias: bool,
    pub activation: String,
}

/// `configs.TransformerConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformerConfig {
    pub model_dims: usize,
    pub hidden_dims: usize,
    pub num_heads: usize,
    pub attention_norm: String,
    pub feedforward_norm: String,
    pub qk_norm: String,
    pub use_bias: bool,
    pub use_rotary_position_embeddings: bool,
    pub ff_activation: String,
    pub fuse_qkv: bool,
}

/// `configs.StackedTransformersConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackedTransformersConfig {
    pub num_layers: usize,
    pub transformer: TransformerConfig,
}

/// `TimesFM_2p5_200M_Definition`. Field names are the dataclass's (and the JSON keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimesFmDefinition {
    pub input_patch_len: usize,
    pub output_patch_len: usize,
    pub output_quantile_len: usize,
    pub quantiles: Vec<f64>,
    /// The output channel autoregressive decoding feeds back (the median).
    pub decode_index: usize,
    pub tokenizer: ResidualBlockConfig,
    pub stacked_transformers: StackedTransformersConfig,
    pub output_projection_point: ResidualBlockConfig,
    pub output_projection_quantiles: ResidualBlockConfig,
    /// `context + horizon` may not exceed it (a class constant of the definition).
    #[serde(default = "default_context_limit")]
    pub context_limit: usize,
}

fn default_context_limit() -> usize {
    16384
}

/// The published 200M definition's quantile levels.
const DEFAULT_QUANTILES: [f64; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/// How the weights of a checkpoint are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorNaming {
    /// The official `timesfm` module's names (`stacked_xf.0.attn.qkv_proj.weight`).
    Official,
    /// transformers' `TimesFm2_5ModelForPrediction` (`model.layers.0.self_attn.q_proj.weight`).
    TransformersPort,
}

/// A parsed checkpoint configuration.
#[derive(Debug, Clone)]
pub struct ParsedTimesFmConfig {
    pub definition: TimesFmDefinition,
    pub naming: TensorNaming,
    /// Unknown keys and similar, one message each.
    pub warnings: Vec<String>,
}

fn invalid(source: &str, key: &str, msg: impl std::fmt::Display) -> ModelError {
    ModelError::Invalid(format!("{source}: config.json key `{key}`: {msg}"))
}

impl TimesFmDefinition {
    /// Output channels of each head: the mean, then one per quantile level.
    pub fn num_outputs(&self) -> usize {
        self.quantiles.len() + 1
    }

    pub fn model_dims(&self) -> usize {
        self.stacked_transformers.transformer.model_dims
    }

    pub fn num_heads(&self) -> usize {
        self.stacked_transformers.transformer.num_heads
    }

    pub fn head_dim(&self) -> usize {
        self.model_dims() / self.num_heads()
    }

    /// Output patches per input patch (`m` in the package: `o / p`).
    pub fn patches_per_output(&self) -> usize {
        self.output_patch_len / self.input_patch_len
    }

    /// Everything the package would refuse or mis-handle, as one error naming the key.
    pub fn validate(&self, source: &str) -> Result<(), ModelError> {
        let p = self.input_patch_len;
        let t = &self.stacked_transformers.transformer;
        let q = self.num_outputs();
        let checks: [(bool, &str, String); 9] = [
            (p > 0, "input_patch_len", "must be positive".into()),
            (
                self.output_patch_len > 0 && self.output_patch_len.is_multiple_of(p),
                "output_patch_len",
                format!("must be a positive multiple of input_patch_len {p}"),
            ),
            (
                self.tokenizer.input_dims == 2 * p,
                "tokenizer.input_dims",
                format!("must be 2 x input_patch_len = {} (values + mask)", 2 * p),
            ),
            (
                t.num_heads > 0
                    && t.model_dims.is_multiple_of(t.num_heads)
                    && (t.model_dims / t.num_heads).is_multiple_of(2),
                "stacked_transformers.transformer.num_heads",
                format!(
                    "must divide model_dims {} into an even head size",
                    t.model_dims
                ),
            ),
            (
                self.output_projection_point.output_dims == self.output_patch_len * q,
                "output_projection_point.output_dims",
                format!(
                    "must be output_patch_len x (quantiles + 1) = {}",
                    self.output_patch_len * q
                ),
            ),
            (
                self.output_projection_quantiles.output_dims == self.output_quantile_len * q,
                "output_projection_quantiles.output_dims",
                format!(
                    "must be output_quantile_len x (quantiles + 1) = {}",
                    self.output_quantile_len * q
                ),
            ),
            (
                self.decode_index >= 1 && self.decode_index < q,
                "decode_index",
                format!("must name a quantile channel (1..{})", q - 1),
            ),
            (
                self.quantiles.windows(2).all(|w| w[0] < w[1])
                    && self.quantiles.iter().all(|l| *l > 0.0 && *l < 1.0)
                    && !self.quantiles.is_empty(),
                "quantiles",
                "must be ascending levels inside (0, 1)".into(),
            ),
            (
                t.attention_norm == "rms" && t.feedforward_norm == "rms",
                "stacked_transformers.transformer.attention_norm",
                "only `rms` norms exist in TimesFM 2.5".into(),
            ),
        ];
        for (ok, key, msg) in checks {
            if !ok {
                return Err(invalid(source, &format!("definition.{key}"), msg));
            }
        }
        for (key, act) in [
            ("tokenizer.activation", &self.tokenizer.activation),
            (
                "output_projection_point.activation",
                &self.output_projection_point.activation,
            ),
            (
                "output_projection_quantiles.activation",
                &self.output_projection_quantiles.activation,
            ),
            (
                "stacked_transformers.transformer.ff_activation",
                &t.ff_activation,
            ),
        ] {
            if !["relu", "swish", "none"].contains(&act.as_str()) {
                return Err(invalid(
                    source,
                    &format!("definition.{key}"),
                    format!("`{act}` is not one of relu, swish, none"),
                ));
            }
        }
        if !["rms", "none"].contains(&t.qk_norm.as_str()) {
            return Err(invalid(
                source,
                "definition.stacked_transformers.transformer.qk_norm",
                format!("`{}` is not one of rms, none", t.qk_norm),
            ));
        }
        Ok(())
    }

    /// What this checkpoint is, in the family-independent terms of [`CheckpointInfo`], read
    /// with a `max_context`-step context (the loaded model's setting; 1024 by default).
    pub fn info_with_context(&self, max_context: usize) -> CheckpointInfo {
        CheckpointInfo {
            model_type: "timesfm".into(),
            context_length: max_context.min(self.context_limit - self.output_patch_len),
            prediction_length: self.output_patch_len,
            target_channels: 1,
            past_covariates: 0,
            future_covariates: 0,
            uses_sampling_interval: false,
            quantile_levels: self.quantiles.clone(),
            sampling: None,
        }
    }

    /// [`info_with_context`](Self::info_with_context) at the default settings' context.
    pub fn info(&self) -> CheckpointInfo {
        self.info_with_context(super::pipeline::ForecastSettings::default().max_context)
    }

    /// The `config.json` `save_pretrained` writes (the official layout with its definition).
    pub fn to_json(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("model_type".into(), Value::String("timesfm_2p5".into()));
        out.insert(
            "architectures".into(),
            Value::Array(vec![Value::String("TimesFM_2p5_200M_torch_module".into())]),
        );
        out.insert(
            "definition".into(),
            serde_json::to_value(self).expect("definition serialises"),
        );
        out
    }

    /// Reads a checkpoint's `config.json` (`None`: no file, a bare `model.safetensors`), with
    /// the tensors at hand for layouts that only the shapes describe.
    pub fn from_checkpoint(
        raw: Option<&Map<String, Value>>,
        tensors: &TensorMap,
        source: &str,
    ) -> Result<ParsedTimesFmConfig, ModelError> {
        let parsed = match raw {
            Some(raw) if raw.contains_key("definition") => Self::from_official_json(raw, source)?,
            Some(raw) if raw.get("model_type").and_then(Value::as_str) == Some("timesfm2_5") => {
                Self::from_port_json(raw, source)?
            }
            _ => ParsedTimesFmConfig {
                definition: Self::from_shapes(tensors, source)?,
                naming: TensorNaming::Official,
                warnings: Vec::new(),
            },
        };
        parsed.definition.validate(source)?;
        Ok(parsed)
    }

    fn from_official_json(
        raw: &Map<String, Value>,
        source: &str,
    ) -> Result<ParsedTimesFmConfig, ModelError> {
        let definition: TimesFmDefinition = serde_json::from_value(raw["definition"].clone())
            .map_err(|e| invalid(source, "definition", e))?;
        let known = ["model_type", "architectures", "definition"];
        let warnings = raw
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .map(|k| format!("{source}: unknown key `{k}` ignored"))
            .collect();
        Ok(ParsedTimesFmConfig {
            definition,
            naming: TensorNaming::Official,
            warnings,
        })
    }

    /// `TimesFm2_5Config` (transformers): the same network under other names.
    fn from_port_json(
        raw: &Map<String, Value>,
        source: &str,
    ) -> Result<ParsedTimesFmConfig, ModelError> {
        let usize_key = |key: &str, default: usize| -> Result<usize, ModelError> {
            match raw.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(v) => v
                    .as_u64()
                    .map(|n| n as usize)
                    .ok_or_else(|| invalid(source, key, "must be a non-negative integer")),
            }
        };
        let p = usize_key("patch_length", 32)?;
        let o = usize_key("horizon_length", 128)?;
        let os = usize_key("output_quantile_len", 1024)?;
        let md = usize_key("hidden_size", 1280)?;
        let ff = usize_key("intermediate_size", 1280)?;
        let heads = usize_key("num_attention_heads", 16)?;
        let head_dim = usize_key("head_dim", md / heads.max(1))?;
        if head_dim * heads != md {
            return Err(invalid(
                source,
                "head_dim",
                format!("{head_dim} x {heads} heads is not hidden_size {md}"),
            ));
        }
        let quantiles = match raw.get("quantiles") {
            None | Some(Value::Null) => DEFAULT_QUANTILES.to_vec(),
            Some(v) => {
                serde_json::from_value(v.clone()).map_err(|e| invalid(source, "quantiles", e))?
            }
        };
        let use_bias = raw
            .get("use_bias")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let activation = raw
            .get("activation")
            .and_then(Value::as_str)
            .unwrap_or("swish");
        let activation = if activation == "silu" {
            "swish"
        } else {
            activation
        }
        .to_string();
        if let Some(eps) = raw.get("rms_norm_eps").and_then(Value::as_f64)
            && (eps - 1e-6).abs() > 1e-12
        {
            return Err(invalid(
                source,
                "rms_norm_eps",
                format!("{eps}: TimesFM 2.5 uses 1e-6"),
            ));
        }
        let theta = raw
            .get("rope_parameters")
            .and_then(|r| r.get("rope_theta"))
            .and_then(Value::as_f64)
            .or_else(|| raw.get("rope_theta").and_then(Value::as_f64))
            .unwrap_or(10000.0);
        if (theta - 10000.0).abs() > 1e-9 {
            return Err(invalid(
                source,
                "rope_parameters.rope_theta",
                format!("{theta}: TimesFM 2.5 uses 10000"),
            ));
        }
        let q = quantiles.len() + 1;
        let block = |i, h, out, bias| ResidualBlockConfig {
            input_dims: i,
            hidden_dims: h,
            output_dims: out,
            use_bias: bias,
            activation: activation.clone(),
        };
        let definition = TimesFmDefinition {
            input_patch_len: p,
            output_patch_len: o,
            output_quantile_len: os,
            decode_index: usize_key("decode_index", 5)?,
            tokenizer: block(2 * p, md, md, true),
            stacked_transformers: StackedTransformersConfig {
                num_layers: usize_key("num_hidden_layers", 20)?,
                transformer: transformer_config(md, ff, heads, use_bias, &activation),
            },
            output_projection_point: block(md, md, o * q, use_bias),
            output_projection_quantiles: block(md, md, os * q, use_bias),
            // The port's `context_length` is its default forecast context, not this limit.
            context_limit: default_context_limit(),
            quantiles,
        };
        Ok(ParsedTimesFmConfig {
            definition,
            naming: TensorNaming::TransformersPort,
            warnings: Vec::new(),
        })
    }

    /// The definition of a bare official checkpoint: sizes from the tensor shapes, the rest
    /// as the 200M definition (9 quantile levels, decode index 5, swish, RMS norms, RoPE).
    pub fn from_shapes(tensors: &TensorMap, source: &str) -> Result<Self, ModelError> {
        let shape = |name: &str| -> Result<&[usize], ModelError> {
            tensors.get(name).map(|t| t.shape.as_slice()).ok_or_else(|| {
                ModelError::Checkpoint {
                    path: source.to_string(),
                    message: format!(
                        "no config.json definition and no tensor `{name}`: not a TimesFM 2.5 checkpoint"
                    ),
                }
            })
        };
        let tok = shape("tokenizer.hidden_layer.weight")?;
        let (md, p2) = (tok[0], tok[1]);
        let layers = (0..)
            .take_while(|i| tensors.contains_key(&format!("stacked_xf.{i}.ff0.weight")))
            .count();
        let ff = shape("stacked_xf.0.ff0.weight")?[0];
        let head_dim = shape("stacked_xf.0.attn.per_dim_scale.per_dim_scale")?[0];
        let point_out = shape("output_projection_point.output_layer.weight")?[0];
        let quant_out = shape("output_projection_quantiles.output_layer.weight")?[0];
        let q = DEFAULT_QUANTILES.len() + 1;
        let bias = tensors.contains_key("output_projection_point.hidden_layer.bias");
        let xf_bias = tensors.contains_key("stacked_xf.0.ff0.bias");
        let block = |i, h, out, bias| ResidualBlockConfig {
            input_dims: i,
            hidden_dims: h,
            output_dims: out,
            use_bias: bias,
            activation: "swish".into(),
        };
        let mut transformer = transformer_config(md, ff, md / head_dim.max(1), xf_bias, "swish");
        transformer.fuse_qkv = tensors.contains_key("stacked_xf.0.attn.qkv_proj.weight");
        transformer.qk_norm = if tensors.contains_key("stacked_xf.0.attn.query_ln.scale") {
            "rms"
        } else {
            "none"
        }
        .into();
        Ok(Self {
            input_patch_len: p2 / 2,
            output_patch_len: point_out / q,
            output_quantile_len: quant_out / q,
            quantiles: DEFAULT_QUANTILES.to_vec(),
            decode_index: 5,
            tokenizer: block(p2, md, md, true),
            stacked_transformers: StackedTransformersConfig {
                num_layers: layers,
                transformer,
            },
            output_projection_point: block(md, md, point_out, bias),
            output_projection_quantiles: block(md, md, quant_out, bias),
            context_limit: default_context_limit(),
        })
    }
}

fn transformer_config(
    md: usize,
    ff: usize,
    heads: usize,
    bias: bool,
    act: &str,
) -> TransformerConfig {
    TransformerConfig {
        model_dims: md,
        hidden_dims: ff,
        num_heads: heads,
        attention_norm: "rms".into(),
        feedforward_norm: "rms".into(),
        qk_norm: "rms".into(),
        use_bias: bias,
        use_rotary_position_embeddings: true,
        ff_activation: act.into(),
        fuse_qkv: true,
    }
}
