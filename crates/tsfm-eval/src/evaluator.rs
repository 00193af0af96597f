//! Accumulates forecast windows and turns them into a [`MetricsReport`].
//!
//! Pooled metrics treat every (window, step) target alike; `per_series_mean` is the unweighted
//! mean of per-series values (the two differ; both are reported). Targets that are NaN are left
//! out everywhere.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::baselines;
use crate::metrics::dilate::{DilateAccumulator, DilateMetrics};
use crate::metrics::events::{EventAccumulator, EventScores};
use crate::metrics::glucose::{GlucoseAccumulator, GlucoseMetrics, GlucoseUnits};
use crate::metrics::point::{PointAccumulator, PointMetrics, mean_of, naive_scale};
use crate::metrics::probabilistic::ProbabilisticMetrics;
use crate::nocturnal::{is_anchor_origin, is_night, target_ts};
use crate::options::{EvaluatorOptions, OptionsError};

mod prob_set;
use prob_set::ProbSet;

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
    /// Windows whose context ends at `context_end` (00:00 by default; the name predates the
    /// option).
    pub midnight_episodes: usize,
    /// Episode targets: steps within `horizon_hours` of the anchor (the upstream "nocturnal
    /// RMSE" style).
    pub episode: PointMetrics,
    /// Episode targets with local time in [00:00, 06:00).
    pub episode_night: PointMetrics,
    /// "HH:MM" anchor used.
    #[serde(default = "default_context_end")]
    pub context_end: String,
    #[serde(default = "default_horizon_hours")]
    pub horizon_hours: f64,
    /// Quantile metrics on the episode targets.
    #[serde(default)]
    pub probabilistic: Option<ProbabilisticMetrics>,
    /// DILATE terms of the episodes (each episode's targets as one series).
    #[serde(default)]
    pub dilate: Option<DilateMetrics>,
}

// Reports written before the options existed used the midnight anchor and 8 h.
fn default_context_end() -> String {
    "00:00".into()
}

fn default_horizon_hours() -> f64 {
    8.0
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
    /// Quantile metrics at each named horizon (keys as `at_horizons`).
    #[serde(default)]
    pub probabilistic_at_horizons: BTreeMap<String, ProbabilisticMetrics>,
    /// DILATE terms of the point forecast over whole windows.
    #[serde(default)]
    pub dilate: Option<DilateMetrics>,
}

/// Collects windows; see [`Evaluator::finish`]. The default anchor 0 matches the default
/// options' "00:00".
#[derive(Debug, Clone, Default)]
pub struct Evaluator {
    rows: Vec<WindowRow>,
    options: EvaluatorOptions,
    /// `options.context_end` in seconds of the day.
    anchor_s: i64,
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

/// Number of leading steps within `hours` of the origin (all steps at a zero interval).
fn steps_within(hours: f64, interval_min: u32, steps: usize) -> usize {
    if interval_min == 0 {
        return steps;
    }
    // The small slack keeps 8 h / 5 min = 96 exact despite rounding of `hours`.
    let n = (hours * 60.0 / f64::from(interval_min) + 1e-9).floor();
    (n.max(0.0) as usize).min(steps)
}

impl Evaluator {
    /// Default options (midnight anchor, 8 h episodes, the forecasts' own levels).
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the options (e.g. that `context_end` is "HH:MM").
    pub fn with_options(options: EvaluatorOptions) -> Result<Self, OptionsError> {
        let anchor_s = options.validate()?;
        Ok(Self {
            rows: Vec::new(),
            options,
            anchor_s,
        })
    }

