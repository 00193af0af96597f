//! The parts of `T5ForConditionalGeneration` around the two stacks: the `shared` token
//! embedding, the output projection (tied to `shared` or its own `lm_head`), and [`T5Lm`], a
//! borrowed view that runs them. The parts live at the root of each family's module (so
//! their HuggingFace names stay `shared.weight`, `encoder.block.0...`), which is why this is
//! a view and not a struct that owns them.

use burn::Tensor;
use burn::tensor::Int;
use burn::tensor::module::linear;

use super::config::T5Config;
use super::stack::{DecoderCache, EncoderMemory, T5Decoder, T5Encoder};
use crate::forecaster::ModelError;
use crate::nn::{Embedding, Linear, VarBuilder};

/// Names under which older checkpoints store copies of the tied token embedding.
const EMBEDDING_ALIASES: [&str; 2] = ["encoder.embed_tokens", "decoder.embed_tokens"];

/// `shared.weight` (`[vocab_size, d_model]`), read from a copy under the encoder's or
/// decoder's `embed_tokens` when a checkpoint has only those. The copies are consumed (HF
/// ties them to `shared`), so they are not reported as unused.
pub fn load_shared(vb: &VarBuilder<'_>, cfg: &T5Config) -> Result<Embedding, ModelError> {
    let mut shared = None;
    for name in std::iter::once("shared").chain(EMBEDDING_ALIASES) {
        let v = vb.pp(name);
        if v.contains("weight") {
            let e = Embedding::load(&v, cfg.vocab_size, cfg.d_model)?;
            shared.get_or_insert(e);
        }
    }
    match shared {
        Some(e) => Ok(e),
        // Let the error name the tensor that is missing.
        None => Embedding::load(&vb.pp("shared"), cfg.vocab_size, cfg.d_model),
    }
}

/// `lm_head`: its own weight when the checkpoint stores one that differs from `shared`, else
/// `None` (the head is `shared`). This is how transformers 5 decides: it forces
/// `tie_word_embeddings` on and unties only a stored head with different values, so the key
/// `tie_word_embeddings` does not say whether a checkpoint is tied.
pub fn load_lm_head(
    vb: &VarBuilder<'_>,
    cfg: &T5Config,
    shared: &Embedding,
) -> Result<Option<Linear>, ModelError> {
    let head = vb.pp("lm_head");
    if !head.contains("weight") {
        return Ok(None);
    }
    let linear = Linear::load_no_bias(&head, cfg.d_model, cfg.vocab_size)?;
    // `Linear` holds `[d_model, vocab]`, the embedding `[vocab, d_model]`.
    let same = linear
        .weight
        .val()
        .equal(shared.weight.val().transpose())
        .all()
        .into_scalar::<bool>();
    Ok((!same).then_some(linear))
}

/// `T5ForConditionalGeneration` over parts owned elsewhere.
#[derive(Debug, Clone, Copy)]
pub struct T5Lm<'a> {
    pub config: &'a T5Config,
    pub shared: &'a Embedding,
    pub encoder: &'a T5Encoder,
    pub decoder: &'a T5Decoder,
    pub lm_head: Option<&'a Linear>,
}

impl T5Lm<'_> {
    /// Token ids `[batch, t]` -> embeddings `[batch, t, d_model]`.
    pub fn embed(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        let [b, t] = ids.dims();
        self.shared
            .forward(ids.reshape([b * t]))
            .reshape([b, t, self.config.d_model])
    }

    /// The encoder over token ids with their attention mask (`[batch, t]`, 1/0).
    pub fn encode(&self, ids: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<3> {
        self.encoder.forward(self.embed(ids), mask)
    }

    /// Decoder hidden states -> vocabulary logits: scaled by `d_model^-0.5` first when the
    /// checkpoint says so (tied embeddings), then projected by `lm_head` or `shared`.
    pub fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        let hidden = if self.config.scales_decoder_output() {
            hidden * (self.config.d_model as f64).powf(-0.5)
        } else {
            hidden
        };
        match self.lm_head {
            Some(head) => head.forward(hidden),
            None => linear(hidden, self.shared.weight.val().transpose(), None),
        }
    }

    /// Teacher forcing: logits `[batch, L, vocab]` of `decoder_input_ids` given the encoder
    /// input, as `T5ForConditionalGeneration.forward` returns them.
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Tensor<2>,
        decoder_input_ids: Tensor<2, Int>,
    ) -> Tensor<3> {
        let hidden = self.encode(input_ids, attention_mask.clone());
        let memory = self.decoder.memory(hidden, attention_mask);
        self.logits(self.decoder.forward(self.embed(decoder_input_ids), &memory))
    }

    /// One incremental decoding step: the logits `[rows, vocab]` of the next token after
    /// `ids` (`[rows]`, the last token of each row), with the self-attention `cache` extended.
    pub fn step(
        &self,
        ids: Tensor<1, Int>,
        memory: &EncoderMemory,
        cache: &mut DecoderCache,
    ) -> Tensor<2> {
        let rows = ids.dims()[0];
        let embeds = self.embed(ids.reshape([rows, 1]));
        let hidden = self.decoder.forward_cached(embeds, memory, cache);
        self.logits(hidden).reshape([rows, self.config.vocab_size])
    }
}
