//! Small multiples of forecast windows: context, truth, point forecast and quantile bands.

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::combinators::WithKeyPoints;
use plotters::coord::types::{RangedCoordf64, RangedCoordi64};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::output::{DrawResult, Figure, render};
use super::style::{FONT, color, padded_range, tick};
use super::{PlotError, PlotFiles};

/// One forecast origin to draw. Timestamps are naive local seconds since 1970-01-01;
/// NaN values are gaps. `bands` holds `(lo_level, hi_level, lo, hi)`, e.g. `(0.1, 0.9, ..)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastPlotWindow {
    pub title: String,
    pub context_ts: Vec<i64>,
    pub context: Vec<f64>,
    pub target_ts: Vec<i64>,
    pub truth: Vec<f64>,
    pub point: Vec<f64>,
    pub bands: Vec<(f64, f64, Vec<f64>, Vec<f64>)>,
}

const CONTEXT: RGBColor = RGBColor(110, 110, 110);
const TRUTH: RGBColor = BLACK;
const THRESHOLD: RGBColor = RGBColor(214, 39, 40);

/// Writes `dir/{stem}.png` and `.svg`: one panel per window, x axis in local HH:MM.
/// A hypoglycaemia line is drawn at 3.9 when `units` is "mmol/L" (70 for "mg/dL").
pub fn forecast_windows(
    dir: &Path,
    stem: &str,
    windows: &[ForecastPlotWindow],
    units: &str,
) -> Result<PlotFiles, PlotError> {
    let bad = |message: String| PlotError::Input {
        path: dir.join(format!("{stem}.png")),
        message,
    };
    if windows.is_empty() {
        return Err(bad("no forecast windows to plot".into()));
    }
    for (i, w) in windows.iter().enumerate() {
        validate(w).map_err(|m| bad(format!("window {i} ({:?}): {m}", w.title)))?;
    }
    let n = windows.len();
    let cols = (n as f64).sqrt().ceil().min(4.0) as usize;
    let rows = n.div_ceil(cols);
    let size = if n == 1 {
        (1000, 620)
    } else {
        (cols as u32 * 500, rows as u32 * 340 + HEADER)
    };
    let fig = Forecasts {
        windows,
        units,
        rows,
        cols,
    };
    render(dir, stem, size, &fig)
}

fn validate(w: &ForecastPlotWindow) -> Result<(), String> {
    if w.context_ts.len() != w.context.len() {
        return Err(format!(
            "context_ts has {} values but context has {}",
            w.context_ts.len(),
            w.context.len()
        ));
    }
    let n = w.target_ts.len();
    if w.truth.len() != n || w.point.len() != n {
        return Err(format!(
            "target_ts has {n} values but truth has {} and point has {}",
            w.truth.len(),
            w.point.len()
        ));
    }
    for (lo_l, hi_l, lo, hi) in &w.bands {
        if lo.len() != n || hi.len() != n {
            return Err(format!(
                "band {lo_l}-{hi_l} has {} lower and {} upper values, expected {n}",
                lo.len(),
                hi.len()
            ));
        }
    }
    Ok(())
}

/// Height of the shared title + legend strip.
const HEADER: u32 = 70;

struct Forecasts<'a> {
    windows: &'a [ForecastPlotWindow],
    units: &'a str,
    rows: usize,
    cols: usize,
}

fn threshold(units: &str) -> Option<f64> {
    match units.trim().to_ascii_lowercase().as_str() {
        "mmol/l" => Some(3.9),
        "mg/dl" => Some(70.0),
        _ => None,
    }
}

fn y_label(units: &str) -> String {
    match threshold(units) {
        Some(_) => format!("glucose ({})", units.trim()),
        None if units.trim().is_empty() => "value".to_string(),
        None => format!("value ({})", units.trim()),
    }
}

fn hhmm(ts: i64) -> String {
    let s = ts.rem_euclid(86_400);
    format!("{:02}:{:02}", s / 3600, (s % 3600) / 60)
}

/// Tick positions on round clock times, at most ~6 per panel.
fn time_ticks(lo: i64, hi: i64) -> Vec<i64> {
    const STEPS_MIN: [i64; 11] = [5, 10, 15, 30, 60, 120, 180, 240, 360, 720, 1440];
    let span = (hi - lo).max(1);
    let step = STEPS_MIN
        .iter()
        .map(|m| m * 60)
        .find(|s| span / s <= 6)
        .unwrap_or(86_400 * ((span / 86_400 / 6) + 1));
    let first = lo.div_euclid(step) * step + if lo.rem_euclid(step) == 0 { 0 } else { step };
    (0..)
        .map(|k| first + k * step)
        .take_while(|t| *t <= hi)
        .collect()
}

