//! Accumulates forecast windows and turns them into a [`MetricsReport`].
//!
//! Pooled metrics treat every (window, step) target alike; `per_series_mean` is the unweighted
//! mean of per-series values (the two differ; both are reported). Targets that are NaN are left
//! out everywhere.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::baselines;
use crate::metrics::events::{EventAccumulator, EventScores};
use crate::metrics::glucose::{GlucoseAccumulator, GlucoseMetrics, GlucoseUnits};
use crate::metrics::point::{PointAccumulator, PointMetrics, mean_of, naive_scale};
use crate::metrics::probabilistic::{ProbabilisticMetrics, QuantileAccumulator};
use crate::nocturnal::{is_midnight_origin, is_night, target_ts};

/// Quantile forecast: levels (ascending) and values indexed `[level][step]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantileForecast {
    pub levels: Vec<f64>,
    pub values: Vec<Vec<f64>>,
}

/// One forecast window of a single target channel, in data units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowEval {
    pub series_id: String,
    /// Naive local timestamp (s) of the last context reading.
    pub origin_ts: i64,
    pub interval_min: u32,
    pub context: Vec<f64>,
    pub truth: Vec<f64>,
    pub point: Vec<f64>,
    pub quantiles: Option<QuantileForecast>,
}

/// What is kept of a window after `add` (context is reduced to its baselines and MASE scale).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowRow {
    pub series_id: String,
    pub origin_ts: i64,
    pub interval_min: u32,
    pub truth: Vec<f64>,
    pub point: Vec<f64>,
    pub quantiles: Option<QuantileForecast>,
    pub mase_scale: Option<f64>,
    pub persistence: Vec<f64>,
    pub seasonal_naive: Vec<f64>,
    pub linear: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: usize,
    pub minutes: u32,
    pub n: usize,
    pub rmse: Option<f64>,
    pub mae: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NocturnalReport {
    /// Windows whose context ends at 00:00.
    pub midnight_episodes: usize,
    /// All steps of midnight-anchored episodes (the upstream "nocturnal RMSE" style).
    pub episode: PointMetrics,
    /// Targets of midnight-anchored episodes with local time in [00:00, 06:00).
    pub episode_night: PointMetrics,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayNightReport {
    /// Targets with local time in [06:00, 24:00), all windows.
    pub day: PointMetrics,
    /// Targets with local time in [00:00, 06:00), all windows.
    pub night: PointMetrics,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlucoseReport {
    pub units: GlucoseUnits,
    pub overall: GlucoseMetrics,
    pub at_horizons: BTreeMap<String, GlucoseMetrics>,
    /// Events < 3.9 mmol/L (70 mg/dL) lasting ≥ 15 min.
    pub hypo_level1: EventScores,
    /// Events < 3.0 mmol/L (54 mg/dL) lasting ≥ 15 min.
    pub hypo_level2: EventScores,
}

/// A baseline scored on the targets where it is available; the model is rescored on exactly
/// those targets so that `skill = 1 − model_rmse / baseline_rmse` compares like with like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineReport {
    pub available: bool,
    pub overall: PointMetrics,
    pub model_rmse: Option<f64>,
    pub skill: Option<f64>,
    pub at_horizons: BTreeMap<String, PointMetrics>,
    pub skill_at_horizons: BTreeMap<String, Option<f64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsReport {
    pub units: String,
    pub n_windows: usize,
    /// Pooled over all (window, step) targets.
    pub overall: PointMetrics,
    /// Mean of per-series values.
    pub per_series_mean: PointMetrics,
    pub per_step: Vec<StepMetrics>,
    /// Keyed "30min", "60min", …; pooled over windows at that single step.
    pub at_horizons: BTreeMap<String, PointMetrics>,
    pub per_series: BTreeMap<String, PointMetrics>,
    pub nocturnal: NocturnalReport,
    pub day_night: DayNightReport,
    pub glucose: Option<GlucoseReport>,
    pub probabilistic: Option<ProbabilisticMetrics>,
    /// "persistence", "seasonal_naive_24h", "linear_k6".
    pub baselines: BTreeMap<String, BaselineReport>,
}

/// Collects windows; see [`Evaluator::finish`].
#[derive(Debug, Clone, Default)]
pub struct Evaluator {
    rows: Vec<WindowRow>,
}

/// Step index (0-based) of a horizon in minutes, if it is a whole step within `horizon`.
fn horizon_step(minutes: u32, interval_min: u32, horizon: usize) -> Option<usize> {
    (interval_min > 0 && minutes > 0 && minutes.is_multiple_of(interval_min))
        .then(|| (minutes / interval_min) as usize)
        .filter(|&s| s <= horizon)
        .map(|s| s - 1)
}

fn key(minutes: u32) -> String {
    format!("{minutes}min")
}

fn skill(model: Option<f64>, base: Option<f64>) -> Option<f64> {
    match (model, base) {
        (Some(m), Some(b)) if b > 0.0 => Some(1.0 - m / b),
        _ => None,
    }
}

impl Evaluator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one window. The context is reduced to baselines and the MASE scale here.
    pub fn add(&mut self, w: WindowEval) {
        let h = w.truth.len();
        self.rows.push(WindowRow {
            mase_scale: naive_scale(&w.context),
            persistence: baselines::persistence(&w.context, h),
            seasonal_naive: baselines::seasonal_naive(&w.context, h, w.interval_min, 1440),
            linear: baselines::linear_extrapolation(&w.context, h, baselines::LINEAR_K),
            series_id: w.series_id,
            origin_ts: w.origin_ts,
            interval_min: w.interval_min,
            truth: w.truth,
            point: w.point,
            quantiles: w.quantiles,
        });
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Per-window rows (for saving predictions).
    pub fn rows(&self) -> &[WindowRow] {
        &self.rows
    }

    /// Computes every metric. `units` selects glucose metrics ("mmol/L" or "mg/dL") and the
    /// Brier threshold; `horizons_min` names the horizons reported individually.
    pub fn finish(&self, units: &str, horizons_min: &[u32]) -> MetricsReport {
        let gu = GlucoseUnits::parse(units);
        let mut overall = PointAccumulator::default();
        let mut per_step: Vec<PointAccumulator> = Vec::new();
        let mut step_minutes: Vec<u32> = Vec::new();
        let mut at_h: BTreeMap<u32, PointAccumulator> = BTreeMap::new();
        let mut per_series: BTreeMap<String, PointAccumulator> = BTreeMap::new();
        let (mut day, mut night) = (PointAccumulator::default(), PointAccumulator::default());
        let (mut ep, mut ep_night, mut episodes) =
            (PointAccumulator::default(), PointAccumulator::default(), 0);
        let mut glucose = gu.map(|u| {
            let hz: BTreeMap<u32, GlucoseAccumulator> = horizons_min
                .iter()
                .map(|&m| (m, GlucoseAccumulator::new(u)))
                .collect();
            (
                GlucoseAccumulator::new(u),
                hz,
                EventAccumulator::new(u.hypo_level1(), 15),
                EventAccumulator::new(u.hypo_level2(), 15),
            )
        });
        let mut prob: Option<QuantileAccumulator> = None;
        // Baselines: (baseline accumulator, model accumulator on the same targets), overall and per horizon.
        let names = ["persistence", "seasonal_naive_24h", "linear_k6"];
        type Pair = (PointAccumulator, PointAccumulator);
        let mut base: Vec<(Pair, BTreeMap<u32, Pair>)> =
            names.iter().map(|_| Default::default()).collect();

        for r in &self.rows {
            let midnight = is_midnight_origin(r.origin_ts);
            episodes += usize::from(midnight);
            let series = per_series.entry(r.series_id.clone()).or_default();
            let nights: Vec<bool> = (1..=r.truth.len())
                .map(|s| is_night(target_ts(r.origin_ts, s, r.interval_min)))
                .collect();
            if per_step.len() < r.truth.len() {
                per_step.resize(r.truth.len(), PointAccumulator::default());
                step_minutes.resize(r.truth.len(), 0);
            }
            if let Some(q) = &r.quantiles {
                let acc = prob.get_or_insert_with(|| {
                    QuantileAccumulator::new(&q.levels, gu.map(|u| u.hypo_level1()))
                });
                if acc.levels() == q.levels.as_slice() {
                    for (s, &y) in r.truth.iter().enumerate() {
                        let v: Vec<f64> = q
                            .values
                            .iter()
                            .map(|l| l.get(s).copied().unwrap_or(f64::NAN))
                            .collect();
                        acc.push(y, &v);
                    }
                } else {
                    acc.skipped_windows += 1;
                }
            }
            for (s, (&y, &p)) in r.truth.iter().zip(&r.point).enumerate() {
                let sc = r.mase_scale;
                overall.push(y, p, sc);
                series.push(y, p, sc);
                per_step[s].push(y, p, sc);
                step_minutes[s] = (s as u32 + 1) * r.interval_min;
                if nights[s] {
                    night.push(y, p, sc)
                } else {
                    day.push(y, p, sc)
                }
                if midnight {
                    ep.push(y, p, sc);
                    if nights[s] {
                        ep_night.push(y, p, sc);
                    }
                }
                let hz: Vec<u32> = horizons_min
                    .iter()
                    .copied()
                    .filter(|&m| horizon_step(m, r.interval_min, r.truth.len()) == Some(s))
                    .collect();
                for &m in &hz {
                    at_h.entry(m).or_default().push(y, p, sc);
                }
                if let Some((g, gh, _, _)) = glucose.as_mut() {
                    g.push(y, p);
                    for &m in &hz {
                        if let Some(a) = gh.get_mut(&m) {
                            a.push(y, p);
                        }
                    }
                }
                let preds = [r.persistence[s], r.seasonal_naive[s], r.linear[s]];
                for (b, &bp) in base.iter_mut().zip(&preds) {
                    if bp.is_finite() && y.is_finite() && p.is_finite() {
                        b.0.0.push(y, bp, sc);
                        b.0.1.push(y, p, sc);
                        for &m in &hz {
                            let e = b.1.entry(m).or_default();
                            e.0.push(y, bp, sc);
                            e.1.push(y, p, sc);
                        }
                    }
                }
            }
            if let Some((_, _, e1, e2)) = glucose.as_mut() {
                e1.push(&r.truth, &r.point, &nights, r.interval_min);
                e2.push(&r.truth, &r.point, &nights, r.interval_min);
            }
        }

        let per_series: BTreeMap<String, PointMetrics> = per_series
            .into_iter()
            .map(|(k, a)| (k, a.finish()))
            .collect();
        let series_list: Vec<PointMetrics> = per_series.values().cloned().collect();
        let baselines = names
            .iter()
            .zip(base)
            .map(|(name, ((b, m), hz))| {
                let bo = b.finish();
                let mo = m.finish();
                let mut at = BTreeMap::new();
                let mut sk = BTreeMap::new();
                for (minutes, (bh, mh)) in hz {
                    let (bh, mh) = (bh.finish(), mh.finish());
                    sk.insert(key(minutes), skill(mh.rmse, bh.rmse));
                    at.insert(key(minutes), bh);
                }
                let report = BaselineReport {
                    available: bo.n > 0,
                    skill: skill(mo.rmse, bo.rmse),
                    model_rmse: mo.rmse,
                    overall: bo,
                    at_horizons: at,
                    skill_at_horizons: sk,
                };
                (name.to_string(), report)
            })
            .collect();
        MetricsReport {
            units: units.to_string(),
            n_windows: self.rows.len(),
            overall: overall.finish(),
            per_series_mean: mean_of(&series_list),
            per_step: per_step
                .iter()
                .zip(&step_minutes)
                .enumerate()
                .map(|(s, (a, &minutes))| {
                    let m = a.finish();
                    StepMetrics {
                        step: s + 1,
                        minutes,
                        n: m.n,
                        rmse: m.rmse,
                        mae: m.mae,
                    }
                })
                .collect(),
            at_horizons: at_h
                .into_iter()
                .map(|(m, a)| (key(m), a.finish()))
                .collect(),
            per_series,
            nocturnal: NocturnalReport {
                midnight_episodes: episodes,
                episode: ep.finish(),
                episode_night: ep_night.finish(),
            },
            day_night: DayNightReport {
                day: day.finish(),
                night: night.finish(),
            },
            glucose: glucose.zip(gu).map(|((g, gh, e1, e2), u)| GlucoseReport {
                units: u,
                overall: g.finish(),
                at_horizons: gh.into_iter().map(|(m, a)| (key(m), a.finish())).collect(),
                hypo_level1: e1.finish(),
                hypo_level2: e2.finish(),
            }),
            probabilistic: prob.map(|a| a.finish()),
            baselines,
        }
    }
}
