//! Model families behind one [`Forecaster`] trait.
pub mod checkpoint;
pub mod forecaster;
pub mod ttm;

pub use checkpoint::{detect_model_type, resolve_checkpoint, resolve_checkpoint_in};
pub use forecaster::{
    FinetuneMode, Forecast, ForecastInput, Forecaster, LossKind, ModelError, ParamCounts,
};
pub use ttm::{TtmModel, load_forecaster_ttm};
