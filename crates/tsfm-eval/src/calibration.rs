//! Quantiles for point models from validation residuals (split conformal, per horizon step).
//!
//! Fit: for each step h, the residuals r = truth − point over observed truths (NaN truth or
//! forecast is left out), in data units. Sorted r(1) ≤ … ≤ r(n), the residual quantile at level
//! q is r(k) with
//! * q ≥ 0.5: k = ⌈(n + 1)·q⌉ (split-conformal upper rank: P(y − ŷ ≤ r(k)) ≥ q for an
//!   exchangeable new residual), and
//! * q < 0.5: k = ⌊(n + 1)·q⌋, the mirror (the same rule applied to −r at 1 − q), so that
//!   P(y − ŷ ≥ r(k)) ≥ 1 − q and a central interval [q, 1 − q] covers at least 1 − 2q.
//! * k is clamped to [1, n]. A clamp means the finite-sample guarantee is lost at that level
//!   (e.g. q = 0.975 needs n ≥ 39); the default minimum of 40 residuals avoids it.
//!   (n + 1)·q is computed with a 1e-9 slack so that 10 · 0.9 counts as 9, not 9.000…02.
//!
//! Too few residuals: a step with fewer than `min_residuals` pools the steps around it,
//! h − w ..= h + w for the smallest w that reaches the minimum; at worst that is every step (the
//! pooled fallback). Neighbouring steps have similar error spread, so this beats one global pool.
//!
//! Apply: quantile = point + residual quantile of that step. A level between fitted levels uses
//! linear interpolation of the residual quantile function between them; a level outside the
//! fitted range is an error, because extrapolating a tail from residual ranks is guesswork.
//! Quantiles are non-crossing: ranks grow with q, and a running maximum guards against ties.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::evaluator::{QuantileForecast, WindowEval};
use crate::metrics::probabilistic::interp_quantile;

pub const CALIBRATION_FORMAT_VERSION: u32 = 1;
/// Residuals a step needs before it stops pooling neighbours (≥ 39 keeps 0.975 finite).
pub const DEFAULT_MIN_RESIDUALS: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    #[error("calibration levels must be strictly increasing in (0, 1), got {0:?}")]
    Levels(Vec<f64>),
    #[error(
        "calibration needs observed residuals: none of the {windows} windows has an observed target with a finite forecast"
    )]
    NoResiduals { windows: usize },
    #[error(
        "level {level} is outside the calibrated levels [{lo}, {hi}]; tails are not extrapolated: refit with wider levels"
    )]
    LevelOutside { level: f64, lo: f64, hi: f64 },
    #[error("forecast has {steps} steps but the calibration covers {fitted}")]
    Steps { steps: usize, fitted: usize },
    #[error(
        "calibration {path}: cannot write (check the directory exists and is writable): {source}"
    )]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("calibration {path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("calibration {path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("calibration {path}: format version {found}, this build reads {expected}")]
    Version {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("calibration {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// Residual quantiles per horizon step, in the data's units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResidualCalibration {
    pub format_version: u32,
    /// Fitted levels, strictly increasing.
    pub levels: Vec<f64>,
    /// `[step][level]` residual quantiles (truth − point).
    pub residual_quantiles: Vec<Vec<f64>>,
    /// Observed residuals at each step itself.
    pub n_observed: Vec<usize>,
    /// Residuals behind each step's quantiles (more than `n_observed` where pooled).
    pub n_used: Vec<usize>,
    pub min_residuals: usize,
}

fn check_levels(levels: &[f64]) -> Result<(), CalibrationError> {
    let inside = levels.iter().all(|&l| l > 0.0 && l < 1.0);
    if levels.is_empty() || !inside || levels.windows(2).any(|w| w[0] >= w[1]) {
        return Err(CalibrationError::Levels(levels.to_vec()));
    }
    Ok(())
}

/// 1-based rank of the residual quantile at level `q` among `n` sorted residuals.
pub fn conformal_rank(n: usize, q: f64) -> usize {
    let x = (n as f64 + 1.0) * q;
    let k = if q >= 0.5 {
        (x - 1e-9).ceil()
    } else {
        (x + 1e-9).floor()
    };
    (k.max(1.0) as usize).min(n.max(1))
}

/// Conformal residual quantiles of one sorted, non-empty sample, made non-decreasing.
fn sample_quantiles(sorted: &[f64], levels: &[f64]) -> Vec<f64> {
    let mut out: Vec<f64> = levels
        .iter()
        .map(|&q| sorted[conformal_rank(sorted.len(), q) - 1])
        .collect();
    for i in 1..out.len() {
        out[i] = out[i].max(out[i - 1]);
    }
    out
}

/// Residuals of step `s` pooled with its neighbours until there are `min` (or all steps).
fn pooled(per_step: &[Vec<f64>], s: usize, min: usize) -> Vec<f64> {
    let h = per_step.len();
    let mut w = 0;
    loop {
        let (lo, hi) = (s.saturating_sub(w), (s + w).min(h - 1));
        let mut r: Vec<f64> = per_step[lo..=hi].iter().flatten().copied().collect();
        if r.len() >= min || (lo == 0 && hi == h - 1) {
            r.sort_by(f64::total_cmp);
            return r;
        }
        w += 1;
    }
}

impl ResidualCalibration {
    /// Fits from (truth, point) windows. `min_residuals` is clamped to at least 1.
    pub fn fit<'a, I>(
        windows: I,
        levels: &[f64],
        min_residuals: usize,
    ) -> Result<Self, CalibrationError>
    where
        I: IntoIterator<Item = (&'a [f64], &'a [f64])>,
    {
        check_levels(levels)?;
        let mut per_step: Vec<Vec<f64>> = Vec::new();
        let mut windows_seen = 0;
        for (truth, point) in windows {
            windows_seen += 1;
            if per_step.len() < truth.len() {
                per_step.resize(truth.len(), Vec::new());
            }
            for (s, (&y, &p)) in truth.iter().zip(point).enumerate() {
                if y.is_finite() && p.is_finite() {
                    per_step[s].push(y - p);
                }
            }
        }
        if per_step.iter().all(Vec::is_empty) {
            return Err(CalibrationError::NoResiduals {
                windows: windows_seen,
            });
        }
        let min = min_residuals.max(1);
        let samples: Vec<Vec<f64>> = (0..per_step.len())
            .map(|s| pooled(&per_step, s, min))
            .collect();
        Ok(Self {
            format_version: CALIBRATION_FORMAT_VERSION,
            levels: levels.to_vec(),
            residual_quantiles: samples
                .iter()
                .map(|r| sample_quantiles(r, levels))
                .collect(),
            n_observed: per_step.iter().map(Vec::len).collect(),
            n_used: samples.iter().map(Vec::len).collect(),
            min_residuals: min,
        })
    }

    /// [`fit`](Self::fit) on evaluation windows (their truth and point forecast).
    pub fn fit_windows(
        windows: &[WindowEval],
        levels: &[f64],
        min_residuals: usize,
    ) -> Result<Self, CalibrationError> {
        let pairs = windows.iter().map(|w| (&w.truth[..], &w.point[..]));
        Self::fit(pairs, levels, min_residuals)
    }

    pub fn steps(&self) -> usize {
        self.residual_quantiles.len()
    }

    /// Quantiles `point + residual quantile` at `levels` (see the module notes for levels
    /// between and outside the fitted ones). A NaN point gives NaN quantiles at that step.
    pub fn apply(
        &self,
        point: &[f64],
        levels: &[f64],
    ) -> Result<QuantileForecast, CalibrationError> {
        check_levels(levels)?;
        if point.len() > self.steps() {
            return Err(CalibrationError::Steps {
                steps: point.len(),
                fitted: self.steps(),
            });
        }
        let (lo, hi) = (self.levels[0], self.levels[self.levels.len() - 1]);
        let values = levels
            .iter()
            .map(|&level| {
                point
                    .iter()
                    .zip(&self.residual_quantiles)
                    .map(|(&p, rq)| {
                        interp_quantile(&self.levels, rq, level)
                            .map(|r| p + r)
                            .ok_or(CalibrationError::LevelOutside { level, lo, hi })
                    })
                    .collect()
            })
            .collect::<Result<_, _>>()?;
        Ok(QuantileForecast {
            levels: levels.to_vec(),
            values,
        })
    }

    /// Gives a window without quantiles calibrated ones at `levels`; others are left alone.
    pub fn apply_window(&self, w: &mut WindowEval, levels: &[f64]) -> Result<(), CalibrationError> {
        if w.quantiles.is_none() {
            w.quantiles = Some(self.apply(&w.point, levels)?);
        }
        Ok(())
    }
}

/// A crash leaves either the old file or the new one, never half (`tsfm_io` fsyncs the file
/// and its folder).
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    tsfm_io::write_file(path, bytes)
}

