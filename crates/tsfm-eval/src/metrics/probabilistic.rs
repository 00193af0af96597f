//! Metrics of quantile forecasts.
//!
//! * Pinball loss at level τ: τ·(y − q) if y ≥ q, else (1 − τ)·(q − y).
//! * WQL (as Chronos / GluonTS `MeanWeightedQuantileLoss`): for each level,
//!   2·Σ pinball / Σ|y| over all targets; then the mean over levels.
//! * CRPS is approximated by the quantile-loss average: CRPS = ∫₀¹ 2·pinball_τ dτ ≈
//!   mean over the given levels of 2·mean pinball (exact only for dense, even levels).
//! * Central interval c uses levels (1 − c)/2 and (1 + c)/2; coverage counts lo ≤ y ≤ hi.
//! * The CDF is interpolated linearly between (quantile value, level) points (values sorted, so
//!   crossing quantiles cannot make it decrease). Outside the outermost quantiles it takes the
//!   middle of the tail mass: τ₀/2 below q₀ and (1 + τ_K)/2 above q_K. PIT = F(y) in 10 bins.
//! * Brier score of the event y < threshold with p = F(threshold).
//! * The quantile function between levels is linear in the level ([`interp_quantile`]); it is
//!   not extrapolated beyond the outermost levels. Central intervals in `central_intervals` use it,
//!   so a 50 % interval exists for levels 0.1/0.5/0.9; an interval needing a level outside the
//!   forecast's range is reported with `None`. The older `intervals` list keeps only intervals
//!   whose two levels exist exactly (plots read it).
//! * MACE = mean over levels τ of |share of targets with y ≤ q_τ − τ| (≤, the empirical CDF at
//!   q_τ; quantile values are sorted first, so crossing forecasts are rearranged).

use serde::{Deserialize, Serialize};

/// Central intervals reported when their levels exist.
pub const CENTRAL_INTERVALS: [f64; 4] = [0.5, 0.8, 0.9, 0.95];
const LEVEL_TOL: f64 = 1e-6;

pub fn pinball(truth: f64, quantile: f64, level: f64) -> f64 {
    let d = truth - quantile;
    if d >= 0.0 {
        level * d
    } else {
        (level - 1.0) * d
    }
}

/// Interpolated CDF at `y` from levels (ascending) and their quantile values.
pub fn interp_cdf(levels: &[f64], values: &[f64], y: f64) -> f64 {
    let mut q: Vec<f64> = values.to_vec();
    q.sort_by(f64::total_cmp);
    let k = q.len() - 1;
    if y < q[0] {
        return levels[0] / 2.0;
    }
    if y > q[k] {
        return (1.0 + levels[k]) / 2.0;
    }
    // Largest level whose quantile is ≤ y, then interpolate towards the next one.
    let i = q.iter().rposition(|&v| v <= y).unwrap_or(0);
    if i == k || q[i + 1] == q[i] {
        return levels[i];
    }
    levels[i] + (levels[i + 1] - levels[i]) * (y - q[i]) / (q[i + 1] - q[i])
}

/// Quantile function at level `tau`, linear between the given (level, value) points; values are
/// sorted first so crossing quantiles still give a monotone function. `None` when `tau` lies
/// outside `[levels[0], levels[K]]` (beyond a rounding tolerance): tails are not extrapolated.
pub fn interp_quantile(levels: &[f64], values: &[f64], tau: f64) -> Option<f64> {
    let mut q: Vec<f64> = values.to_vec();
    q.sort_by(f64::total_cmp);
    interp_sorted(levels, &q, tau)
}

fn interp_sorted(levels: &[f64], q: &[f64], tau: f64) -> Option<f64> {
    let k = levels.len().checked_sub(1)?;
    if let Some(i) = find_level(levels, tau) {
        return Some(q[i]);
    }
    if tau < levels[0] || tau > levels[k] {
        return None;
    }
    let i = levels.iter().rposition(|&l| l <= tau)?;
    let w = (tau - levels[i]) / (levels[i + 1] - levels[i]);
    Some(q[i] + w * (q[i + 1] - q[i]))
}

/// Coverage and width of one central interval whose levels exist exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalMetrics {
    pub nominal: f64,
    pub coverage: f64,
    pub mean_width: f64,
}

