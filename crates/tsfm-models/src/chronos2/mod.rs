//! Amazon's Chronos-2 (chronos-forecasting 2.3 `Chronos2Model`): the model core.
//!
//! - [`categorical`]: categorical covariates as the package's preprocessing encodes them
//!   (target encoding with one target, ordinal codes with several);
//! - [`config`]: the checkpoint's `config.json` (`Chronos2CoreConfig` keys + `chronos_config`);
//! - [`scaler`]: instance normalisation (optionally `arcsinh`), context patches with time
//!   encoding and mask, future tokens with known-future covariates;
//! - [`attention`]: multi-head attention with RoPE and the time and group masks;
//! - [`encoder`]: time self-attention, group self-attention and feed-forward blocks;
//! - [`loss`]: the training loss of `Chronos2Model.forward`;
//! - [`model`]: the model, its forward pass and HF save/load;
//! - [`pipeline`]: `Chronos2Pipeline.predict` / `predict_quantiles` on prepared groups (long
//!   horizons unrolled on quantile paths, known future values slid in, other levels
//!   interpolated);
//! - [`fit`]: the longer context / horizon `Chronos2Pipeline.fit` records in the config;
//! - [`forecaster`]: the [`crate::Forecaster`]: one group per window (its targets, past-only
//!   and known-future covariates).

pub mod attention;
pub mod categorical;
pub mod config;
pub mod encoder;
pub mod fit;
pub mod forecaster;
pub mod loss;
pub mod model;
pub mod pipeline;
pub mod scaler;

pub use config::{Chronos2Config, Chronos2Core, Chronos2Settings};
pub use model::{Chronos2Input, Chronos2Model, Chronos2Output};
pub use scaler::FutureCovariates;
