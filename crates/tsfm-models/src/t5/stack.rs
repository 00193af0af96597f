//! `T5Stack` as an encoder and as a decoder. Both take embeddings (`inputs_embeds`), so the
//! caller decides what a position is: a token (Chronos-T5) or a patch (Chronos-Bolt).

use burn::Tensor;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig};

use super::attention::{
    CrossAttentionLayer, CrossKv, LayerCache, SelfAttentionLayer, additive_mask, causal_mask,
};
use super::config::{FeedForwardKind, T5Config};
use super::layers::{FeedForwardLayer, T5LayerNorm};
use crate::forecaster::ModelError;
use crate::nn::{Embedding, VarBuilder, dropout};

/// `block.{i}.layer` of an encoder: `layer.0` self-attention, `layer.1` feed-forward.
#[derive(Module, Debug)]
pub struct EncoderLayers {
    pub _0: SelfAttentionLayer,
    pub _1: FeedForwardLayer,
}

/// `T5Block` of an encoder.
#[derive(Module, Debug)]
pub struct EncoderBlock {
    pub layer: EncoderLayers,
}

/// The encoder `T5Stack`: blocks, `final_layer_norm`, dropout on the way in and out.
#[derive(Module, Debug)]
pub struct T5Encoder {
    pub block: Vec<EncoderBlock>,
    pub final_layer_norm: T5LayerNorm,
    pub dropout: Dropout,
}

