//! What a LoRA fine-tune adapts and how strongly: PEFT's `LoraConfig`, the part of it tsfm uses.

use serde::{Deserialize, Serialize};

/// The linear layers that get an adapter, named as PEFT names them (the module's HF name, the
/// tensor name without `.weight`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TargetModules {
    /// The family's own choice ([`default_targets`]).
    #[default]
    Default,
    /// PEFT's list form: a layer is targeted when its name equals one of these or ends with
    /// `.` + one of these (`fc1` targets `backbone.encoder.mlp.fc1`).
    Names(Vec<String>),
    /// PEFT's string form: a regular expression the whole name must match; `all-linear`
    /// (any case) targets every linear layer except a language-model head named `lm_head`.
    Pattern(String),
}

/// PEFT's shorthand for every linear layer.
pub const ALL_LINEAR: &str = "all-linear";

/// A LoRA fine-tune (Hu et al. 2021) with PEFT's semantics: each targeted linear layer computes
/// `x W + b + scaling * dropout(x) A B`, `A` `[in, rank]` Kaiming-uniform, `B` `[rank, out]`
/// zero, so a freshly attached adapter leaves the model unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    pub rank: usize,
    pub alpha: f64,
    /// Dropout on the adapter's input (PEFT's `lora_dropout`), active only in training.
    pub dropout: f64,
    pub target_modules: TargetModules,
    /// Rank-stabilised scaling `alpha / sqrt(rank)` (Kalajdzievski 2023) instead of
    /// `alpha / rank`.
    pub use_rslora: bool,
    /// Seeds each adapter's `A` (together with the layer's name, so the draw does not depend
    /// on the order layers are built in).
    pub seed: u64,
}

impl Default for LoraConfig {
    /// PEFT's defaults (`r` 8, `lora_alpha` 8, no dropout) with the family's targets.
    fn default() -> Self {
        Self {
            rank: 8,
            alpha: 8.0,
            dropout: 0.0,
            target_modules: TargetModules::Default,
            use_rslora: false,
            seed: 0,
        }
    }
}

impl LoraConfig {
    /// The factor the adapter's output is multiplied by.
    pub fn scaling(&self) -> f64 {
        if self.use_rslora {
            self.alpha / (self.rank as f64).sqrt()
        } else {
            self.alpha / self.rank as f64
        }
    }

    /// `Default` targets replaced by the family's own.
    pub fn resolved_targets(&self, model_type: &str) -> TargetModules {
        match &self.target_modules {
            TargetModules::Default => default_targets(model_type),
            other => other.clone(),
        }
    }
}

/// The layers a family adapts when the config names none:
/// - TTM: the MLP and gate layers of every mixer block (`fc1`, `fc2`, `attn_layer`): the
///   patch, feature and channel mixing that carries what the model learnt, leaving the
///   patch embedding and the forecast head as they are;
/// - the T5 families (Chronos, Chronos-Bolt): the attention projections `q`, `k`, `v`, `o`
///   (PEFT's T5 default adapts `q` and `v` only; the other two are as cheap and help);
/// - Chronos-2: the package's own `fit` default, `q`, `k`, `v`, `o` of every attention layer
///   (time and group) and the output layer of the output patch embedding;
/// - anything else: every linear layer.
pub fn default_targets(model_type: &str) -> TargetModules {
    let names = |n: &[&str]| TargetModules::Names(n.iter().map(|s| s.to_string()).collect());
    match model_type {
        "ttm" => names(&["fc1", "fc2", "attn_layer"]),
        "chronos" | "chronos_bolt" => names(&["q", "k", "v", "o"]),
        "chronos2" => names(&[
            "self_attention.q",
            "self_attention.v",
            "self_attention.k",
            "self_attention.o",
            "output_patch_embedding.output_layer",
        ]),
        _ => TargetModules::Pattern(ALL_LINEAR.into()),
    }
}
