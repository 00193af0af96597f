//! Model families behind one [`Forecaster`] trait.
pub mod forecaster;

pub use forecaster::{FinetuneMode, Forecast, ForecastInput, Forecaster, LossKind, ModelError, ParamCounts};
