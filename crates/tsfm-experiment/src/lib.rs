//! What `tsfm train`, `evaluate` and `predict` do, as a library: a config turned into each
//! library's options, data into model batches, a run trained, evaluated and recorded, a model
//! asked for forecasts. The binary, a server or a cluster task call it the same way; it never
//! prints or exits: warnings and notes come back through [`Events`], progress through the
//! trainer's callbacks, failures as [`ExperimentError`] (which says whether the user can fix it).
//!
//! It never names a model family: models come from [`tsfm_models::load_forecaster`] as an
//! [`tsfm_models::AnyForecaster`].
pub mod batches;
pub mod data;
pub mod demo;
pub mod device;
pub mod error;
pub mod evaluate;
pub mod evaluation;
pub mod events;
pub mod model;
pub mod options;
pub mod plots;
pub mod predict;
pub mod promote;
pub mod sweep;
pub mod tracking;
pub mod train;

pub use data::{ExperimentData, Split};
pub use error::{ExperimentError, Result};
pub use events::{Event, Events};
