//! TinyTimeMixer `config.json`, as granite-tsfm 0.3.11 (`TinyTimeMixerConfig`) writes it.
//!
//! Every key granite-tsfm writes is known here. Keys this port uses are typed fields; keys of
//! features it does not implement (TTM-r3: multi-scale, register/FFT tokens, decomposition,
//! multi-quantile head) are accepted only at their neutral value and rejected otherwise, so a
//! checkpoint is never run with a silently different architecture. Keys nobody knows are
//! reported back as warnings.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::checkpoint::HF_GENERIC_KEYS;
use crate::forecaster::ModelError;

/// How the model scales each window before patching (`scaling` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtmScaling {
    /// `"std"` or `true`: mean / `sqrt(population variance + 1e-5)` over observed values.
    Std,
    /// `"mean"`: mean absolute value (GluonTS mean scaler), loc = 0.
    Mean,
    /// anything else (`null`, `false`): no scaling.
    None,
}

/// Gated attention variants; checkpoints only use `softmax` (the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateMode {
    Softmax,
    Sigmoid,
}

/// The configuration of a TinyTimeMixer checkpoint. Field names are the `config.json` keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TtmConfig {
    pub context_length: usize,
    pub patch_length: usize,
    pub num_input_channels: usize,
    pub prediction_length: usize,
    pub patch_stride: usize,
    pub prediction_channel_indices: Option<Vec<usize>>,
    pub exogenous_channel_indices: Option<Vec<usize>>,
    pub d_model: usize,
    pub expansion_factor: usize,
    pub num_layers: usize,
    pub dropout: f64,
    pub mode: String,
    pub gated_attn: bool,
    pub norm_mlp: String,
    pub self_attn: bool,
    pub self_attn_heads: usize,
    pub use_positional_encoding: bool,
    pub positional_encoding_type: String,
    pub scaling: Value,
    pub loss: Option<String>,
    pub init_std: f64,
    pub post_init: bool,
    pub norm_eps: f64,
    pub adaptive_patching_levels: i64,
    pub resolution_prefix_tuning: bool,
    pub frequency_token_vocab_size: usize,
    pub head_dropout: f64,
    pub distribution_output: String,
    pub num_parallel_samples: usize,
    pub decoder_num_layers: usize,
    pub decoder_d_model: usize,
    pub decoder_adaptive_patching_levels: i64,
    pub decoder_raw_residual: bool,
    pub decoder_mode: String,
    pub use_decoder: bool,
    pub enable_forecast_channel_mixing: bool,
    pub fcm_gated_attn: bool,
    pub fcm_context_length: usize,
    pub fcm_use_mixer: bool,
    pub fcm_mix_layers: usize,
    pub fcm_prepend_past: bool,
    pub fcm_prepend_past_offset: Option<usize>,
    pub categorical_vocab_size_list: Option<Vec<usize>>,
    pub prediction_filter_length: Option<usize>,
    pub quantile: f64,
    pub huber_delta: f64,
    /// Written by `check_and_init_preprocessing`; computed when absent.
    pub num_patches: Option<usize>,
    pub masked_context_length: Option<usize>,
    /// Not written by granite-tsfm but read with `getattr` (default `softmax`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate_mode: Option<String>,
}

