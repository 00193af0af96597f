//! Model families behind one [`Forecaster`] trait and one [`AnyForecaster`] type.
pub mod any;
pub mod checkpoint;
pub mod chronos;
pub mod chronos2;
pub mod chronos_bolt;
pub mod forecaster;
pub mod info;
pub mod kernels;
pub mod lora;
pub mod nn;
pub mod parallel;
pub mod t5;
pub mod timesfm;
pub mod ttm;

pub use any::{
    AnyForecaster, LoadOptions, LoadedForecaster, SUPPORTED, load_forecaster, load_forecaster_in,
    load_forecaster_in_with, load_forecaster_with,
};
pub use checkpoint::{detect_model_type, resolve_checkpoint, resolve_checkpoint_in};
pub use chronos::ChronosModel;
pub use chronos_bolt::ChronosBoltModel;
pub use chronos2::Chronos2Model;
pub use forecaster::{
    Decoding, FinetuneMode, Forecast, ForecastInput, ForecastOptions, Forecaster, LossKind,
    ModelError, ParamCounts, SamplingOptions, check_horizon, check_quantile_levels,
};
pub use info::{Checkpoint, CheckpointInfo, checkpoint_info, checkpoint_info_in};
pub use timesfm::TimesFmModel;
pub use ttm::{TtmModel, load_forecaster_ttm};