/// Coverage and sharpness (mean width) of a standard central interval, possibly from
/// interpolated levels; `None` when the interval needs levels outside the forecast's range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CentralInterval {
    pub nominal: f64,
    pub coverage: Option<f64>,
    pub mean_width: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbabilisticMetrics {
    pub levels: Vec<f64>,
    pub n: usize,
    pub wql: Option<f64>,
    pub crps: Option<f64>,
    /// Mean pinball loss per level (same order as `levels`).
    pub quantile_loss: Vec<f64>,
    pub intervals: Vec<IntervalMetrics>,
    /// Shares of PIT values in [0, 0.1), …, [0.9, 1].
    pub pit_histogram: Vec<f64>,
    /// Brier score of P(y < threshold); `None` when no threshold was given.
    pub brier: Option<f64>,
    pub brier_threshold: Option<f64>,
    /// Windows skipped because their levels differed from the first window's (or, with
    /// evaluation levels set, because they did not span them).
    pub skipped_windows: usize,
    /// Mean absolute calibration error over the levels.
    #[serde(default)]
    pub mace: Option<f64>,
    /// The 50/80/90/95 % central intervals, interpolated between levels where needed.
    #[serde(default)]
    pub central_intervals: Vec<CentralInterval>,
}

#[derive(Debug, Clone)]
struct IntervalAcc {
    nominal: f64,
    lo: usize,
    hi: usize,
    covered: usize,
    width: f64,
}

/// Running sums over targets that share one set of levels.
#[derive(Debug, Clone)]
pub struct QuantileAccumulator {
    levels: Vec<f64>,
    pinball: Vec<f64>,
    abs_y: f64,
    n: usize,
    intervals: Vec<IntervalAcc>,
    pit: [usize; 10],
    brier_threshold: Option<f64>,
    brier: f64,
    /// Per level: targets with y ≤ (sorted) quantile value, for MACE.
    below: Vec<usize>,
    /// Per standard interval: (nominal, whether both its levels lie within the levels).
    central: Vec<(f64, bool)>,
    central_covered: Vec<usize>,
    central_width: Vec<f64>,
    pub skipped_windows: usize,
}

fn find_level(levels: &[f64], l: f64) -> Option<usize> {
    levels.iter().position(|&x| (x - l).abs() < LEVEL_TOL)
}

