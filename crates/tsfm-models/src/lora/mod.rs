//! LoRA (Hu et al. 2021) with PEFT's semantics, for every family without family code.
//!
//! Every family builds its linear layers as [`crate::nn::Linear`] through
//! [`crate::nn::VarBuilder`]. Loading with [`crate::LoadOptions::lora`] gives each linear layer
//! whose HF module name the [`TargetModules`] match an adapter ([`LoraAdapter`]), so that the
//! layer computes `x W + b + scaling * dropout(x) A B`. Then:
//! - training: [`crate::FinetuneMode::Lora`] freezes every other parameter
//!   ([`train_adapters_only`]); adapter parameters are ordinary Burn parameters, so gradients,
//!   the optimizer, records and exact resume need nothing special;
//! - saving: `save_pretrained` writes the merged weights `W + scaling * A B` (the checkpoint
//!   is an ordinary one of the family), or [`save_adapter`] writes a PEFT adapter directory;
//! - loading an adapter directory ([`crate::load_forecaster`] on it) loads its base checkpoint
//!   with the adapter attached.
//!
//! Why not Burn 0.22's own `Module::apply_lora`: it adapts the weight (`W + s A B` formed at
//! every forward), which cannot apply PEFT's dropout to the adapter's input; it matches Burn
//! field paths rather than the HF names PEFT's `target_modules` use, adapts any 2-d parameter
//! (embeddings, positional tables) rather than linear layers, and draws `A` from a normal
//! distribution rather than PEFT's Kaiming-uniform.
pub mod adapter;
pub mod config;
pub mod peft;
pub mod targets;
pub mod training;

pub use adapter::LoraAdapter;
pub use config::{ALL_LINEAR, LoraConfig, TargetModules, default_targets};
pub use peft::{
    ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, AdapterDir, adapter_tensors, is_adapter_dir,
    save_adapter,
};
pub use targets::TargetMatcher;
pub use training::{adapter_param_count, train_adapters_only};
