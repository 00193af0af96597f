//! Glucose metrics exactly as defined in GLUCOSE.md §2: MARD, Clarke and Parkes (type 1) error
//! grids, gRMSE, time-in-range agreement. Grids and gRMSE work in mg/dL; mmol/L inputs are
//! converted with [`MGDL_PER_MMOL`].

use serde::{Deserialize, Serialize};

pub const MGDL_PER_MMOL: f64 = 18.0182;

/// Units of a glucose series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GlucoseUnits {
    MmolL,
    MgDl,
}

impl GlucoseUnits {
    /// Recognises "mmol/L" and "mg/dL" (case-insensitive, with or without the slash).
    pub fn parse(units: &str) -> Option<Self> {
        match units.trim().to_ascii_lowercase().replace('/', "").as_str() {
            "mmoll" | "mmol" => Some(Self::MmolL),
            "mgdl" => Some(Self::MgDl),
            _ => None,
        }
    }

    pub fn to_mgdl(self, v: f64) -> f64 {
        match self {
            Self::MmolL => v * MGDL_PER_MMOL,
            Self::MgDl => v,
        }
    }

    /// Level-1 hypoglycaemia threshold (< 3.9 mmol/L, < 70 mg/dL) in these units.
    pub fn hypo_level1(self) -> f64 {
        match self {
            Self::MmolL => 3.9,
            Self::MgDl => 70.0,
        }
    }

    /// Level-2 hypoglycaemia threshold (< 3.0 mmol/L, < 54 mg/dL) in these units.
    pub fn hypo_level2(self) -> f64 {
        match self {
            Self::MmolL => 3.0,
            Self::MgDl => 54.0,
        }
    }

    /// Upper end of the target range (≤ 10.0 mmol/L, ≤ 180 mg/dL) in these units.
    pub fn range_high(self) -> f64 {
        match self {
            Self::MmolL => 10.0,
            Self::MgDl => 180.0,
        }
    }
}

/// Range class in native units: 0 below range (< 3.9), 1 in range (3.9–10 inclusive), 2 above.
pub fn range_class(v: f64, units: GlucoseUnits) -> u8 {
    if v < units.hypo_level1() {
        0
    } else if v <= units.range_high() {
        1
    } else {
        2
    }
}

/// Error-grid zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    A,
    B,
    C,
    D,
    E,
}

impl Zone {
    fn index(self) -> usize {
        self as usize
    }
}

/// Clarke zone of (reference x, prediction y) in mg/dL; rules tested in the order A, E, C, D, B.
pub fn clarke_zone(x: f64, y: f64) -> Zone {
    if (x < 70.0 && y < 70.0) || (y - x).abs() <= 0.2 * x {
        Zone::A
    } else if (x <= 70.0 && y >= 180.0) || (x >= 180.0 && y <= 70.0) {
        Zone::E
    } else if ((70.0..=290.0).contains(&x) && y >= x + 110.0)
        || ((130.0..=180.0).contains(&x) && y <= 1.4 * x - 182.0)
    {
        Zone::C
    } else if (x >= 240.0 && (70.0..=180.0).contains(&y))
        || (x <= 70.0 && (70.0..=180.0).contains(&y))
    {
        Zone::D
    } else {
        Zone::B
    }
}

/// Piecewise-linear interpolation of `pts` (ascending in `.0`), extending the end segments.
fn polyline(pts: &[(f64, f64)], t: f64) -> f64 {
    let seg = pts
        .windows(2)
        .position(|w| t <= w[1].0)
        .unwrap_or(pts.len() - 2);
    let (a, b) = (pts[seg], pts[seg + 1]);
    if b.0 == a.0 {
        return b.1.max(a.1);
    }
    a.1 + (b.1 - a.1) * (t - a.0) / (b.0 - a.0)
}

// Parkes type 1 boundaries (Pfützner et al. 2013 vertices), x = reference, y = prediction.
const UPPER_AB: [(f64, f64); 5] = [
    (0., 50.),
    (30., 50.),
    (140., 170.),
    (280., 380.),
    (430., 550.),
];
const UPPER_BC: [(f64, f64); 5] = [(0., 60.), (30., 60.), (50., 80.), (70., 110.), (260., 550.)];
const UPPER_CD: [(f64, f64); 5] = [
    (0., 100.),
    (25., 100.),
    (50., 125.),
    (80., 215.),
    (125., 550.),
];
const UPPER_DE: [(f64, f64); 3] = [(0., 150.), (35., 155.), (50., 550.)];
// Lower lines stored as (y, x): x as a function of y, since they start with a vertical segment.
const LOWER_AB: [(f64, f64); 5] = [
    (0., 50.),
    (30., 50.),
    (145., 170.),
    (300., 385.),
    (450., 550.),
];
const LOWER_BC: [(f64, f64); 4] = [(0., 120.), (30., 120.), (130., 260.), (250., 550.)];
const LOWER_CD: [(f64, f64); 3] = [(0., 250.), (40., 250.), (150., 550.)];

