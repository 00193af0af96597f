//! tsfm-eval: forecast evaluation on plain `f64` slices in data units.
//!
//! Point, probabilistic and glucose metrics, baselines, nocturnal selection, an [`Evaluator`]
//! that accumulates windows into a [`MetricsReport`], the saved [`EvaluationReport`], comparison
//! tables, and plots.

pub mod baselines;
pub mod evaluator;
pub mod metrics;
pub mod nocturnal;
pub mod plots;
pub mod report;
pub mod table;

pub use evaluator::{Evaluator, MetricsReport, QuantileForecast, WindowEval, WindowRow};
pub use report::{DataInfo, EvaluationReport, ReportError};
pub use table::{TableRow, render_markdown, render_text};
