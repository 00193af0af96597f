//! Clarke error grid scatter (Clarke et al., Diabetes Care 1987;10:622) on 0–400 mg/dL axes.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::output::{DrawResult, Figure, render};
use super::style::{FONT, color, tick};
use super::{PlotError, PlotFiles};

const MAX: f64 = 400.0;

/// Zone boundary segments in (reference, predicted) mg/dL, matching the zone rules in
/// GLUCOSE.md §2: A is within ±20 % (or both < 70), upper C is y ≥ x + 110, lower C is
/// y ≤ 1.4x − 182, D and E are bounded by 70/180/240.
const BOUNDARIES: [[(f64, f64); 2]; 12] = [
    [(0.0, 70.0), (175.0 / 3.0, 70.0)], // A upper: flat part below x = 58.3
    [(175.0 / 3.0, 70.0), (MAX / 1.2, MAX)], // A upper: y = 1.2x
    [(70.0, 0.0), (70.0, 56.0)],        // A lower: vertical at 70
    [(70.0, 56.0), (MAX, 0.8 * MAX)],   // A lower: y = 0.8x
    [(70.0, 84.0), (70.0, MAX)],        // D/E left edge
    [(0.0, 180.0), (70.0, 180.0)],      // E upper-left floor
    [(70.0, 180.0), (290.0, MAX)],      // upper C: y = x + 110
    [(180.0, 0.0), (180.0, 70.0)],      // E lower-right edge
    [(180.0, 70.0), (MAX, 70.0)],       // E lower-right ceiling
    [(240.0, 70.0), (240.0, 180.0)],    // D right edge
    [(240.0, 180.0), (MAX, 180.0)],     // D right ceiling
    [(130.0, 0.0), (180.0, 70.0)],      // lower C: y = 1.4x − 182
];

/// Zone letters at conventional positions (reference, predicted).
const LABELS: [(&str, f64, f64); 9] = [
    ("A", 30.0, 15.0),
    ("A", 320.0, 350.0),
    ("B", 370.0, 260.0),
    ("B", 280.0, 370.0),
    ("C", 160.0, 370.0),
    ("C", 160.0, 15.0),
    ("D", 30.0, 140.0),
    ("D", 370.0, 120.0),
    ("E", 30.0, 370.0),
];

struct Clarke<'a> {
    reference: &'a [f64],
    predicted: &'a [f64],
}

/// Writes `dir/{stem}.png` and `.svg`: predicted vs reference glucose in mg/dL with the
/// Clarke zones drawn. Pairs with a non-finite value or outside 0–400 are counted, not drawn.
pub fn clarke_grid(
    dir: &Path,
    stem: &str,
    reference_mgdl: &[f64],
    predicted_mgdl: &[f64],
) -> Result<PlotFiles, PlotError> {
    if reference_mgdl.len() != predicted_mgdl.len() {
        return Err(PlotError::Input {
            path: dir.join(format!("{stem}.png")),
            message: format!(
                "{} reference values but {} predicted values; they must be paired",
                reference_mgdl.len(),
                predicted_mgdl.len()
            ),
        });
    }
    let fig = Clarke {
        reference: reference_mgdl,
        predicted: predicted_mgdl,
    };
    render(dir, stem, (820, 820), &fig)
}

fn in_axes(v: f64) -> bool {
    (0.0..=MAX).contains(&v)
}

impl Figure for Clarke<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let pts: Vec<(f64, f64)> = self
            .reference
            .iter()
            .zip(self.predicted)
            .map(|(&x, &y)| (x, y))
            .filter(|&(x, y)| in_axes(x) && in_axes(y))
            .collect();
        let hidden = self.reference.len() - pts.len();
        let title = if hidden == 0 {
            format!("Clarke error grid (n = {})", pts.len())
        } else {
            format!(
                "Clarke error grid (n = {}, {hidden} outside 0–400 or missing not shown)",
                pts.len()
            )
        };
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 22))
            .margin(20)
            .x_label_area_size(55)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..MAX, 0.0..MAX)?;
        chart
            .configure_mesh()
            .x_desc("reference glucose (mg/dL)")
            .y_desc("predicted glucose (mg/dL)")
            .x_labels(9)
            .y_labels(9)
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.06))
            .draw()?;
        chart.draw_series(DashedLineSeries::new(
            vec![(0.0, 0.0), (MAX, MAX)],
            4,
            4,
            BLACK.mix(0.4).stroke_width(1),
        ))?;
        chart.draw_series(
            pts.iter()
                .map(|&p| Circle::new(p, 2, color(0).mix(0.55).filled())),
        )?;
        for seg in BOUNDARIES {
            chart.draw_series(LineSeries::new(seg, BLACK.stroke_width(2)))?;
        }
        let style =
            TextStyle::from((FONT, 26).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
        for (letter, x, y) in LABELS {
            chart.draw_series(std::iter::once(Text::new(letter, (x, y), style.clone())))?;
        }
        Ok(())
    }
}