    pub fn options(&self) -> &EvaluatorOptions {
        &self.options
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
    /// default Brier threshold; `horizons_min` names the horizons reported individually.
    pub fn finish(&self, units: &str, horizons_min: &[u32]) -> MetricsReport {
        let gu = GlucoseUnits::parse(units);
        let mut acc = Accums::new(gu, horizons_min, &self.options);
        for r in &self.rows {
            acc.push_window(r, self.anchor_s, &self.options, horizons_min);
        }
        acc.into_report(units, gu, self.rows.len(), &self.options)
    }
}

const BASELINES: [&str; 3] = ["persistence", "seasonal_naive_24h", "linear_k6"];

/// (baseline, model on the same targets).
type Pair = (PointAccumulator, PointAccumulator);

#[derive(Default)]
struct BaselineAcc {
    overall: Pair,
    at_h: BTreeMap<u32, Pair>,
}

struct GlucoseAccs {
    overall: GlucoseAccumulator,
    at_h: BTreeMap<u32, GlucoseAccumulator>,
    level1: EventAccumulator,
    level2: EventAccumulator,
}

/// Running sums of one `finish`.
struct Accums {
    overall: PointAccumulator,
    per_step: Vec<PointAccumulator>,
    step_minutes: Vec<u32>,
    at_h: BTreeMap<u32, PointAccumulator>,
    per_series: BTreeMap<String, PointAccumulator>,
    day: PointAccumulator,
    night: PointAccumulator,
    episodes: usize,
    episode: PointAccumulator,
    episode_night: PointAccumulator,
    glucose: Option<GlucoseAccs>,
    prob: ProbSet,
    base: Vec<BaselineAcc>,
    dilate: DilateAccumulator,
    dilate_episode: DilateAccumulator,
}

/// Where one target of a window belongs.
struct Target<'a> {
    step: usize,
    night: bool,
    episode: bool,
    horizons: &'a [u32],
}

impl Accums {
    fn new(gu: Option<GlucoseUnits>, horizons_min: &[u32], o: &EvaluatorOptions) -> Self {
        let glucose = gu.map(|u| GlucoseAccs {
            overall: GlucoseAccumulator::new(u),
            at_h: horizons_min
                .iter()
                .map(|&m| (m, GlucoseAccumulator::new(u)))
                .collect(),
            level1: EventAccumulator::new(u.hypo_level1(), 15),
            level2: EventAccumulator::new(u.hypo_level2(), 15),
        });
        let threshold = o.brier_threshold.or(gu.map(|u| u.hypo_level1()));
        Self {
            overall: PointAccumulator::default(),
            per_step: Vec::new(),
            step_minutes: Vec::new(),
            at_h: BTreeMap::new(),
            per_series: BTreeMap::new(),
            day: PointAccumulator::default(),
            night: PointAccumulator::default(),
            episodes: 0,
            episode: PointAccumulator::default(),
            episode_night: PointAccumulator::default(),
            glucose,
            prob: ProbSet::new(o.quantiles.clone(), threshold),
            base: BASELINES.iter().map(|_| BaselineAcc::default()).collect(),
            dilate: DilateAccumulator::new(o.dilate_gamma, o.dilate_alpha),
            dilate_episode: DilateAccumulator::new(o.dilate_gamma, o.dilate_alpha),
        }
    }

    fn push_window(&mut self, r: &WindowRow, anchor_s: i64, o: &EvaluatorOptions, hz: &[u32]) {
        let h = r.truth.len();
        let anchored = is_anchor_origin(r.origin_ts, anchor_s);
        self.episodes += usize::from(anchored);
        let episode_len = if anchored {
            steps_within(o.horizon_hours, r.interval_min, h)
        } else {
            0
        };
        let nights: Vec<bool> = (1..=h)
            .map(|s| is_night(target_ts(r.origin_ts, s, r.interval_min)))
            .collect();
        let horizons: Vec<Vec<u32>> = (0..h)
            .map(|s| {
                hz.iter()
                    .copied()
                    .filter(|&m| horizon_step(m, r.interval_min, h) == Some(s))
                    .collect()
            })
            .collect();
        if self.per_step.len() < h {
            self.per_step.resize(h, PointAccumulator::default());
            self.step_minutes.resize(h, 0);
        }
        if let Some(q) = &r.quantiles {
            self.prob.push_window(&r.truth, q, episode_len, &horizons);
        }
        for s in 0..h.min(r.point.len()) {
            let t = Target {
                step: s,
                night: nights[s],
                episode: s < episode_len,
                horizons: &horizons[s],
            };
            self.push_target(r, &t);
        }
        if let Some(g) = self.glucose.as_mut() {
            g.level1.push(&r.truth, &r.point, &nights, r.interval_min);
            g.level2.push(&r.truth, &r.point, &nights, r.interval_min);
        }
        self.dilate.push(&r.truth, &r.point);
        if let Some(p) = r.point.get(..episode_len).filter(|_| episode_len > 0) {
            self.dilate_episode.push(&r.truth[..episode_len], p);
        }
    }

