//! The plots of an evaluation: sample forecasts (night ones included, with quantile bands when
//! the model gives quantiles), RMSE by horizon with the baselines, the Clarke error grid, the
//! interval calibration (models with quantiles) and the run's loss curves.
use std::path::{Path, PathBuf};

use crate::error::Result;
use tsfm_eval::plots::{self, ForecastPlotWindow};

use crate::evaluation::{SplitResult, WindowPrediction};

const MGDL_PER_MMOLL: f64 = tsfm_data::MGDL_PER_MMOLL;

pub fn write_plots(
    dir: &Path,
    result: &SplitResult,
    run: Option<&tsfm_runs::RunDir>,
) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    if result.predictions.is_empty() {
        return Ok(files);
    }
    let units = &result.units;
    let mut made = vec![
        plots::forecast_windows(dir, "forecast_samples", &sample_windows(result), units)?,
        plots::rmse_by_horizon(dir, "rmse_by_horizon", &rmse_series(result), units)?,
    ];
    if let Some((reference, predicted)) = clarke_pairs(result) {
        made.push(plots::clarke_grid(
            dir,
            "clarke_grid",
            &reference,
            &predicted,
        )?);
    }
    if let Some(points) = coverage_points(result) {
        made.push(plots::calibration(
            dir,
            "calibration",
            &[("model".to_string(), points)],
        )?);
    }
    if let Some((train, eval)) = run.and_then(loss_history) {
        made.push(plots::loss_curves(dir, "loss_curves", &train, &eval)?);
    }
    for f in made {
        files.push(f.png);
        files.push(f.svg);
    }
    Ok(files)
}

/// Six sample windows: three whose context ends at the nocturnal anchor (the nights users care
/// about), three spread over the rest of the split.
fn sample_windows(result: &SplitResult) -> Vec<ForecastPlotWindow> {
    let preds = &result.predictions;
    let anchor_s = anchor_seconds(&result.report.nocturnal.context_end);
    let mut picks: Vec<usize> = preds
        .iter()
        .enumerate()
        .filter(|(_, p)| p.origin_ts.rem_euclid(86_400) == anchor_s)
        .map(|(i, _)| i)
        .take(3)
        .collect();
    let spread = preds.len() / 4;
    for k in 1..=3 {
        if picks.len() < 6 {
            picks.push((k * spread).min(preds.len() - 1));
        }
    }
    picks.iter().map(|&i| plot_window(&preds[i])).collect()
}

/// Seconds after midnight of an `HH:MM` anchor (midnight when it does not parse: the config
/// validated it).
fn anchor_seconds(hh_mm: &str) -> i64 {
    hh_mm
        .split_once(':')
        .and_then(|(h, m)| Some(h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60))
        .unwrap_or(0)
}

fn plot_window(p: &WindowPrediction) -> ForecastPlotWindow {
    let step = p.interval_min as i64 * 60;
    let n = p.context.len() as i64;
    ForecastPlotWindow {
        title: format!(
            "{}, context to {}",
            p.series_id,
            tsfm_data::sources::clock::format_datetime(p.origin_ts)
        ),
        context_ts: (0..n).map(|k| p.origin_ts - (n - 1 - k) * step).collect(),
        context: p.context.clone(),
        target_ts: (1..=p.point.len() as i64)
            .map(|k| p.origin_ts + k * step)
            .collect(),
        truth: p.truth.clone(),
        point: p.point.clone(),
        bands: bands(p),
    }
}

/// RMSE by horizon: the model at every step, the baselines at the named horizons.
fn rmse_series(result: &SplitResult) -> Vec<(String, Vec<(f64, f64)>)> {
    let model = result
        .report
        .per_step
        .iter()
        .filter_map(|s| s.rmse.map(|r| (s.minutes as f64, r)))
        .collect();
    let mut series = vec![("model".to_string(), model)];
    for (name, baseline) in &result.report.baselines {
        let points: Vec<(f64, f64)> = baseline
            .at_horizons
            .iter()
            .filter_map(|(label, m)| {
                let minutes: f64 = label.trim_end_matches("min").parse().ok()?;
                Some((minutes, m.rmse?))
            })
            .collect();
        if !points.is_empty() {
            series.push((name.clone(), points));
        }
    }
    series
}

