//! The T5 encoder-decoder (transformers' `T5ForConditionalGeneration`), shared by Chronos-T5
//! and Chronos-Bolt.
//!
//! - [`config`]: the T5 keys of `config.json`;
//! - [`layers`]: RMS layer norm, (gated) feed-forward;
//! - [`attention`]: unscaled multi-head attention, relative position buckets, masks, the
//!   self-attention cache and cross-attention shared by the samples of a series;
//! - [`stack`]: the encoder and decoder stacks over embeddings;
//! - [`model`]: `shared` embedding, tied or untied output projection, and [`T5Lm`], which
//!   runs a full seq2seq LM over parts that a family owns at its module root.
//!
//! Struct fields are the HF tensor names (`encoder.block.0.layer.0.SelfAttention.q.weight`),
//! every projection is a [`crate::nn::Linear`], dropout is [`crate::nn::dropout`].

pub mod attention;
pub mod config;
pub mod layers;
pub mod model;
pub mod stack;

pub use attention::{MASKED, relative_position_bucket};
pub use config::{Activation, FeedForwardKind, ParsedT5Config, T5Config};
pub use model::{T5Lm, load_lm_head, load_shared};
pub use stack::{DecoderCache, EncoderMemory, T5Decoder, T5Encoder};