impl Default for TtmConfig {
    /// granite-tsfm's `TinyTimeMixerConfig()` defaults.
    fn default() -> Self {
        Self {
            context_length: 64,
            patch_length: 8,
            num_input_channels: 1,
            prediction_length: 16,
            patch_stride: 8,
            prediction_channel_indices: None,
            exogenous_channel_indices: None,
            d_model: 16,
            expansion_factor: 2,
            num_layers: 3,
            dropout: 0.2,
            mode: "common_channel".into(),
            gated_attn: true,
            norm_mlp: "LayerNorm".into(),
            self_attn: false,
            self_attn_heads: 1,
            use_positional_encoding: false,
            positional_encoding_type: "sincos".into(),
            scaling: Value::String("std".into()),
            loss: Some("mse".into()),
            init_std: 0.02,
            post_init: false,
            norm_eps: 1e-5,
            adaptive_patching_levels: 0,
            resolution_prefix_tuning: false,
            frequency_token_vocab_size: 5,
            head_dropout: 0.2,
            distribution_output: "student_t".into(),
            num_parallel_samples: 100,
            decoder_num_layers: 8,
            decoder_d_model: 8,
            decoder_adaptive_patching_levels: 0,
            decoder_raw_residual: false,
            decoder_mode: "common_channel".into(),
            use_decoder: true,
            enable_forecast_channel_mixing: false,
            fcm_gated_attn: true,
            fcm_context_length: 1,
            fcm_use_mixer: false,
            fcm_mix_layers: 2,
            fcm_prepend_past: true,
            fcm_prepend_past_offset: None,
            categorical_vocab_size_list: None,
            prediction_filter_length: None,
            quantile: 0.5,
            huber_delta: 1.0,
            num_patches: None,
            masked_context_length: None,
            gate_mode: None,
        }
    }
}

/// granite-tsfm keys with no effect on a point forecast or its MSE/MAE/Huber/pinball loss
/// (initialisation, sampling, r3 loss weights): accepted and kept for `save_pretrained`.
const INERT_KEYS: &[&str] = &[
    "init_linear",
    "init_embed",
    "init_processing",
    "patch_last",
    "mask_value",
    "use_fft_embedding",
    "point_extra_weight",
    "trend_loss_weight",
    "residual_loss_weight",
    "joint_loss_weight",
    "forecast_loss_type",
    "light_mode",
    "mq_hidden",
    "mq_kernel_size",
    "mq_eps",
    "mq_use_decoder_pool",
    "mq_q50_type",
    "mq_cond_path",
    "mq_cond_mode",
    "mq_decoder_d_model",
    "mq_use_positional",
    "combine_quantiles_via_variance",
    "quantile_levels",
    "penalize_large_width_ratio",
    "width_penalty_mode",
    "gate_groups",
];

/// TTM-r3 features this port does not implement: each key must hold its neutral value.
const UNSUPPORTED_FEATURES: &[(&str, &str)] = &[
    ("multi_scale", "false"),
    ("register_tokens", "0"),
    ("fft_length", "0"),
    ("multi_quantile_head", "false"),
    ("decompose", "false"),
    ("enable_base_norm_always", "false"),
    ("use_register_context_gating", "false"),
    ("residual_context_length", "null"),
    ("trend_patch_length", "null"),
    ("trend_patch_stride", "null"),
    ("trend_d_model", "null"),
    ("trend_decoder_d_model", "null"),
    ("trend_num_layers", "null"),
    ("trend_decoder_num_layers", "null"),
    ("trend_register_tokens", "null"),
    ("trend_fft_length", "null"),
    ("trend_multi_scale", "null"),
    ("trend_adaptive_patching_levels", "null"),
    ("trend_head_d_model", "null"),
];

fn is_neutral(v: &Value, neutral: &str) -> bool {
    match neutral {
        "false" => v.is_null() || v == &Value::Bool(false),
        "0" => v.is_null() || v.as_f64() == Some(0.0),
        _ => v.is_null(),
    }
}

/// A parsed configuration plus the original JSON (kept so `save_pretrained` writes every key
/// back, including the inert ones).
#[derive(Debug, Clone)]
pub struct ParsedTtmConfig {
    pub config: TtmConfig,
    pub raw: Map<String, Value>,
    /// Unknown keys, one message each.
    pub warnings: Vec<String>,
}

fn invalid(key: &str, msg: impl std::fmt::Display) -> ModelError {
    ModelError::Invalid(format!("config.json key `{key}`: {msg}"))
}

