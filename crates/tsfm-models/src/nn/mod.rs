//! Building blocks shared by every model family: HF-named weight loading and saving, and the
//! small layers (linear, norms, embedding, dropout, GELU).
pub mod layers;
pub mod weights;

pub use layers::{Embedding, LayerNorm, Linear, dropout, gelu};
pub use weights::{VarBuilder, WeightSource, hf_grads, hf_tensors};
