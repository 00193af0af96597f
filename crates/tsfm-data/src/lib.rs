//! Data layer: raw dataset sources, the processed-series cache, preprocessing, splits, windows.
//!
//! Module ownership while the crate is built in parallel:
//! - sources side: `error`, `sources/*`, `cache`, `summary`, `units`;
//! - pipeline side: `grid`, `gaps`, `impute`, `features`, `calendar`, `scaler`, `split`,
//!   `window`, `pipeline`.
pub mod cache;
pub mod calendar;
pub mod error;
pub mod features;
pub mod gaps;
pub mod grid;
pub mod impute;
pub mod pipeline;
pub mod preprocess_error;
pub mod progress;
pub mod resample;
pub mod scaler;
pub mod series;
pub mod sources;
pub mod split;
pub mod summary;
pub mod units;
pub mod window;

pub use pipeline::{
    PipelineOptions, PipelineReport, Prepared, run as run_pipeline, run_with_scaler,
};
pub use preprocess_error::PreprocessError;
pub use progress::{Progress, ProgressEvent};
pub use series::{Channel, MGDL_PER_MMOLL, SECONDS_PER_DAY, Series};
pub use window::{Batch, ProcessedSeries, WindowSet};
