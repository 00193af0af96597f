//! `Chronos2Encoder`: blocks of time self-attention (across a row's tokens, RoPE), group
//! self-attention (across the rows of a group at each token, no positions) and a ReLU
//! feed-forward, each pre-norm (T5's RMS norm) with a residual connection; then a final norm.
//! Field names are the package's attribute names, so HF tensor names follow from the paths
//! (`encoder.block.0.layer.1.self_attention.q.weight`).

use burn::Tensor;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig};

use super::attention::{Mha, Rope, group_mask, time_mask};
use super::config::Chronos2Config;
use crate::chronos_bolt::blocks::apply;
use crate::forecaster::ModelError;
use crate::nn::{Linear, VarBuilder, dropout};
use crate::t5::Activation;
use crate::t5::layers::T5LayerNorm;

/// `TimeSelfAttention`: `x + dropout(attn(norm(x)))` along the tokens of each row.
#[derive(Module, Debug)]
pub struct TimeSelfAttention {
    pub self_attention: Mha,
    pub layer_norm: T5LayerNorm,
    pub dropout: Dropout,
}

/// `GroupSelfAttention`: the same along the rows of the batch at each token, the group mask
/// keeping rows of different groups (and unobserved tokens) apart.
#[derive(Module, Debug)]
pub struct GroupSelfAttention {
    pub self_attention: Mha,
    pub layer_norm: T5LayerNorm,
    pub dropout: Dropout,
}

/// `MLP`: `wo(dropout(act(wi(x))))`, both without bias.
#[derive(Module, Debug)]
pub struct Mlp {
    pub wi: Linear,
    pub wo: Linear,
    pub dropout: Dropout,
    #[module(skip)]
    pub act: Activation,
}

/// `FeedForward`: `x + dropout(mlp(norm(x)))`.
#[derive(Module, Debug)]
pub struct FeedForward {
    pub mlp: Mlp,
    pub layer_norm: T5LayerNorm,
    pub dropout: Dropout,
}

/// `block.{i}.layer`: `layer.0` time attention, `layer.1` group attention, `layer.2`
/// feed-forward (`_n` fields stand for `nn.ModuleList` indices).
#[derive(Module, Debug)]
pub struct EncoderLayers {
    pub _0: TimeSelfAttention,
    pub _1: GroupSelfAttention,
    pub _2: FeedForward,
}

/// `Chronos2EncoderBlock`.
#[derive(Module, Debug)]
pub struct EncoderBlock {
    pub layer: EncoderLayers,
}

/// `Chronos2Encoder`.
#[derive(Module, Debug)]
pub struct Chronos2Encoder {
    pub block: Vec<EncoderBlock>,
    pub final_layer_norm: T5LayerNorm,
    pub dropout: Dropout,
    #[module(skip)]
    pub rope_theta: f64,
    #[module(skip)]
    pub d_kv: usize,
}

/// One block's hidden states after each sub-layer, and (when asked) its attention weights.
#[derive(Debug, Clone)]
pub struct BlockTrace {
    pub after_time_attention: Tensor<3>,
    pub after_group_attention: Tensor<3>,
    pub after_feed_forward: Tensor<3>,
    /// `[rows, heads, tokens, tokens]`.
    pub time_attention_weights: Option<Tensor<4>>,
    /// `[tokens, heads, rows, rows]`.
    pub group_attention_weights: Option<Tensor<4>>,
}

/// What the encoder computes.
#[derive(Debug, Clone)]
pub struct EncoderOutput {
    /// `[rows, tokens, d_model]` after the final norm.
    pub last_hidden_state: Tensor<3>,
    pub blocks: Vec<BlockTrace>,
}

fn norm(vb: &VarBuilder<'_>, cfg: &Chronos2Config) -> Result<T5LayerNorm, ModelError> {
    T5LayerNorm::load(
        &vb.pp("layer_norm"),
        cfg.core.d_model,
        cfg.core.layer_norm_epsilon,
    )
}

fn drop(cfg: &Chronos2Config) -> Dropout {
    DropoutConfig::new(cfg.core.dropout_rate).init()
}

impl TimeSelfAttention {
    fn load(vb: &VarBuilder<'_>, cfg: &Chronos2Config) -> Result<Self, ModelError> {
        Ok(Self {
            self_attention: Mha::load(&vb.pp("self_attention"), &cfg.core)?,
            layer_norm: norm(vb, cfg)?,
            dropout: drop(cfg),
        })
    }

