//! Data layer: raw dataset sources, the processed-series cache, preprocessing, splits, windows.
//!
//! Module ownership while the crate is built in parallel:
//! - sources side: `error`, `sources/*`, `cache`, `summary`, `units`;
//! - pipeline side: `grid`, `gaps`, `impute`, `features`, `calendar`, `scaler`, `split`,
//!   `window`, `pipeline`.
pub mod series;
pub mod error;
pub mod sources;
pub mod cache;
pub mod summary;
pub mod units;

pub use series::{Channel, MGDL_PER_MMOLL, SECONDS_PER_DAY, Series};
