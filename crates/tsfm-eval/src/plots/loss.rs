//! Line charts: training/eval loss vs step and RMSE vs horizon (shared `LineChart`).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::output::{DrawResult, Figure, render};
use super::style::{FONT, color, padded_range, tick};
use super::{PlotError, PlotFiles};

/// A titled x/y line chart, one coloured line (optionally with markers) per series.
pub(crate) struct LineChart<'a> {
    pub title: &'a str,
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub series: Vec<(String, Vec<(f64, f64)>)>,
    pub markers: bool,
    /// Fixed axis ranges (used by calibration); otherwise fitted to the data.
    pub ranges: Option<((f64, f64), (f64, f64))>,
    /// Start the y axis at zero when all values are non-negative (errors, RMSE).
    pub y_from_zero: bool,
    /// Extra dashed reference line drawn in grey, with its legend label.
    pub reference: Option<(&'a str, Vec<(f64, f64)>)>,
    /// Legend corner, chosen per chart where its data is unlikely to be.
    pub legend: SeriesLabelPosition,
}

impl LineChart<'_> {
    fn fitted_ranges(&self) -> ((f64, f64), (f64, f64)) {
        if let Some(r) = self.ranges {
            return r;
        }
        let pts = || self.series.iter().flat_map(|(_, s)| s.iter());
        let x = padded_range(pts().map(|p| p.0)).unwrap_or((0.0, 1.0));
        let mut y = padded_range(pts().map(|p| p.1)).unwrap_or((0.0, 1.0));
        let min_y = pts()
            .map(|p| p.1)
            .filter(|v| v.is_finite())
            .fold(f64::INFINITY, f64::min);
        if self.y_from_zero && min_y >= 0.0 {
            y.0 = 0.0;
        }
        (x, y)
    }
}

impl Figure for LineChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let ((x0, x1), (y0, y1)) = self.fitted_ranges();
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FONT, 24))
            .margin(20)
            .x_label_area_size(55)
            .y_label_area_size(80)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc(self.x_desc)
            .y_desc(self.y_desc)
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.08))
            .draw()?;
        if let Some((label, pts)) = &self.reference {
            chart
                .draw_series(DashedLineSeries::new(
                    pts.clone(),
                    8,
                    6,
                    BLACK.mix(0.5).stroke_width(2),
                ))?
                .label(*label)
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.5).stroke_width(2))
                });
        }
        for (i, (label, pts)) in self.series.iter().enumerate() {
            let c = color(i);
            let finite: Vec<(f64, f64)> = pts
                .iter()
                .copied()
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .collect();
            chart
                .draw_series(LineSeries::new(finite.clone(), c.stroke_width(2)))?
                .label(label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3))
                });
            if self.markers {
                chart.draw_series(finite.iter().map(|p| Circle::new(*p, 4, c.filled())))?;
            }
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 16))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .position(self.legend.clone())
            .draw()?;
        Ok(())
    }
}

/// Writes `dir/{stem}.png` and `.svg`: train and eval loss against optimiser step.
pub fn loss_curves(
    dir: &Path,
    stem: &str,
    train: &[(u64, f64)],
    eval: &[(u64, f64)],
) -> Result<PlotFiles, PlotError> {
    let conv = |s: &[(u64, f64)]| s.iter().map(|&(x, y)| (x as f64, y)).collect::<Vec<_>>();
    let fig = LineChart {
        title: "Training and evaluation loss",
        x_desc: "step",
        y_desc: "loss",
        series: vec![("train".into(), conv(train)), ("eval".into(), conv(eval))],
        markers: false,
        ranges: None,
        y_from_zero: false,
        reference: None,
        legend: SeriesLabelPosition::UpperRight,
    };
    render(dir, stem, (1000, 600), &fig)
}

/// Writes `dir/{stem}.png` and `.svg`: RMSE (in `units`) against horizon in minutes,
/// one line per `(label, [(minutes, rmse)])`.
pub fn rmse_by_horizon(
    dir: &Path,
    stem: &str,
    series: &[(String, Vec<(f64, f64)>)],
    units: &str,
) -> Result<PlotFiles, PlotError> {
    let y_desc = if units.trim().is_empty() {
        "RMSE".to_string()
    } else {
        format!("RMSE ({})", units.trim())
    };
    let fig = LineChart {
        title: "RMSE by forecast horizon",
        x_desc: "horizon (minutes)",
        y_desc: &y_desc,
        series: series.to_vec(),
        markers: true,
        ranges: None,
        y_from_zero: true,
        reference: None,
        legend: SeriesLabelPosition::UpperLeft,
    };
    render(dir, stem, (1000, 600), &fig)
}
