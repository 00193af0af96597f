//! `evaluation:` -> the evaluator's options and the quantile levels a run calibrates.
use tsfm_config::Config;
use tsfm_eval::{DEFAULT_QUANTILES, EvaluatorOptions};

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

#[cfg(test)]
mod tests {
    /// The config validates `evaluation.metrics` against its own list (its crate knows no
    /// evaluator); the two lists must stay the same.
    #[test]
    fn the_config_and_the_evaluator_know_the_same_metrics() {
        assert_eq!(tsfm_config::KNOWN_METRICS, tsfm_eval::METRIC_NAMES);
    }

    #[test]
    fn calibration_levels_add_the_configs_to_the_standard_set() {
        let mut config = tsfm_config::Config::default();
        config.evaluation.quantiles = vec![0.1, 0.3, 0.5];
        assert_eq!(
            super::calibration_levels(&config),
            vec![0.025, 0.05, 0.1, 0.25, 0.3, 0.5, 0.75, 0.9, 0.95, 0.975]
        );
    }
}