    fn forward(&self, x: Tensor<3>, mask: Tensor<4>, rope: &Rope) -> (Tensor<3>, Tensor<4>) {
        let (h, w) =
            self.self_attention
                .forward(self.layer_norm.forward(x.clone()), mask, Some(rope));
        (x + dropout(&self.dropout, h), w)
    }
}

impl GroupSelfAttention {
    fn load(vb: &VarBuilder<'_>, cfg: &Chronos2Config) -> Result<Self, ModelError> {
        Ok(Self {
            self_attention: Mha::load(&vb.pp("self_attention"), &cfg.core)?,
            layer_norm: norm(vb, cfg)?,
            dropout: drop(cfg),
        })
    }

    /// `x` is `[rows, tokens, d]`; attention runs over rows, so tokens become the batch.
    fn forward(&self, x: Tensor<3>, mask: Tensor<4>) -> (Tensor<3>, Tensor<4>) {
        let x = x.swap_dims(0, 1);
        let (h, w) = self
            .self_attention
            .forward(self.layer_norm.forward(x.clone()), mask, None);
        ((x + dropout(&self.dropout, h)).swap_dims(0, 1), w)
    }
}

impl FeedForward {
    fn load(vb: &VarBuilder<'_>, cfg: &Chronos2Config) -> Result<Self, ModelError> {
        let (d, ff) = (cfg.core.d_model, cfg.core.d_ff);
        let mlp = vb.pp("mlp");
        Ok(Self {
            mlp: Mlp {
                wi: Linear::load_no_bias(&mlp.pp("wi"), d, ff)?,
                wo: Linear::load_no_bias(&mlp.pp("wo"), ff, d)?,
                dropout: drop(cfg),
                act: cfg.activation,
            },
            layer_norm: norm(vb, cfg)?,
            dropout: drop(cfg),
        })
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let h = self.layer_norm.forward(x.clone());
        let h = apply(self.mlp.act, self.mlp.wi.forward(h));
        let h = self.mlp.wo.forward(dropout(&self.mlp.dropout, h));
        x + dropout(&self.dropout, h)
    }
}

impl Chronos2Encoder {
    pub fn load(vb: &VarBuilder<'_>, cfg: &Chronos2Config) -> Result<Self, ModelError> {
        let block = (0..cfg.core.num_layers)
            .map(|i| {
                let layer = vb.pp("block").pp(i).pp("layer");
                Ok(EncoderBlock {
                    layer: EncoderLayers {
                        _0: TimeSelfAttention::load(&layer.pp(0), cfg)?,
                        _1: GroupSelfAttention::load(&layer.pp(1), cfg)?,
                        _2: FeedForward::load(&layer.pp(2), cfg)?,
                    },
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(Self {
            block,
            final_layer_norm: T5LayerNorm::load(
                &vb.pp("final_layer_norm"),
                cfg.core.d_model,
                cfg.core.layer_norm_epsilon,
            )?,
            dropout: drop(cfg),
            rope_theta: cfg.core.rope_theta,
            d_kv: cfg.core.d_kv,
        })
    }

    /// `Chronos2Encoder.forward`: `inputs_embeds` `[rows, tokens, d]`, `attention_mask`
    /// `[rows, tokens]` (1 = observed), `group_ids` one per row. Rotary positions are the
    /// token indices `0..tokens`. `keep_weights` also returns the attention weights.
    pub fn forward(
        &self,
        inputs_embeds: Tensor<3>,
        attention_mask: Tensor<2>,
        group_ids: &[i64],
        keep_weights: bool,
    ) -> EncoderOutput {
        let [_, s, _] = inputs_embeds.dims();
        let device = inputs_embeds.device();
        let rope = Rope::new(s, self.d_kv, self.rope_theta, &device);
        let time = time_mask(attention_mask.clone());
        let group = group_mask(group_ids, attention_mask);
        let mut h = dropout(&self.dropout, inputs_embeds);
        let mut blocks = Vec::with_capacity(self.block.len());
        for block in &self.block {
            let (after_time, tw) = block.layer._0.forward(h, time.clone(), &rope);
            let (after_group, gw) = block.layer._1.forward(after_time.clone(), group.clone());
            let after_ff = block.layer._2.forward(after_group.clone());
            h = after_ff.clone();
            blocks.push(BlockTrace {
                after_time_attention: after_time,
                after_group_attention: after_group,
                after_feed_forward: after_ff,
                time_attention_weights: keep_weights.then_some(tw),
                group_attention_weights: keep_weights.then_some(gw),
            });
        }
        let last_hidden_state = dropout(&self.dropout, self.final_layer_norm.forward(h));
        EncoderOutput {
            last_hidden_state,
            blocks,
        }
    }
}
