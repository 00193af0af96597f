//! Point-forecast metrics: MSE, RMSE, MAE, MAPE, sMAPE, MASE.
//!
//! Pairs whose truth or prediction is NaN are skipped (missing targets are never filled).
//! * MAPE (%) = 100·mean(|ŷ − y| / |y|), skipping y = 0.
//! * sMAPE (%) = 100·mean(2|ŷ − y| / (|y| + |ŷ|)), skipping a zero denominator.
//! * MASE = mean(|ŷ − y| / s) where s is the window's scale: the mean absolute one-step difference
//!   of its context (non-seasonal naive in-sample error, Hyndman & Koehler 2006). Windows whose
//!   scale is undefined or zero are left out of MASE only.

use serde::{Deserialize, Serialize};

/// Finished point metrics; `None` where no pair qualified.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PointMetrics {
    pub n: usize,
    pub mse: Option<f64>,
    pub rmse: Option<f64>,
    pub mae: Option<f64>,
    pub mape: Option<f64>,
    pub smape: Option<f64>,
    pub mase: Option<f64>,
}

/// Running sums for [`PointMetrics`].
#[derive(Debug, Clone, Default)]
pub struct PointAccumulator {
    n: usize,
    se: f64,
    ae: f64,
    ape: f64,
    n_ape: usize,
    sape: f64,
    n_sape: usize,
    ase: f64,
    n_ase: usize,
}

fn ratio(sum: f64, n: usize) -> Option<f64> {
    (n > 0).then(|| sum / n as f64)
}

impl PointAccumulator {
    /// Adds one (truth, prediction) pair; `scale` is the window's MASE scale.
    pub fn push(&mut self, truth: f64, pred: f64, scale: Option<f64>) {
        if !truth.is_finite() || !pred.is_finite() {
            return;
        }
        let e = (pred - truth).abs();
        self.n += 1;
        self.se += e * e;
        self.ae += e;
        if truth != 0.0 {
            self.ape += e / truth.abs();
            self.n_ape += 1;
        }
        let den = truth.abs() + pred.abs();
        if den > 0.0 {
            self.sape += 2.0 * e / den;
            self.n_sape += 1;
        }
        if let Some(s) = scale.filter(|s| s.is_finite() && *s > 0.0) {
            self.ase += e / s;
            self.n_ase += 1;
        }
    }

    pub fn n(&self) -> usize {
        self.n
    }

    pub fn finish(&self) -> PointMetrics {
        let mse = ratio(self.se, self.n);
        PointMetrics {
            n: self.n,
            mse,
            rmse: mse.map(f64::sqrt),
            mae: ratio(self.ae, self.n),
            mape: ratio(self.ape, self.n_ape).map(|v| 100.0 * v),
            smape: ratio(self.sape, self.n_sape).map(|v| 100.0 * v),
            mase: ratio(self.ase, self.n_ase),
        }
    }
}

/// Metrics of one set of pairs (e.g. one window) with one MASE scale.
pub fn point_metrics(truth: &[f64], pred: &[f64], scale: Option<f64>) -> PointMetrics {
    let mut acc = PointAccumulator::default();
    for (&y, &p) in truth.iter().zip(pred) {
        acc.push(y, p, scale);
    }
    acc.finish()
}

/// MASE scale: mean |c[i] − c[i−1]| over consecutive observed context pairs; `None` if no pair
/// is observed or the mean is zero (a flat context cannot scale errors).
pub fn naive_scale(context: &[f64]) -> Option<f64> {
    let (sum, n) = context
        .windows(2)
        .filter(|w| w[0].is_finite() && w[1].is_finite())
        .fold((0.0, 0usize), |(s, n), w| (s + (w[1] - w[0]).abs(), n + 1));
    ratio(sum, n).filter(|s| *s > 0.0)
}

/// Unweighted mean of each metric across groups (e.g. per-series values); `n` is the total.
pub fn mean_of(items: &[PointMetrics]) -> PointMetrics {
    let mean = |f: fn(&PointMetrics) -> Option<f64>| {
        let v: Vec<f64> = items.iter().filter_map(f).collect();
        ratio(v.iter().sum(), v.len())
    };
    PointMetrics {
        n: items.iter().map(|m| m.n).sum(),
        mse: mean(|m| m.mse),
        rmse: mean(|m| m.rmse),
        mae: mean(|m| m.mae),
        mape: mean(|m| m.mape),
        smape: mean(|m| m.smape),
        mase: mean(|m| m.mase),
    }
}
