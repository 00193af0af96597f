//! What the evaluation config controls. `EvaluatorOptions::default()` reproduces the evaluator's
//! behaviour before options existed (except that midnight episodes stop at `horizon_hours`).

use serde::{Deserialize, Serialize};

use crate::metrics::dilate::{DEFAULT_ALPHA, DEFAULT_GAMMA};
use crate::nocturnal::parse_time_of_day;

/// Levels covering the 50/80/90/95 % central intervals and the median; the default for fitting
/// residual calibrations.
pub const DEFAULT_QUANTILES: [f64; 9] = [0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975];

/// Names accepted in `evaluation.metrics`. The report always holds every metric; these names
/// select the columns of printed summaries and history (see `MetricsReport::selected`).
pub const METRIC_NAMES: &[&str] = &[
    "rmse",
    "mae",
    "mse",
    "mape",
    "smape",
    "mard",
    "mase",
    "wql",
    "crps",
    "coverage",
    "clarke",
    "parkes",
    "grmse",
    "time_in_range",
    "hypo_events",
    "brier",
    "mace",
    "sharpness",
    "dilate",
];

/// `Err` names the first unknown metric and lists the allowed names.
pub fn check_metric_names(names: &[String]) -> Result<(), String> {
    match names.iter().find(|n| !METRIC_NAMES.contains(&n.as_str())) {
        Some(bad) => Err(format!(
            "unknown metric `{bad}`; allowed: {}",
            METRIC_NAMES.join(", ")
        )),
        None => Ok(()),
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OptionsError {
    #[error("evaluation.nocturnal.context_end: {0}")]
    ContextEnd(String),
    #[error("evaluation.nocturnal.horizon_hours must be a positive number, got {0}")]
    HorizonHours(f64),
    #[error("evaluation.quantiles must be strictly increasing levels in (0, 1), got {0:?}")]
    Quantiles(Vec<f64>),
    #[error("DILATE needs gamma > 0 and alpha in [0, 1], got gamma {gamma}, alpha {alpha}")]
    Dilate { gamma: f64, alpha: f64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluatorOptions {
    /// "HH:MM" local time of the last context reading of a nocturnal episode (default "00:00").
    pub context_end: String,
    /// Episode targets are the steps within this many hours after `context_end` (default 8).
    pub horizon_hours: f64,
    /// Levels the probabilistic metrics use. `None` (default): each forecast's own levels, and
    /// windows whose levels differ from the first window's are skipped. `Some`: every forecast
    /// is read at these levels by interpolating its quantile function; forecasts whose levels do
    /// not span them are skipped (tails are not extrapolated).
    pub quantiles: Option<Vec<f64>>,
    /// Threshold of the Brier event y < threshold, in the data's units. `None` (default): the
    /// level-1 hypoglycaemia threshold of the units, 3.9 mmol/L or 70 mg/dL (the consensus pair,
    /// rather than 3.9 × 18.0182 = 70.27, which would count an integer CGM reading of 70 as
    /// hypoglycaemic). Without glucose units and without a threshold there is no Brier score.
    pub brier_threshold: Option<f64>,
    /// Soft-DTW smoothing γ of the DILATE terms (default 0.01, as in the paper).
    pub dilate_gamma: f64,
    /// Shape weight α of the DILATE loss (default 0.5).
    pub dilate_alpha: f64,
}

impl Default for EvaluatorOptions {
    fn default() -> Self {
        Self {
            context_end: "00:00".into(),
            horizon_hours: 8.0,
            quantiles: None,
            brier_threshold: None,
            dilate_gamma: DEFAULT_GAMMA,
            dilate_alpha: DEFAULT_ALPHA,
        }
    }
}

impl EvaluatorOptions {
    /// Checks every field; returns the anchor in seconds of the day.
    pub fn validate(&self) -> Result<i64, OptionsError> {
        let anchor = parse_time_of_day(&self.context_end).map_err(OptionsError::ContextEnd)?;
        if !(self.horizon_hours.is_finite() && self.horizon_hours > 0.0) {
            return Err(OptionsError::HorizonHours(self.horizon_hours));
        }
        if let Some(q) = &self.quantiles {
            let inside = q.iter().all(|&l| l > 0.0 && l < 1.0);
            if q.is_empty() || !inside || q.windows(2).any(|w| w[0] >= w[1]) {
                return Err(OptionsError::Quantiles(q.clone()));
            }
        }
        let (gamma, alpha) = (self.dilate_gamma, self.dilate_alpha);
        if !(gamma > 0.0 && (0.0..=1.0).contains(&alpha)) {
            return Err(OptionsError::Dilate { gamma, alpha });
        }
        Ok(anchor)
    }
}
