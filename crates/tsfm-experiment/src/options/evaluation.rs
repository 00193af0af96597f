//! `evaluation:` -> the evaluator's options and the quantile levels a run calibrates.
use tsfm_config::Config;
use tsfm_eval::{DEFAULT_QUANTILES, EvaluatorOptions};

use crate::error::Result;

/// The evaluator as `evaluation.nocturnal` and the data's units ask.
pub fn evaluator_options(config: &Config) -> EvaluatorOptions {
    let n = &config.evaluation.nocturnal;
    EvaluatorOptions {
        context_end: n.context_end.clone(),
        horizon_hours: n.horizon_hours,
        ..EvaluatorOptions::default()
    }
}

/// Levels of calibrated quantiles (point models): the standard set, which covers the central
/// 50/80/90/95 % intervals the reports score, plus `evaluation.quantiles`.
pub fn calibration_levels(config: &Config) -> Vec<f64> {
    let mut levels: Vec<f64> = DEFAULT_QUANTILES
        .iter()
        .copied()
        .chain(config.evaluation.quantiles.iter().copied())
        .collect();
    levels.sort_by(f64::total_cmp);
    levels.dedup();
    levels
}

/// `evaluation.metrics` names the evaluator knows (the summary and history show these).
pub fn check_metrics(config: &Config) -> Result<()> {
    tsfm_eval::check_metric_names(&config.evaluation.metrics)
        .map_err(|e| crate::error::user(format!("evaluation.metrics: {e}")))
}