    fn push_target(&mut self, r: &WindowRow, t: &Target) {
        let s = t.step;
        let (y, p, sc) = (r.truth[s], r.point[s], r.mase_scale);
        self.overall.push(y, p, sc);
        let series = self.per_series.entry(r.series_id.clone()).or_default();
        series.push(y, p, sc);
        self.per_step[s].push(y, p, sc);
        self.step_minutes[s] = (s as u32 + 1) * r.interval_min;
        if t.night {
            self.night.push(y, p, sc)
        } else {
            self.day.push(y, p, sc)
        }
        if t.episode {
            self.episode.push(y, p, sc);
            if t.night {
                self.episode_night.push(y, p, sc);
            }
        }
        for &m in t.horizons {
            self.at_h.entry(m).or_default().push(y, p, sc);
        }
        if let Some(g) = self.glucose.as_mut() {
            g.overall.push(y, p);
            for m in t.horizons {
                if let Some(a) = g.at_h.get_mut(m) {
                    a.push(y, p);
                }
            }
        }
        let preds = [r.persistence[s], r.seasonal_naive[s], r.linear[s]];
        for (b, &bp) in self.base.iter_mut().zip(&preds) {
            if bp.is_finite() && y.is_finite() && p.is_finite() {
                b.overall.0.push(y, bp, sc);
                b.overall.1.push(y, p, sc);
                for &m in t.horizons {
                    let e = b.at_h.entry(m).or_default();
                    e.0.push(y, bp, sc);
                    e.1.push(y, p, sc);
                }
            }
        }
    }

    fn baselines(base: Vec<BaselineAcc>) -> BTreeMap<String, BaselineReport> {
        BASELINES
            .iter()
            .zip(base)
            .map(|(name, b)| {
                let (bo, mo) = (b.overall.0.finish(), b.overall.1.finish());
                let mut at = BTreeMap::new();
                let mut sk = BTreeMap::new();
                for (minutes, (bh, mh)) in b.at_h {
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
            .collect()
    }

    fn per_step(&self) -> Vec<StepMetrics> {
        self.per_step
            .iter()
            .zip(&self.step_minutes)
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
            .collect()
    }

    fn into_report(
        self,
        units: &str,
        gu: Option<GlucoseUnits>,
        n_windows: usize,
        o: &EvaluatorOptions,
    ) -> MetricsReport {
        let per_series: BTreeMap<String, PointMetrics> = self
            .per_series
            .iter()
            .map(|(k, a)| (k.clone(), a.finish()))
            .collect();
        let series_list: Vec<PointMetrics> = per_series.values().cloned().collect();
        let per_step = self.per_step();
        let prob = self.prob.finish();
        MetricsReport {
            units: units.to_string(),
            n_windows,
            overall: self.overall.finish(),
            per_series_mean: mean_of(&series_list),
            per_step,
            at_horizons: self
                .at_h
                .iter()
                .map(|(&m, a)| (key(m), a.finish()))
                .collect(),
            per_series,
            nocturnal: NocturnalReport {
                midnight_episodes: self.episodes,
                episode: self.episode.finish(),
                episode_night: self.episode_night.finish(),
                context_end: o.context_end.clone(),
                horizon_hours: o.horizon_hours,
                probabilistic: prob.episode,
                dilate: self.dilate_episode.finish(),
            },
            day_night: DayNightReport {
                day: self.day.finish(),
                night: self.night.finish(),
            },
            glucose: self.glucose.zip(gu).map(|(g, u)| GlucoseReport {
                units: u,
                overall: g.overall.finish(),
                at_horizons: g.at_h.iter().map(|(&m, a)| (key(m), a.finish())).collect(),
                hypo_level1: g.level1.finish(),
                hypo_level2: g.level2.finish(),
            }),
            probabilistic: prob.overall,
            baselines: Self::baselines(self.base),
            probabilistic_at_horizons: prob.at_h.into_iter().map(|(m, p)| (key(m), p)).collect(),
            dilate: self.dilate.finish(),
        }
    }
}
