//! Amazon's Chronos-Bolt (chronos-forecasting 2.3 `ChronosBoltModelForForecasting`).
//!
//! - [`config`]: the checkpoint's `config.json` (T5 keys + `chronos_config`);
//! - [`scaler`]: instance normalisation and patching with the mask channel;
//! - [`blocks`]: the residual blocks that embed patches and produce the quantiles;
//! - [`quantiles`]: `torch.quantile` as the pipeline uses it (rollout, level interpolation);
//! - [`loss`]: the package's quantile loss and point losses on the median.

pub mod blocks;
pub mod config;
pub mod loss;
pub mod quantiles;
pub mod scaler;

pub use config::{ChronosBoltConfig, ChronosBoltSettings};
