//! Amazon's Chronos-Bolt (chronos-forecasting 2.3 `ChronosBoltModelForForecasting`).
//!
//! - [`config`]: the checkpoint's `config.json` (T5 keys + `chronos_config`);
//! - [`scaler`]: instance normalisation and patching with the mask channel;
//! - [`blocks`]: the residual blocks that embed patches and produce the quantiles;
//! - [`quantiles`]: `torch.quantile` as the pipeline uses it (rollout, level interpolation);
//! - [`loss`]: the package's quantile loss and point losses on the median;
//! - [`model`]: the model, its forward pass and HF save/load (T5 stack from [`crate::t5`]);
//! - [`pipeline`]: `ChronosBoltPipeline.predict` / `predict_quantiles` (rollout, levels);
//! - [`forecaster`]: the [`crate::Forecaster`] implementation.

pub mod blocks;
pub mod config;
pub mod forecaster;
pub mod loss;
pub mod model;
pub mod pipeline;
pub mod quantiles;
pub mod scaler;

pub use config::{ChronosBoltConfig, ChronosBoltSettings};
pub use model::{BoltOutput, ChronosBoltModel, EncoderInput};
