//! Google's TimesFM 2.5 (the official `timesfm` package's `TimesFM_2p5_200M_torch_module`).
//!
//! - [`config`]: the definition, from tsfm's `config.json`, the transformers port's, or the
//!   tensor shapes of a bare official `model.safetensors`;
//! - [`names`]: the transformers port's tensor names as an alias;
//! - [`layers`], [`attention`]: RMS norm, residual blocks, rotary causal attention with
//!   QK-norm and per-dimension query scale;
//! - [`stats`]: per-patch running mean/std and RevIN (host side);
//! - [`model`]: the network, HF-named save/load, fine-tune modes;
//! - [`decode`]: prefill + autoregressive decoding with a KV cache;
//! - [`pipeline`]: `forecast()` with the official `ForecastConfig` options;
//! - [`loss`]: the fine-tuning recipe's loss;
//! - [`forecaster`]: the [`crate::Forecaster`] implementation.

pub mod attention;
pub mod config;
pub mod decode;
pub mod forecaster;
pub mod layers;
pub mod loss;
pub mod model;
pub mod names;
pub mod pipeline;
pub mod stats;

pub use config::{TensorNaming, TimesFmDefinition};
pub use decode::{DecodeInput, Decoded};
pub use model::TimesFmModel;
pub use pipeline::{ForecastConfig, ForecastSettings, RowForecasts, fill_missing};