impl QuantileAccumulator {
    /// `levels` must be ascending in (0, 1); `brier_threshold` in data units.
    pub fn new(levels: &[f64], brier_threshold: Option<f64>) -> Self {
        let pair = |c: f64| {
            Some((
                c,
                find_level(levels, (1.0 - c) / 2.0)?,
                find_level(levels, (1.0 + c) / 2.0)?,
            ))
        };
        let mut pairs: Vec<_> = CENTRAL_INTERVALS.iter().filter_map(|&c| pair(c)).collect();
        if pairs.is_empty() {
            // None of the standard intervals: use every symmetric pair that exists.
            pairs = levels
                .iter()
                .filter(|&&l| l < 0.5)
                .filter_map(|&l| pair(1.0 - 2.0 * l))
                .collect();
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        let intervals = pairs
            .into_iter()
            .map(|(nominal, lo, hi)| IntervalAcc {
                nominal,
                lo,
                hi,
                covered: 0,
                width: 0.0,
            })
            .collect();
        Self {
            levels: levels.to_vec(),
            pinball: vec![0.0; levels.len()],
            abs_y: 0.0,
            n: 0,
            intervals,
            pit: [0; 10],
            brier_threshold,
            brier: 0.0,
            below: vec![0; levels.len()],
            central: CENTRAL_INTERVALS.iter().map(|&c| (c, false)).collect(),
            central_covered: vec![0; CENTRAL_INTERVALS.len()],
            central_width: vec![0.0; CENTRAL_INTERVALS.len()],
            skipped_windows: 0,
        }
        .with_central_levels()
    }

    /// Marks which standard intervals lie within the levels (the same for every target).
    fn with_central_levels(mut self) -> Self {
        let (first, last) = match (self.levels.first(), self.levels.last()) {
            (Some(&f), Some(&l)) => (f, l),
            _ => return self,
        };
        for (c, avail) in &mut self.central {
            let (lo, hi) = ((1.0 - *c) / 2.0, (1.0 + *c) / 2.0);
            *avail = lo >= first - LEVEL_TOL && hi <= last + LEVEL_TOL;
        }
        self
    }

    pub fn levels(&self) -> &[f64] {
        &self.levels
    }

    /// Adds one target with its quantile values (one per level); NaN truth is skipped.
    pub fn push(&mut self, truth: f64, values: &[f64]) {
        if !truth.is_finite()
            || values.len() != self.levels.len()
            || values.iter().any(|v| !v.is_finite())
        {
            return;
        }
        self.n += 1;
        self.abs_y += truth.abs();
        for ((acc, &q), &l) in self.pinball.iter_mut().zip(values).zip(&self.levels) {
            *acc += pinball(truth, q, l);
        }
        for iv in &mut self.intervals {
            let (lo, hi) = (values[iv.lo], values[iv.hi]);
            if lo <= truth && truth <= hi {
                iv.covered += 1;
            }
            iv.width += hi - lo;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        for (b, &q) in self.below.iter_mut().zip(&sorted) {
            *b += usize::from(truth <= q);
        }
        self.push_central(truth, &sorted);
        let u = interp_cdf(&self.levels, values, truth);
        self.pit[((u * 10.0) as usize).min(9)] += 1;
        if let Some(t) = self.brier_threshold {
            let p = interp_cdf(&self.levels, values, t);
            let o = if truth < t { 1.0 } else { 0.0 };
            self.brier += (p - o) * (p - o);
        }
    }

    fn push_central(&mut self, truth: f64, sorted: &[f64]) {
        for (k, (c, avail)) in self.central.iter().enumerate() {
            if !avail {
                continue;
            }
            let bounds = (
                interp_sorted(&self.levels, sorted, (1.0 - c) / 2.0),
                interp_sorted(&self.levels, sorted, (1.0 + c) / 2.0),
            );
            if let (Some(lo), Some(hi)) = bounds {
                self.central_covered[k] += usize::from(lo <= truth && truth <= hi);
                self.central_width[k] += hi - lo;
            }
        }
    }

    fn central_metrics(&self) -> Vec<CentralInterval> {
        let n = self.n as f64;
        self.central
            .iter()
            .enumerate()
            .map(|(k, (c, avail))| {
                let ok = *avail && self.n > 0;
                CentralInterval {
                    nominal: *c,
                    coverage: ok.then(|| self.central_covered[k] as f64 / n),
                    mean_width: ok.then(|| self.central_width[k] / n),
                }
            })
            .collect()
    }

    fn mace(&self) -> Option<f64> {
        let n = self.n as f64;
        let k = self.levels.len() as f64;
        (self.n > 0 && k > 0.0).then(|| {
            self.below
                .iter()
                .zip(&self.levels)
                .map(|(&b, &l)| (b as f64 / n - l).abs())
                .sum::<f64>()
                / k
        })
    }

    pub fn finish(&self) -> ProbabilisticMetrics {
        let n = self.n as f64;
        let has = self.n > 0;
        let ql: Vec<f64> = self
            .pinball
            .iter()
            .map(|p| if has { p / n } else { f64::NAN })
            .collect();
        let nl = self.levels.len() as f64;
        let wql = (has && self.abs_y > 0.0).then(|| {
            self.pinball
                .iter()
                .map(|p| 2.0 * p / self.abs_y)
                .sum::<f64>()
                / nl
        });
        let crps = has.then(|| ql.iter().map(|q| 2.0 * q).sum::<f64>() / nl);
        ProbabilisticMetrics {
            levels: self.levels.clone(),
            n: self.n,
            wql,
            crps,
            quantile_loss: if has { ql } else { Vec::new() },
            intervals: if has {
                self.intervals
                    .iter()
                    .map(|iv| IntervalMetrics {
                        nominal: iv.nominal,
                        coverage: iv.covered as f64 / n,
                        mean_width: iv.width / n,
                    })
                    .collect()
            } else {
                Vec::new()
            },
            pit_histogram: self
                .pit
                .iter()
                .map(|&c| if has { c as f64 / n } else { 0.0 })
                .collect(),
            brier: self.brier_threshold.filter(|_| has).map(|_| self.brier / n),
            brier_threshold: self.brier_threshold,
            skipped_windows: self.skipped_windows,
            mace: self.mace(),
            central_intervals: self.central_metrics(),
        }
    }
}
