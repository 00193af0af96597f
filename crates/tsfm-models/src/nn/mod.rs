//! Building blocks shared by every model family: HF-named weight loading and saving, and the
//! small layers (linear with its optional LoRA adapter, norms, embedding, dropout, GELU).
pub mod layers;
pub mod linear;
pub mod weights;

pub use layers::{Embedding, LayerNorm, dropout, gelu, set_dropout, with_dropout_stream};
pub use linear::Linear;
pub use weights::{VarBuilder, WeightSource, hf_grads, hf_tensors, hf_tensors_unmerged};
