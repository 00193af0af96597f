//! Horizontal bar chart of one metric across models/baselines.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::output::{DrawResult, Figure, render};
use super::style::{FONT, color, tick};
use super::{PlotError, PlotFiles};

struct Bars<'a> {
    metric: &'a str,
    bars: &'a [(String, f64)],
}

/// Writes `dir/{stem}.png` and `.svg`: one horizontal bar per `(label, value)`, value printed
/// at the bar end; non-finite values are shown as "n/a".
pub fn metric_bars(
    dir: &Path,
    stem: &str,
    metric: &str,
    bars: &[(String, f64)],
) -> Result<PlotFiles, PlotError> {
    let height = (160 + 50 * bars.len() as u32).max(600);
    render(dir, stem, (1000, height), &Bars { metric, bars })
}

/// Value label: 3 significant-ish digits without noise.
fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        "n/a".into()
    } else if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

impl Figure for Bars<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let n = self.bars.len().max(1);
        let finite = self.bars.iter().map(|b| b.1).filter(|v| v.is_finite());
        let lo = finite.clone().fold(0.0f64, f64::min);
        let hi = finite.fold(0.0f64, f64::max);
        let span = if hi - lo > 0.0 { hi - lo } else { 1.0 };
        // Room on the right (and left for negatives) for the value labels.
        let x0 = if lo < 0.0 { lo - 0.18 * span } else { 0.0 };
        let x1 = if hi > 0.0 || lo >= 0.0 {
            hi + 0.18 * span
        } else {
            0.0
        };
        let label_style = TextStyle::from((FONT, 15).into_font());
        let widest = self
            .bars
            .iter()
            .map(|(l, _)| root.estimate_text_size(l, &label_style).map(|s| s.0))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .max()
            .unwrap_or(40);
        let mut chart = ChartBuilder::on(root)
            .caption(self.metric, (FONT, 24))
            .margin(20)
            .x_label_area_size(55)
            .y_label_area_size(widest + 20)
            .build_cartesian_2d(
                x0..x1,
                (-50..n as i32 * 100 - 50)
                    .with_key_points((0..n as i32).map(|i| i * 100).collect()),
            )?;
        let names: Vec<&str> = self.bars.iter().map(|b| b.0.as_str()).collect();
        // Integer y in hundredths of a row (plotters' key points need an integer axis to
        // accept a custom formatter). Bars run top to bottom in input order: row i sits at
        // y = (n-1-i)*100.
        let name_at = |y: &i32| {
            let row = n as i32 - 1 - y.div_euclid(100);
            usize::try_from(row)
                .ok()
                .and_then(|r| names.get(r))
                .map(|s| s.to_string())
                .unwrap_or_default()
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(4 * n + 1)
            .y_label_formatter(&name_at)
            .x_label_formatter(&tick)
            .x_desc(self.metric)
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.08))
            .draw()?;
        for (i, (_, v)) in self.bars.iter().enumerate() {
            let y = (n - 1 - i) as i32 * 100;
            let text = fmt_value(*v);
            let left = !v.is_finite() || *v >= 0.0;
            let x_text = if v.is_finite() { *v } else { 0.0 };
            let anchor_h = if left { HPos::Left } else { HPos::Right };
            if v.is_finite() {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y - 35), (*v, y + 35)],
                    color(i).filled(),
                )))?;
            }
            let style =
                TextStyle::from((FONT, 15).into_font()).pos(Pos::new(anchor_h, VPos::Center));
            let pad = if left { 0.01 } else { -0.01 } * (x1 - x0);
            chart.draw_series(std::iter::once(Text::new(text, (x_text + pad, y), style)))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::fmt_value;

    #[test]
    fn value_labels() {
        assert_eq!(fmt_value(1.23456), "1.235");
        assert_eq!(fmt_value(123.456), "123.5");
        assert_eq!(fmt_value(f64::NAN), "n/a");
        assert_eq!(fmt_value(0.0), "0.000");
        assert_eq!(fmt_value(0.0001), "1.000e-4");
    }
}