/// (reference, predicted) in mg/dL at every observed step, for glucose units only.
fn clarke_pairs(result: &SplitResult) -> Option<(Vec<f64>, Vec<f64>)> {
    let factor = match result.units.as_str() {
        "mmol/L" => MGDL_PER_MMOLL,
        "mg/dL" => 1.0,
        _ => return None,
    };
    let (mut reference, mut predicted) = (Vec::new(), Vec::new());
    for p in &result.predictions {
        for (t, f) in p.truth.iter().zip(&p.point) {
            if t.is_finite() {
                reference.push(t * factor);
                predicted.push(f * factor);
            }
        }
    }
    Some((reference, predicted))
}

/// Observed against nominal coverage of each central interval the quantiles give.
fn coverage_points(result: &SplitResult) -> Option<Vec<(f64, f64)>> {
    let prob = result.report.probabilistic.as_ref()?;
    let points: Vec<(f64, f64)> = prob
        .intervals
        .iter()
        .map(|i| (i.nominal, i.coverage))
        .collect();
    (!points.is_empty()).then_some(points)
}

/// (step, loss) of training and of evaluation from the run's `logs/train.jsonl`.
type LossHistory = (Vec<(u64, f64)>, Vec<(u64, f64)>);

fn loss_history(run: &tsfm_runs::RunDir) -> Option<LossHistory> {
    let text = std::fs::read_to_string(run.train_log_path()).ok()?;
    let (mut train, mut eval) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let step = v["step"].as_u64().unwrap_or(0);
        if let Some(l) = v["loss"].as_f64() {
            train.push((step, l));
        }
        if let Some(l) = v["eval_loss"].as_f64() {
            eval.push((step, l));
        }
    }
    (!train.is_empty()).then_some((train, eval))
}

/// Central bands `(lo level, hi level, lo, hi)` from symmetric quantile pairs (0.1 with 0.9).
fn bands(p: &WindowPrediction) -> Vec<(f64, f64, Vec<f64>, Vec<f64>)> {
    let Some(q) = &p.quantiles else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, &lo) in q.levels.iter().enumerate() {
        if lo >= 0.5 {
            break;
        }
        if let Some(j) = q
            .levels
            .iter()
            .position(|&hi| (hi - (1.0 - lo)).abs() < 1e-9)
        {
            out.push((lo, q.levels[j], q.values[i].clone(), q.values[j].clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Split;
    use tsfm_eval::{Evaluator, QuantileForecast};

    /// A model with quantiles gets the calibration plot and bands; one without does not.
    #[test]
    fn calibration_plot_exactly_when_the_model_gives_quantiles() {
        let window = |k: i64, quantiles: Option<QuantileForecast>| WindowPrediction {
            series_id: "s".into(),
            interval_min: 5,
            origin_ts: 86_400 * 10 + k * 3600,
            context: vec![6.0, 6.5, 7.0],
            truth: vec![7.0, 7.5],
            point: vec![7.2, 7.4],
            quantiles,
        };
        let q = || QuantileForecast {
            levels: vec![0.1, 0.5, 0.9],
            values: vec![vec![6.5, 6.8], vec![7.2, 7.4], vec![7.6, 8.0]],
        };
        let result = |with_q: bool| {
            let predictions: Vec<WindowPrediction> =
                (0..8).map(|k| window(k, with_q.then(q))).collect();
            let mut ev = Evaluator::new();
            for p in &predictions {
                ev.add(p.to_eval());
            }
            SplitResult {
                split: Split::Test,
                units: "mmol/L".into(),
                report: ev.finish("mmol/L", &[5, 10]),
                predictions,
                nocturnal: false,
                metrics: vec!["rmse".into()],
                rows: ev.rows().to_vec(),
            }
        };
        let with = result(true);
        assert_eq!(
            bands(&with.predictions[0]),
            vec![(0.1, 0.9, vec![6.5, 6.8], vec![7.6, 8.0])]
        );
        let tmp = tempfile::tempdir().unwrap();
        let files = write_plots(tmp.path(), &with, None).unwrap();
        assert!(files.contains(&tmp.path().join("calibration.png")));
        assert!(tmp.path().join("calibration.svg").is_file());

        let tmp = tempfile::tempdir().unwrap();
        let files = write_plots(tmp.path(), &result(false), None).unwrap();
        assert!(tmp.path().join("forecast_samples.png").is_file());
        assert!(!files.iter().any(|f| f.ends_with("calibration.png")));
    }
}