/// Parkes (consensus) type-1 zone of (reference x, prediction y) in mg/dL: the worst zone whose
/// boundary the point lies on or beyond. Upper lines: on/above y = f(x); lower lines: on/right of
/// x = g(y). Lines are extended along their last segment.
pub fn parkes_zone_type1(x: f64, y: f64) -> Zone {
    let above = |l: &[(f64, f64)]| y >= polyline(l, x);
    let right = |l: &[(f64, f64)]| x >= polyline(l, y);
    if above(&UPPER_DE) {
        Zone::E
    } else if above(&UPPER_CD) || right(&LOWER_CD) {
        Zone::D
    } else if above(&UPPER_BC) || right(&LOWER_BC) {
        Zone::C
    } else if above(&UPPER_AB) || right(&LOWER_AB) {
        Zone::B
    } else {
        Zone::A
    }
}

/// C² quartic step from 0 at `a` to 1 at `a + eps` (Del Favero 2012, ξ as fixed in GluPredKit).
pub fn smooth_step(x: f64, a: f64, eps: f64) -> f64 {
    if x <= a {
        return 0.0;
    }
    if x >= a + eps {
        return 1.0;
    }
    let xi = 2.0 / eps * (x - a - eps / 2.0);
    let (x2, x3) = (xi * xi, xi * xi * xi);
    if xi <= 0.0 {
        -0.5 * x2 * x2 - x3 + xi + 0.5
    } else {
        0.5 * x2 * x2 - x3 + xi + 0.5
    }
}

/// Mirror of [`smooth_step`]: 1 below `a − eps`, 0 above `a`.
pub fn smooth_step_down(x: f64, a: f64, eps: f64) -> f64 {
    smooth_step(-x, -a, eps)
}

/// gRMSE penalty Pen(y, ŷ) in mg/dL with the paper's parameters.
pub fn grmse_penalty(y: f64, yhat: f64) -> f64 {
    const ALPHA_L: f64 = 1.5;
    const ALPHA_H: f64 = 1.0;
    const BETA_L: f64 = 30.0;
    const BETA_H: f64 = 100.0;
    const GAMMA_L: f64 = 10.0;
    const GAMMA_H: f64 = 20.0;
    const T_L: f64 = 85.0;
    const T_H: f64 = 155.0;
    1.0 + ALPHA_L * smooth_step_down(y, T_L, BETA_L) * smooth_step(yhat, y, GAMMA_L)
        + ALPHA_H * smooth_step(y, T_H, BETA_H) * smooth_step_down(yhat, y, GAMMA_H)
}

/// Shares of points per zone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ZoneShares {
    pub a: f64,
    pub b: f64,
    pub c: f64,
    pub d: f64,
    pub e: f64,
}

impl ZoneShares {
    fn from_counts(c: &[usize; 5], n: usize) -> Self {
        let s = |i: usize| if n > 0 { c[i] as f64 / n as f64 } else { 0.0 };
        Self {
            a: s(0),
            b: s(1),
            c: s(2),
            d: s(3),
            e: s(4),
        }
    }
}

/// Finished glucose metrics (shares in [0, 1], MARD in %, gRMSE in the data units).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlucoseMetrics {
    pub n: usize,
    pub mard: Option<f64>,
    pub clarke: ZoneShares,
    pub parkes: ZoneShares,
    pub grmse: Option<f64>,
    /// Share of targets whose predicted and true range class (< 3.9, 3.9–10, > 10 mmol/L) agree.
    pub tir_agreement: Option<f64>,
}

/// Running sums for [`GlucoseMetrics`].
#[derive(Debug, Clone)]
pub struct GlucoseAccumulator {
    units: GlucoseUnits,
    n: usize,
    ard: f64,
    n_ard: usize,
    clarke: [usize; 5],
    parkes: [usize; 5],
    pen_se: f64,
    agree: usize,
}

impl GlucoseAccumulator {
    pub fn new(units: GlucoseUnits) -> Self {
        Self {
            units,
            n: 0,
            ard: 0.0,
            n_ard: 0,
            clarke: [0; 5],
            parkes: [0; 5],
            pen_se: 0.0,
            agree: 0,
        }
    }

    /// Adds one (truth, prediction) pair in the accumulator's units; NaN pairs are skipped.
    pub fn push(&mut self, truth: f64, pred: f64) {
        if !truth.is_finite() || !pred.is_finite() {
            return;
        }
        self.n += 1;
        if truth > 0.0 {
            self.ard += (pred - truth).abs() / truth;
            self.n_ard += 1;
        }
        let (x, y) = (self.units.to_mgdl(truth), self.units.to_mgdl(pred));
        self.clarke[clarke_zone(x, y).index()] += 1;
        self.parkes[parkes_zone_type1(x, y).index()] += 1;
        // Penalty from mg/dL values, squared error in native units.
        self.pen_se += (pred - truth).powi(2) * grmse_penalty(x, y);
        if range_class(truth, self.units) == range_class(pred, self.units) {
            self.agree += 1;
        }
    }

    pub fn finish(&self) -> GlucoseMetrics {
        let n = self.n as f64;
        GlucoseMetrics {
            n: self.n,
            mard: (self.n_ard > 0).then(|| 100.0 * self.ard / self.n_ard as f64),
            clarke: ZoneShares::from_counts(&self.clarke, self.n),
            parkes: ZoneShares::from_counts(&self.parkes, self.n),
            grmse: (self.n > 0).then(|| (self.pen_se / n).sqrt()),
            tir_agreement: (self.n > 0).then(|| self.agree as f64 / n),
        }
    }
}
