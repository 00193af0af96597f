//! tsfm-eval: forecast evaluation on plain `f64` slices in data units.
//!
//! Point, probabilistic and glucose metrics, baselines, nocturnal selection, an [`Evaluator`]
//! that accumulates windows into a [`MetricsReport`], residual calibration of point forecasts,
//! the saved [`EvaluationReport`], comparison tables, CSV output, and plots.

pub mod baselines;
pub mod calibration;
pub mod csv_out;
pub mod evaluator;
pub mod metrics;
pub mod nocturnal;
pub mod options;
pub mod plots;
pub mod report;
pub mod selection;
pub mod table;

pub use calibration::{CalibrationError, ResidualCalibration};
pub use evaluator::{Evaluator, MetricsReport, QuantileForecast, WindowEval, WindowRow};
pub use options::{
    DEFAULT_QUANTILES, EvaluatorOptions, METRIC_NAMES, OptionsError, check_metric_names,
};
pub use report::{DataInfo, EvaluationReport, ReportError};
pub use table::{TableRow, render_markdown, render_text};