#[derive(Deserialize)]
struct VersionOnly {
    format_version: u32,
}

impl ResidualCalibration {
    /// Pretty JSON, written atomically.
    pub fn save(&self, path: &Path) -> Result<(), CalibrationError> {
        let err = |source| CalibrationError::Write {
            path: path.to_path_buf(),
            source,
        };
        let text = serde_json::to_string_pretty(self).map_err(|e| err(std::io::Error::other(e)))?;
        write_atomic(path, text.as_bytes()).map_err(err)
    }

    /// Reads a calibration, checking the format version before the fields and the shapes after.
    pub fn load(path: &Path) -> Result<Self, CalibrationError> {
        let p = || path.to_path_buf();
        let text = std::fs::read_to_string(path)
            .map_err(|source| CalibrationError::Read { path: p(), source })?;
        let json = |source| CalibrationError::Json { path: p(), source };
        let v: VersionOnly = serde_json::from_str(&text).map_err(json)?;
        if v.format_version != CALIBRATION_FORMAT_VERSION {
            return Err(CalibrationError::Version {
                path: p(),
                found: v.format_version,
                expected: CALIBRATION_FORMAT_VERSION,
            });
        }
        let c: Self = serde_json::from_str(&text).map_err(json)?;
        c.check_shape()
            .map_err(|reason| CalibrationError::Invalid { path: p(), reason })?;
        Ok(c)
    }

    fn check_shape(&self) -> Result<(), String> {
        check_levels(&self.levels).map_err(|e| e.to_string())?;
        let k = self.levels.len();
        let h = self.steps();
        if h == 0 || self.residual_quantiles.iter().any(|r| r.len() != k) {
            return Err(format!(
                "residual_quantiles must be {h} non-empty rows of {k} values"
            ));
        }
        if self.n_observed.len() != h || self.n_used.len() != h {
            return Err(format!("n_observed and n_used must have {h} entries"));
        }
        let monotone = |r: &Vec<f64>| r.windows(2).all(|w| w[0] <= w[1]);
        if !self.residual_quantiles.iter().all(monotone) {
            return Err("residual quantiles must be non-decreasing across levels".into());
        }
        Ok(())
    }
}