impl T5Encoder {
    pub fn load(
        vb: &VarBuilder<'_>,
        cfg: &T5Config,
        ff: FeedForwardKind,
    ) -> Result<Self, ModelError> {
        let block = (0..cfg.num_layers)
            .map(|i| {
                let layer = vb.pp("block").pp(i).pp("layer");
                Ok(EncoderBlock {
                    layer: EncoderLayers {
                        _0: SelfAttentionLayer::load(&layer.pp(0), cfg, i == 0)?,
                        _1: FeedForwardLayer::load(&layer.pp(1), cfg, ff)?,
                    },
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(Self {
            block,
            final_layer_norm: T5LayerNorm::load(
                &vb.pp("final_layer_norm"),
                cfg.d_model,
                cfg.layer_norm_epsilon,
            )?,
            dropout: DropoutConfig::new(cfg.dropout_rate).init(),
        })
    }

    /// `embeds` `[batch, t, d_model]`, `mask` `[batch, t]` (1 attended, 0 not) ->
    /// `last_hidden_state` `[batch, t, d_model]`. The position bias (bidirectional) is computed
    /// by the first layer and, with the mask added, shared by every layer.
    pub fn forward(&self, embeds: Tensor<3>, mask: Tensor<2>) -> Tensor<3> {
        let t = embeds.dims()[1];
        let first = &self.block[0].layer._0.SelfAttention;
        let bias = first.position_bias(0, t, t, true) + additive_mask(mask);
        let mut h = dropout(&self.dropout, embeds);
        for block in &self.block {
            h = block.layer._0.forward(h, bias.clone(), None, 0).0;
            h = block.layer._1.forward(h);
        }
        dropout(&self.dropout, self.final_layer_norm.forward(h))
    }
}

/// `block.{i}.layer` of a decoder: self-attention, cross-attention, feed-forward.
#[derive(Module, Debug)]
pub struct DecoderLayers {
    pub _0: SelfAttentionLayer,
    pub _1: CrossAttentionLayer,
    pub _2: FeedForwardLayer,
}

/// `T5Block` of a decoder.
#[derive(Module, Debug)]
pub struct DecoderBlock {
    pub layer: DecoderLayers,
}

/// The decoder `T5Stack`.
#[derive(Module, Debug)]
pub struct T5Decoder {
    pub block: Vec<DecoderBlock>,
    pub final_layer_norm: T5LayerNorm,
    pub dropout: Dropout,
}

/// What the decoder reads of the encoder: each layer's cross-attention keys and values and the
/// encoder mask, one row per series (never per sample).
#[derive(Debug, Clone)]
pub struct EncoderMemory {
    pub layers: Vec<CrossKv>,
    /// Additive `[series, 1, 1, t_enc]`.
    pub mask: Tensor<4>,
}

impl EncoderMemory {
    pub fn series(&self) -> usize {
        self.mask.dims()[0]
    }
}

/// The decoder's self-attention keys and values for the positions decoded so far, so a step
/// costs one position's projections and attention, never a re-run of the prefix.
#[derive(Debug, Clone, Default)]
pub struct DecoderCache {
    layers: Vec<LayerCache>,
    len: usize,
    /// Positions to reserve room for when the cache is first filled.
    capacity: usize,
}

impl DecoderCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// A cache that will hold `positions` positions without reallocating.
    pub fn with_capacity(positions: usize) -> Self {
        Self {
            capacity: positions,
            ..Self::default()
        }
    }

    /// Positions decoded so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl T5Decoder {
    pub fn load(
        vb: &VarBuilder<'_>,
        cfg: &T5Config,
        ff: FeedForwardKind,
    ) -> Result<Self, ModelError> {
        let block = (0..cfg.decoder_layers())
            .map(|i| {
                let layer = vb.pp("block").pp(i).pp("layer");
                // Old checkpoints store a cross-attention position bias that T5 never uses
                // (transformers ignores it on load): consume it so it is not reported.
                let stray = layer
                    .pp(1)
                    .pp("EncDecAttention")
                    .pp("relative_attention_bias");
                if stray.contains("weight") {
                    Embedding::load(&stray, cfg.relative_attention_num_buckets, cfg.num_heads)?;
                }
                Ok(DecoderBlock {
                    layer: DecoderLayers {
                        _0: SelfAttentionLayer::load(&layer.pp(0), cfg, i == 0)?,
                        _1: CrossAttentionLayer::load(&layer.pp(1), cfg)?,
                        _2: FeedForwardLayer::load(&layer.pp(2), cfg, ff)?,
                    },
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(Self {
            block,
            final_layer_norm: T5LayerNorm::load(
                &vb.pp("final_layer_norm"),
                cfg.d_model,
                cfg.layer_norm_epsilon,
            )?,
            dropout: DropoutConfig::new(cfg.dropout_rate).init(),
        })
    }

    /// Cross-attention keys/values of `encoder_hidden` (`[series, t, d_model]`) for every
    /// layer, and the additive form of `encoder_mask` (`[series, t]`).
    pub fn memory(&self, encoder_hidden: Tensor<3>, encoder_mask: Tensor<2>) -> EncoderMemory {
        EncoderMemory {
            layers: self
                .block
                .iter()
                .map(|b| b.layer._1.key_values(encoder_hidden.clone()))
                .collect(),
            mask: additive_mask(encoder_mask),
        }
    }

    /// [`Self::memory`] laid out for step-by-step decoding: the keys as panels
    /// ([`CrossKv::for_decoding`]). Same outputs.
    pub fn decoding_memory(
        &self,
        encoder_hidden: Tensor<3>,
        encoder_mask: Tensor<2>,
    ) -> EncoderMemory {
        let memory = self.memory(encoder_hidden, encoder_mask);
        EncoderMemory {
            layers: memory
                .layers
                .into_iter()
                .map(CrossKv::for_decoding)
                .collect(),
            mask: memory.mask,
        }
    }

    /// The whole decoder over `embeds` (`[rows, q, d_model]`, causal) at once, as teacher
    /// forcing runs it; rows are `series * samples`, grouped by series.
    pub fn forward(&self, embeds: Tensor<3>, memory: &EncoderMemory) -> Tensor<3> {
        self.forward_cached(embeds, memory, &mut DecoderCache::new())
    }

    /// Decodes `embeds` (`[rows, q, d_model]`) as the positions after those in `cache`, which
    /// then holds them too. Returns the final hidden states `[rows, q, d_model]`.
    pub fn forward_cached(
        &self,
        embeds: Tensor<3>,
        memory: &EncoderMemory,
        cache: &mut DecoderCache,
    ) -> Tensor<3> {
        let [rows, q_len, _] = embeds.dims();
        assert!(
            rows % memory.series() == 0,
            "{rows} decoder rows cannot be grouped over {} encoder rows",
            memory.series()
        );
        let start = cache.len;
        let k_len = start + q_len;
        let first = &self.block[0].layer._0.SelfAttention;
        let mut bias = first.position_bias(start, q_len, k_len, false);
        if q_len > 1 {
            bias = bias + causal_mask(start, q_len, k_len, &embeds.device());
        }
        let mut h = dropout(&self.dropout, embeds);
        // Each layer's cache is moved into its step and back, so nothing else holds it while
        // the new position is written in place.
        let mut past = std::mem::take(&mut cache.layers).into_iter();
        for (i, block) in self.block.iter().enumerate() {
            let (out, kv) = block
                .layer
                ._0
                .forward(h, bias.clone(), past.next(), cache.capacity);
            cache.layers.push(kv);
            h = block.layer._1.forward(out, &memory.layers[i], &memory.mask);
            h = block.layer._2.forward(h);
        }
        cache.len = k_len;
        dropout(&self.dropout, self.final_layer_norm.forward(h))
    }
}
