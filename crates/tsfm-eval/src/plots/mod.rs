//! Report plots: plain data in, `{stem}.png` + `{stem}.svg` out.
//!
//! Every function renders the same figure twice (bitmap and SVG) with plotters and writes both
//! files atomically (temp file + rename). Text uses the bundled DejaVu Sans font through
//! plotters' `ab_glyph` support, so no system font library is needed.

mod bars;
mod calibration;
mod clarke;
mod forecast;
mod loss;
mod output;
mod style;

use std::path::PathBuf;

pub use bars::metric_bars;
pub use calibration::calibration;
pub use clarke::clarke_grid;
pub use forecast::{ForecastPlotWindow, forecast_windows};
pub use loss::{loss_curves, rmse_by_horizon};

/// The two files one plot call wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlotFiles {
    pub png: PathBuf,
    pub svg: PathBuf,
}

/// Why a plot could not be produced; always names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("plot {path}: invalid input: {message}")]
    Input { path: PathBuf, message: String },
    #[error("plot {path}: drawing failed: {message}")]
    Draw { path: PathBuf, message: String },
    #[error("plot {path}: PNG encoding failed: {message}")]
    Encode { path: PathBuf, message: String },
    #[error(
        "plot {path}: cannot write file (check the directory exists and is writable): {source}"
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
