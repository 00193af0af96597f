//! Interval calibration: observed vs nominal coverage, with the ideal diagonal.

use std::path::Path;

use plotters::chart::SeriesLabelPosition;

use super::loss::LineChart;
use super::output::render;
use super::{PlotError, PlotFiles};

/// Writes `dir/{stem}.png` and `.svg`. Each series is `(label, [(nominal, observed)])` with
/// coverages as fractions in [0, 1] (e.g. 0.8 for a 10–90 % interval).
pub fn calibration(
    dir: &Path,
    stem: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<PlotFiles, PlotError> {
    let fig = LineChart {
        title: "Prediction-interval calibration",
        x_desc: "nominal coverage",
        y_desc: "observed coverage",
        series: series.to_vec(),
        markers: true,
        ranges: Some(((0.0, 1.0), (0.0, 1.0))),
        y_from_zero: false,
        reference: Some(("ideal (observed = nominal)", vec![(0.0, 0.0), (1.0, 1.0)])),
        legend: SeriesLabelPosition::LowerRight,
    };
    render(dir, stem, (800, 750), &fig)
}