/// Splits a series at NaN values (and length mismatches) into drawable runs.
fn runs(ts: &[i64], vals: &[f64]) -> Vec<Vec<(i64, f64)>> {
    let mut out = vec![];
    let mut cur = vec![];
    for (&t, &v) in ts.iter().zip(vals) {
        if v.is_finite() {
            cur.push((t, v));
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn level_label(lo: f64, hi: f64) -> String {
    let pct = |v: f64| {
        let p = v * 100.0;
        if (p - p.round()).abs() < 1e-9 {
            format!("{}", p.round() as i64)
        } else {
            format!("{p:.1}")
        }
    };
    format!("{}–{} % band", pct(lo), pct(hi))
}

impl Forecasts<'_> {
    fn draw_legend<DB: DrawingBackend>(&self, top: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let title = TextStyle::from((FONT, 22).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        let (w, _) = top.dim_in_pixel();
        top.draw(&Text::new("Forecasts vs. truth", (w as i32 / 2, 6), title))?;
        let label = TextStyle::from((FONT, 16).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        let y = 50;
        let mut x = 20;
        let item = |x: &mut i32, text: &str, glyph: &dyn Fn(i32) -> DrawResult| -> DrawResult {
            glyph(*x)?;
            top.draw(&Text::new(text.to_string(), (*x + 34, y), label.clone()))?;
            let (tw, _) = top.estimate_text_size(text, &label)?;
            *x += 34 + tw as i32 + 26;
            Ok(())
        };
        let line = |c: RGBColor, width: u32| {
            move |x: i32| -> DrawResult {
                top.draw(&PathElement::new(
                    vec![(x, y), (x + 28, y)],
                    c.stroke_width(width),
                ))?;
                Ok(())
            }
        };
        item(&mut x, "context", &line(CONTEXT, 2))?;
        item(&mut x, "truth", &line(TRUTH, 2))?;
        item(&mut x, "forecast (point)", &line(color(0), 3))?;
        let mut levels: Vec<(f64, f64)> = vec![];
        for w in self.windows {
            for (lo, hi, _, _) in &w.bands {
                if !levels.iter().any(|(a, b)| a == lo && b == hi) {
                    levels.push((*lo, *hi));
                }
            }
        }
        levels.sort_by(|a, b| (b.1 - b.0).total_cmp(&(a.1 - a.0)));
        for (k, (lo, hi)) in levels.iter().enumerate() {
            let alpha = band_alpha(k, levels.len());
            item(&mut x, &level_label(*lo, *hi), &|x| {
                top.draw(&Rectangle::new(
                    [(x, y - 8), (x + 28, y + 8)],
                    color(0).mix(alpha).filled(),
                ))?;
                Ok(())
            })?;
        }
        if let Some(t) = threshold(self.units) {
            let text = format!("hypo threshold {t} {}", self.units.trim());
            item(&mut x, &text, &|x| {
                top.draw(&PathElement::new(
                    vec![(x, y), (x + 10, y)],
                    THRESHOLD.stroke_width(2),
                ))?;
                top.draw(&PathElement::new(
                    vec![(x + 18, y), (x + 28, y)],
                    THRESHOLD.stroke_width(2),
                ))?;
                Ok(())
            })?;
        }
        Ok(())
    }
}

/// Wider bands are lighter; nested bands darken towards the median.
fn band_alpha(rank_from_widest: usize, count: usize) -> f64 {
    if count <= 1 {
        0.25
    } else {
        0.12 + 0.18 * rank_from_widest as f64 / (count - 1) as f64
    }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    w: &ForecastPlotWindow,
    units: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let all_ts = w.context_ts.iter().chain(&w.target_ts).copied();
    let (x0, x1) = match (all_ts.clone().min(), all_ts.max()) {
        (Some(a), Some(b)) if b > a => (a, b),
        (Some(a), _) => (a - 1800, a + 1800),
        _ => (0, 3600),
    };
    // A little room right of the last forecast step so lines do not touch the frame.
    let x1 = x1 + (x1 - x0) / 40;
    let thr = threshold(units);
    let values = w
        .context
        .iter()
        .chain(&w.truth)
        .chain(&w.point)
        .chain(
            w.bands
                .iter()
                .flat_map(|(_, _, lo, hi)| lo.iter().chain(hi)),
        )
        .copied()
        .chain(thr);
    let (y0, y1) = padded_range(values).unwrap_or((0.0, 1.0));

    let mut chart = ChartBuilder::on(area)
        .caption(&w.title, (FONT, 18))
        .margin(8)
        // Room for the last time label, centred on the right edge.
        .margin_right(24)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d((x0..x1).with_key_points(time_ticks(x0, x1)), y0..y1)?;
    chart
        .configure_mesh()
        .x_label_formatter(&|t| hhmm(*t))
        .y_labels(6)
        .y_label_formatter(&tick)
        .x_desc("local time (HH:MM)")
        .y_desc(y_label(units))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()?;

    draw_bands(&mut chart, w)?;
    draw_lines(&mut chart, w, thr, (x0, x1), (y0, y1))
}

/// The chart `draw_panel` builds: time (seconds, with chosen tick points) against values.
type PanelChart<'a, DB> =
    ChartContext<'a, DB, Cartesian2d<WithKeyPoints<RangedCoordi64>, RangedCoordf64>>;

/// The quantile bands, widest first so narrower ones draw on top; a band is cut where a bound
/// is missing instead of being joined across the gap.
fn draw_bands<DB: DrawingBackend>(
    chart: &mut PanelChart<'_, DB>,
    w: &ForecastPlotWindow,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let mut order: Vec<usize> = (0..w.bands.len()).collect();
    let width = |i: usize| w.bands[i].1 - w.bands[i].0;
    order.sort_by(|&a, &b| width(b).total_cmp(&width(a)));
    for (rank, &i) in order.iter().enumerate() {
        let (_, _, lo, hi) = &w.bands[i];
        let style = color(0).mix(band_alpha(rank, order.len())).filled();
        let mut run: Vec<(i64, f64, f64)> = vec![];
        let mut flush = |run: &mut Vec<(i64, f64, f64)>| -> DrawResult {
            if run.len() >= 2 {
                let pts: Vec<(i64, f64)> = run
                    .iter()
                    .map(|p| (p.0, p.2))
                    .chain(run.iter().rev().map(|p| (p.0, p.1)))
                    .collect();
                chart.draw_series(std::iter::once(Polygon::new(pts, style)))?;
            }
            run.clear();
            Ok(())
        };
        for ((&t, &l), &h) in w.target_ts.iter().zip(lo).zip(hi) {
            if l.is_finite() && h.is_finite() {
                run.push((t, l, h));
            } else {
                flush(&mut run)?;
            }
        }
        flush(&mut run)?;
    }

    Ok(())
}

/// The hypoglycaemia threshold, the forecast origin, then context, truth and forecast lines.
fn draw_lines<DB: DrawingBackend>(
    chart: &mut PanelChart<'_, DB>,
    w: &ForecastPlotWindow,
    thr: Option<f64>,
    (x0, x1): (i64, i64),
    (y0, y1): (f64, f64),
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    if let Some(t) = thr {
        chart.draw_series(DashedLineSeries::new(
            vec![(x0, t), (x1, t)],
            10,
            8,
            THRESHOLD.stroke_width(2),
        ))?;
    }
    if let Some(&origin) = w.target_ts.first() {
        chart.draw_series(DashedLineSeries::new(
            vec![(origin, y0), (origin, y1)],
            4,
            4,
            BLACK.mix(0.35).stroke_width(1),
        ))?;
    }

    let series: [(&[i64], &[f64], ShapeStyle); 3] = [
        (&w.context_ts, &w.context, CONTEXT.stroke_width(2)),
        (&w.target_ts, &w.truth, TRUTH.stroke_width(2)),
        (&w.target_ts, &w.point, color(0).stroke_width(3)),
    ];
    for (ts, vals, style) in series {
        for run in runs(ts, vals) {
            if run.len() == 1 {
                chart.draw_series(std::iter::once(Circle::new(run[0], 3, style.filled())))?;
            } else {
                chart.draw_series(LineSeries::new(run, style))?;
            }
        }
    }
    Ok(())
}

impl Figure for Forecasts<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let (top, body) = root.split_vertically(HEADER);
        self.draw_legend(&top)?;
        let panels = body.split_evenly((self.rows, self.cols));
        for (w, area) in self.windows.iter().zip(&panels) {
            draw_panel(area, w, self.units)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_fall_on_round_clock_times() {
        // 23:10 to 03:20 next day: span 250 min, 60-min step gives 00:00..03:00.
        let lo = 86_400 * 3 + 23 * 3600 + 600;
        let hi = lo + 250 * 60;
        let ticks: Vec<String> = time_ticks(lo, hi).into_iter().map(hhmm).collect();
        assert_eq!(ticks, ["00:00", "01:00", "02:00", "03:00"]);
    }

    #[test]
    fn runs_split_at_gaps() {
        let r = runs(&[0, 1, 2, 3, 4], &[1.0, f64::NAN, 2.0, 3.0, f64::NAN]);
        assert_eq!(r, vec![vec![(0, 1.0)], vec![(2, 2.0), (3, 3.0)]]);
    }

    #[test]
    fn hhmm_of_negative_timestamp_wraps() {
        assert_eq!(hhmm(-60), "23:59");
        assert_eq!(level_label(0.1, 0.9), "10–90 % band");
        assert_eq!(level_label(0.025, 0.975), "2.5–97.5 % band");
    }
}
