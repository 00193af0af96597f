//! DILATE terms of a point forecast (Le Guen & Thome, NeurIPS 2019), per window.
//!
//! GLUCOSE.md does not define DILATE, so the paper's definition is used:
//! * Cost Δ(i, j) = (y_i − ŷ_j)² between truth step i and forecast step j.
//! * Shape = soft-DTW_γ(Δ) = R(n, n) with R(i, j) = Δ(i, j) + min_γ(R(i−1, j−1), R(i−1, j),
//!   R(i, j−1)), R(0, 0) = 0, other borders +∞, and min_γ(a) = −γ·log Σ exp(−a/γ) (Cuturi &
//!   Blondel 2017). It is in squared data units and can be slightly negative (soft minimum).
//! * Temporal (TDI) = Σ A(i, j)·(i − j)² / n², where A = ∂ soft-DTW / ∂Δ is the soft alignment
//!   (each cell's probability of lying on the path under the Gibbs distribution over paths).
//! * Loss = α·shape + (1 − α)·temporal.
//!
//! Defaults as in the paper: γ = 0.01, α = 0.5. Windows with any unobserved target or missing
//! forecast are left out (DTW needs whole series); their count is not in `n_windows`.

use serde::{Deserialize, Serialize};

pub const DEFAULT_GAMMA: f64 = 0.01;
pub const DEFAULT_ALPHA: f64 = 0.5;

/// The two DILATE terms of one window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DilateTerms {
    pub shape: f64,
    pub temporal: f64,
}

/// Means over the windows that qualified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DilateMetrics {
    pub n_windows: usize,
    pub gamma: f64,
    pub alpha: f64,
    pub shape: f64,
    pub temporal: f64,
    pub loss: f64,
}

/// γ-soft minimum, shifted by the hard minimum so that exp never overflows or all-underflows.
fn soft_min(a: [f64; 3], gamma: f64) -> f64 {
    let m = a.iter().copied().fold(f64::INFINITY, f64::min);
    if m == f64::INFINITY {
        return m;
    }
    let s: f64 = a.iter().map(|&x| (-(x - m) / gamma).exp()).sum();
    m - gamma * s.ln()
}

/// Forward pass: R with a border of +∞ (index 0) and Δ; both (n+2)×(n+2) for the backward pass.
fn forward(truth: &[f64], pred: &[f64], gamma: f64) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let n = truth.len();
    let mut d = vec![vec![0.0; n + 2]; n + 2];
    let mut r = vec![vec![f64::INFINITY; n + 2]; n + 2];
    r[0][0] = 0.0;
    for i in 1..=n {
        for j in 1..=n {
            d[i][j] = (truth[i - 1] - pred[j - 1]).powi(2);
            r[i][j] = d[i][j] + soft_min([r[i - 1][j - 1], r[i - 1][j], r[i][j - 1]], gamma);
        }
    }
    (r, d)
}

/// Soft-DTW shape term and TDI of one window; `None` if the lengths differ, the window is empty
/// or any value is not finite.
pub fn dilate_terms(truth: &[f64], pred: &[f64], gamma: f64) -> Option<DilateTerms> {
    let n = truth.len();
    let finite = truth.iter().chain(pred).all(|v| v.is_finite());
    if n == 0 || pred.len() != n || !finite {
        return None;
    }
    let (mut r, d) = forward(truth, pred, gamma);
    let shape = r[n][n];
    // Backward recursion for the alignment E (Cuturi & Blondel 2017, Algorithm 2): the
    // out-of-range row and column take R = −∞ so they contribute nothing, and the corner
    // (n+1, n+1) takes R(n, n) with E = 1 so that E(n, n) = 1.
    for row in r.iter_mut().take(n + 1).skip(1) {
        row[n + 1] = f64::NEG_INFINITY;
    }
    r[n + 1][1..=n].fill(f64::NEG_INFINITY);
    r[n + 1][n + 1] = shape;
    let mut e = vec![vec![0.0; n + 2]; n + 2];
    e[n + 1][n + 1] = 1.0;
    let w = |r: &Vec<Vec<f64>>, i: usize, j: usize, di: usize, dj: usize| {
        ((r[i + di][j + dj] - r[i][j] - d[i + di][j + dj]) / gamma).exp()
    };
    let mut temporal = 0.0;
    for j in (1..=n).rev() {
        for i in (1..=n).rev() {
            e[i][j] = e[i + 1][j] * w(&r, i, j, 1, 0)
                + e[i][j + 1] * w(&r, i, j, 0, 1)
                + e[i + 1][j + 1] * w(&r, i, j, 1, 1);
            temporal += e[i][j] * (i as f64 - j as f64).powi(2);
        }
    }
    Some(DilateTerms {
        shape,
        temporal: temporal / (n * n) as f64,
    })
}

/// Running means of the DILATE terms over windows.
#[derive(Debug, Clone)]
pub struct DilateAccumulator {
    gamma: f64,
    alpha: f64,
    n: usize,
    shape: f64,
    temporal: f64,
}

impl DilateAccumulator {
    pub fn new(gamma: f64, alpha: f64) -> Self {
        Self {
            gamma,
            alpha,
            n: 0,
            shape: 0.0,
            temporal: 0.0,
        }
    }

    pub fn push(&mut self, truth: &[f64], pred: &[f64]) {
        if let Some(t) = dilate_terms(truth, pred, self.gamma) {
            self.n += 1;
            self.shape += t.shape;
            self.temporal += t.temporal;
        }
    }

    /// `None` when no window qualified.
    pub fn finish(&self) -> Option<DilateMetrics> {
        let n = self.n as f64;
        (self.n > 0).then(|| DilateMetrics {
            n_windows: self.n,
            gamma: self.gamma,
            alpha: self.alpha,
            shape: self.shape / n,
            temporal: self.temporal / n,
            loss: self.alpha * self.shape / n + (1.0 - self.alpha) * self.temporal / n,
        })
    }
}