impl TtmConfig {
    /// Parses a `config.json` object. `source` names the file in messages.
    pub fn from_json(raw: Map<String, Value>, source: &str) -> Result<ParsedTtmConfig, ModelError> {
        if let Some(mt) = raw.get("model_type").and_then(|v| v.as_str())
            && mt != "tinytimemixer"
        {
            return Err(invalid(
                "model_type",
                format!("{source}: `{mt}` is not a TinyTimeMixer checkpoint"),
            ));
        }
        let typed = serde_json::to_value(TtmConfig::default()).expect("config serialises");
        let typed_keys: Vec<String> = typed.as_object().expect("object").keys().cloned().collect();
        let mut warnings = Vec::new();
        for (k, v) in &raw {
            if let Some((_, neutral)) = UNSUPPORTED_FEATURES.iter().find(|(n, _)| n == k) {
                if !is_neutral(v, neutral) {
                    return Err(invalid(
                        k,
                        format!(
                            "{source}: value {v} enables a TTM-r3 feature this port does not implement (supported: {neutral})"
                        ),
                    ));
                }
                continue;
            }
            let known = typed_keys.iter().any(|t| t == k)
                || k == "gate_mode"
                || HF_GENERIC_KEYS.contains(&k.as_str())
                || INERT_KEYS.contains(&k.as_str());
            if !known {
                warnings.push(format!(
                    "{source}: unknown config key `{k}` = {v} (ignored)"
                ));
            }
        }
        let mut filtered = Map::new();
        for k in &typed_keys {
            if let Some(v) = raw.get(k) {
                filtered.insert(k.clone(), v.clone());
            }
        }
        if let Some(v) = raw.get("gate_mode") {
            filtered.insert("gate_mode".into(), v.clone());
        }
        let config: TtmConfig = serde_json::from_value(Value::Object(filtered))
            .map_err(|e| ModelError::Invalid(format!("{source}: {e}")))?;
        config.validate()?;
        Ok(ParsedTtmConfig {
            config,
            raw,
            warnings,
        })
    }

    /// Checks the combinations granite-tsfm checks, plus the features this port rejects.
    pub fn validate(&self) -> Result<(), ModelError> {
        // A dropout outside [0, 1) would stop the model being built (found by fuzzing).
        for (key, p) in [
            ("dropout", self.dropout),
            ("head_dropout", self.head_dropout),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(invalid(key, format!("{p} is outside [0, 1)")));
            }
        }
        self.validate_sizes()?;
        self.validate_patching()?;
        self.validate_supported()?;
        self.gate()?;
        if self.enable_forecast_channel_mixing {
            self.validate_forecast_channel_mixer()?;
        }
        self.validate_shapes()
    }

    /// Sizes small enough that the shapes built from them cannot overflow: every size at most
    /// 2^20 and the widest layers (d_model x expansion_factor, the head) at most 2^31 weights.
    /// An absurd `expansion_factor` or channel count overflowed a multiplication or asked for
    /// an impossible allocation (found by fuzzing).
    fn validate_sizes(&self) -> Result<(), ModelError> {
        const MAX_SIZE: usize = 1 << 20;
        const MAX_WEIGHTS: usize = 1 << 31;
        for (key, size) in [
            ("context_length", self.context_length),
            ("patch_length", self.patch_length),
            ("patch_stride", self.patch_stride),
            ("num_input_channels", self.num_input_channels),
            ("prediction_length", self.prediction_length),
            ("d_model", self.d_model),
            ("expansion_factor", self.expansion_factor),
            ("num_layers", self.num_layers),
            ("self_attn_heads", self.self_attn_heads),
            (
                "frequency_token_vocab_size",
                self.frequency_token_vocab_size,
            ),
            ("num_parallel_samples", self.num_parallel_samples),
            ("decoder_num_layers", self.decoder_num_layers),
            ("decoder_d_model", self.decoder_d_model),
            ("fcm_context_length", self.fcm_context_length),
            ("fcm_mix_layers", self.fcm_mix_layers),
            (
                "fcm_prepend_past_offset",
                self.fcm_prepend_past_offset.unwrap_or(0),
            ),
            (
                "prediction_filter_length",
                self.prediction_filter_length.unwrap_or(0),
            ),
            ("num_patches", self.num_patches.unwrap_or(0)),
            (
                "masked_context_length",
                self.masked_context_length.unwrap_or(0),
            ),
        ] {
            if size > MAX_SIZE {
                return Err(invalid(
                    key,
                    format!("{size} is over the limit of {MAX_SIZE}"),
                ));
            }
        }
        let patches = self.context_length / self.patch_length.max(1);
        let widest = [
            self.d_model * self.expansion_factor * self.d_model,
            self.decoder_d_model * self.expansion_factor * self.decoder_d_model,
            patches * self.decoder_d_model * self.prediction_length,
            self.num_input_channels * self.expansion_factor * self.num_input_channels,
            patches * self.expansion_factor * patches,
        ];
        // Each product is of sizes <= 2^20: at most 2^60, no overflow in u64.
        if let Some(w) = widest.iter().find(|&&w| w > MAX_WEIGHTS) {
            return Err(invalid(
                "d_model",
                format!(
                    "the model's widest layer would hold {w} weights (over {MAX_WEIGHTS}); \
                     check d_model, decoder_d_model, expansion_factor, num_input_channels and \
                     the lengths"
                ),
            ));
        }
        Ok(())
    }

    /// Patching: granite-tsfm needs non-overlapping patches that fit the context.
    fn validate_patching(&self) -> Result<(), ModelError> {
        if self.patch_length != self.patch_stride {
            return Err(invalid(
                "patch_stride",
                "patch_length should be same as patch_stride (granite-tsfm requires it)",
            ));
        }
        if self.patch_length == 0 || self.context_length <= self.patch_length {
            return Err(invalid(
                "context_length",
                "has to be greater than patch_length",
            ));
        }
        Ok(())
    }

    /// Options granite-tsfm accepts but this port does not implement (or names it does not know).
    fn validate_supported(&self) -> Result<(), ModelError> {
        for (k, m) in [("mode", &self.mode), ("decoder_mode", &self.decoder_mode)] {
            if m != "common_channel" && m != "mix_channel" {
                return Err(invalid(
                    k,
                    format!("`{m}` is not one of common_channel, mix_channel"),
                ));
            }
        }
        if self.norm_mlp.to_lowercase().contains("batch") {
            return Err(invalid(
                "norm_mlp",
                "BatchNorm is not supported; use LayerNorm",
            ));
        }
        if self.self_attn {
            return Err(invalid(
                "self_attn",
                "self-attention in the patch mixer is not supported",
            ));
        }
        if self.categorical_vocab_size_list.is_some() {
            return Err(invalid(
                "categorical_vocab_size_list",
                "static categorical embeddings are not supported",
            ));
        }
        if self.masked_context_length.is_some() {
            return Err(invalid(
                "masked_context_length",
                "masked pre-training is not supported",
            ));
        }
        match self.loss.as_deref() {
            None | Some("mse") | Some("mae") | Some("huber") | Some("pinball") => {}
            Some("nll") => {
                return Err(invalid(
                    "loss",
                    "nll / distribution heads are disabled in granite-tsfm too",
                ));
            }
            Some(o) => {
                return Err(invalid(
                    "loss",
                    format!("`{o}` is not one of mse, mae, huber, pinball"),
                ));
            }
        }
        if self.use_positional_encoding
            && !matches!(self.positional_encoding_type.as_str(), "sincos" | "random")
        {
            return Err(invalid(
                "positional_encoding_type",
                "must be sincos or random",
            ));
        }
        Ok(())
    }

    /// Lengths, channel indices and adaptive-patching levels that must fit each other.
    fn validate_shapes(&self) -> Result<(), ModelError> {
        if let Some(f) = self.prediction_filter_length
            && (f == 0 || f > self.prediction_length)
        {
            return Err(invalid(
                "prediction_filter_length",
                "should be positive and at most prediction_length",
            ));
        }
        for (k, idx) in [
            (
                "prediction_channel_indices",
                &self.prediction_channel_indices,
            ),
            ("exogenous_channel_indices", &self.exogenous_channel_indices),
        ] {
            if let Some(idx) = idx
                && let Some(bad) = idx.iter().find(|&&i| i >= self.num_input_channels)
            {
                return Err(invalid(
                    k,
                    format!(
                        "index {bad} >= num_input_channels {}",
                        self.num_input_channels
                    ),
                ));
            }
        }
        for (k, levels, d) in [
            (
                "adaptive_patching_levels",
                self.adaptive_patching_levels,
                self.d_model,
            ),
            (
                "decoder_adaptive_patching_levels",
                self.decoder_adaptive_patching_levels,
                self.decoder_d_model,
            ),
        ] {
            // Each level halves the width (2^level): beyond 16 nothing is left to halve, and an
            // absurd count overflowed the shift and would loop for ever (found by fuzzing).
            if !(0..=16).contains(&levels) {
                return Err(invalid(k, format!("{levels} is outside 0..=16")));
            }
            for level in 0..levels as u32 {
                let f = adaptive_factor(d, level);
                if d % f != 0 {
                    return Err(invalid(
                        k,
                        "d_model should be divisible by 2^i for every level i",
                    ));
                }
            }
        }
        if let Some(n) = self.num_patches
            && n != self.computed_num_patches()
        {
            return Err(invalid(
                "num_patches",
                format!(
                    "{n} does not match context_length/patch_length (expected {})",
                    self.computed_num_patches()
                ),
            ));
        }
        Ok(())
    }

    /// Forecast channel mixer settings granite-tsfm cannot run (it fails inside `forward`, or
    /// here would index before the context).
    fn validate_forecast_channel_mixer(&self) -> Result<(), ModelError> {
        let k = self.fcm_context_length;
        if k == 0 && !self.fcm_gated_attn {
            return Err(invalid(
                "fcm_context_length",
                "0 needs fcm_gated_attn: true (granite-tsfm has no mixer input otherwise)",
            ));
        }
        if k > 0 && self.fcm_prepend_past {
            match self.fcm_prepend_past_offset {
                Some(0) => {
                    return Err(invalid(
                        "fcm_prepend_past_offset",
                        "0 selects no past steps in granite-tsfm (`[-k:-0]`); use null for the last steps",
                    ));
                }
                Some(off) if off + k > self.context_length => {
                    return Err(invalid(
                        "fcm_prepend_past_offset",
                        format!(
                            "{off} + fcm_context_length {k} reaches before the context ({})",
                            self.context_length
                        ),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub fn gate(&self) -> Result<GateMode, ModelError> {
        match self.gate_mode.as_deref() {
            None | Some("softmax") => Ok(GateMode::Softmax),
            Some("sigmoid") => Ok(GateMode::Sigmoid),
            Some(o) => Err(invalid(
                "gate_mode",
                format!("`{o}` is not supported (softmax, sigmoid)"),
            )),
        }
    }

    pub fn scaling_kind(&self) -> TtmScaling {
        match &self.scaling {
            Value::String(s) if s == "std" => TtmScaling::Std,
            Value::String(s) if s == "mean" => TtmScaling::Mean,
            Value::Bool(true) => TtmScaling::Std,
            _ => TtmScaling::None,
        }
    }

    /// `(context - patch) / stride + 1`, plus one for the frequency prefix token.
    pub fn computed_num_patches(&self) -> usize {
        let base = (self.context_length.max(self.patch_length) - self.patch_length)
            / self.patch_stride
            + 1;
        base + usize::from(self.resolution_prefix_tuning)
    }

    /// Patches seen by the mixers (including the frequency prefix token).
    pub fn num_patches(&self) -> usize {
        self.num_patches
            .unwrap_or_else(|| self.computed_num_patches())
    }

    /// Channels the model forecasts.
    pub fn forecast_channels(&self) -> Vec<usize> {
        match (
            &self.prediction_channel_indices,
            &self.exogenous_channel_indices,
        ) {
            (Some(p), _) => {
                let mut p = p.clone();
                p.sort_unstable();
                p
            }
            (None, Some(e)) => (0..self.num_input_channels)
                .filter(|c| !e.contains(c))
                .collect(),
            (None, None) => (0..self.num_input_channels).collect(),
        }
    }

    /// Known-future (exogenous) channels, sorted.
    pub fn exogenous_channels(&self) -> Vec<usize> {
        let mut e = self.exogenous_channel_indices.clone().unwrap_or_default();
        e.sort_unstable();
        e
    }

    /// Steps of each forecast (after `prediction_filter_length`).
    pub fn output_length(&self) -> usize {
        self.prediction_filter_length
            .unwrap_or(self.prediction_length)
    }

    /// The JSON written by `save_pretrained`: the original keys, updated with the typed fields.
    pub fn to_json(&self, raw: &Map<String, Value>) -> Map<String, Value> {
        let mut out = raw.clone();
        if let Value::Object(typed) = serde_json::to_value(self).expect("config serialises") {
            for (k, v) in typed {
                // Keep the checkpoint's spelling of an unchanged number (`1`, not `1.0`).
                let same_number = matches!(
                    (out.get(&k), &v),
                    (Some(Value::Number(a)), Value::Number(b)) if a.as_f64() == b.as_f64()
                );
                if !same_number {
                    out.insert(k, v);
                }
            }
        }
        out.entry("model_type")
            .or_insert_with(|| Value::String("tinytimemixer".into()));
        out.entry("architectures").or_insert_with(|| {
            Value::Array(vec![Value::String("TinyTimeMixerForPrediction".into())])
        });
        out.insert("num_patches".into(), Value::from(self.num_patches()));
        out
    }
}

/// The reshape factor of adaptive-patching level `level`: `2^level`, or 1 where that would leave
/// 4 or fewer features (granite-tsfm disables the level with a warning).
pub fn adaptive_factor(d_model: usize, level: u32) -> usize {
    match 1usize.checked_shl(level) {
        Some(f) if d_model / f > 4 => f,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<ParsedTtmConfig, ModelError> {
        TtmConfig::from_json(v.as_object().unwrap().clone(), "config.json")
    }

    #[test]
    fn unknown_keys_become_warnings() {
        let p = parse(json!({"model_type": "tinytimemixer", "context_length": 64, "my_extra": 3}))
            .unwrap();
        assert_eq!(
            p.warnings,
            vec!["config.json: unknown config key `my_extra` = 3 (ignored)".to_string()]
        );
        assert_eq!(p.config.context_length, 64);
        assert_eq!(p.config.num_patches(), 8);
    }

    #[test]
    fn r3_features_are_rejected_with_the_key() {
        let e = parse(json!({"register_tokens": 4}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`register_tokens`"), "{e}");
        let e = parse(json!({"patch_stride": 4})).unwrap_err().to_string();
        assert!(e.contains("`patch_stride`"), "{e}");
        let e = parse(json!({"loss": "nll"})).unwrap_err().to_string();
        assert!(e.contains("`loss`"), "{e}");
    }

    #[test]
    fn unrunnable_channel_mixer_settings_are_rejected() {
        let fcm = |extra: Value| {
            let mut v = json!({"enable_forecast_channel_mixing": true, "context_length": 64});
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            parse(v).map(|_| ()).map_err(|e| e.to_string())
        };
        assert!(fcm(json!({})).is_ok());
        assert!(fcm(json!({"fcm_prepend_past_offset": 3})).is_ok());
        let e = fcm(json!({"fcm_prepend_past_offset": 0})).unwrap_err();
        assert!(
            e.contains("`fcm_prepend_past_offset`: 0 selects no past"),
            "{e}"
        );
        let e = fcm(json!({"fcm_prepend_past_offset": 64})).unwrap_err();
        assert!(
            e.contains("64 + fcm_context_length 1 reaches before"),
            "{e}"
        );
        assert!(fcm(json!({"fcm_prepend_past_offset": 0, "fcm_prepend_past": false})).is_ok());
        let e = fcm(json!({"fcm_context_length": 0, "fcm_gated_attn": false})).unwrap_err();
        assert!(e.contains("`fcm_context_length`"), "{e}");
        assert!(fcm(json!({"fcm_context_length": 0})).is_ok());
    }

    #[test]
    fn forecast_channels_exclude_exogenous() {
        let p =
            parse(json!({"num_input_channels": 4, "exogenous_channel_indices": [3, 1]})).unwrap();
        assert_eq!(p.config.forecast_channels(), vec![0, 2]);
        assert_eq!(p.config.exogenous_channels(), vec![1, 3]);
    }

    #[test]
    fn adaptive_factor_stops_at_four_features() {
        assert_eq!(adaptive_factor(20, 2), 4);
        assert_eq!(adaptive_factor(16, 2), 1);
        assert_eq!(adaptive_factor(192, 2), 4);
    }
}
