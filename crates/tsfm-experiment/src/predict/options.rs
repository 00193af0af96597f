//! Checking `--quantiles`, `--decoding` and `--num-samples` before any model is read, and
//! against what the chosen model can produce.
use tsfm_models::CheckpointInfo;

use crate::error::{Result, user as user_error};

/// Chronos-T5 decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoding {
    Greedy,
    Sample,
}

/// The sampling flags of `tsfm predict`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    /// Increasing levels in (0, 1); empty when none were asked for.
    pub quantiles: Vec<f64>,
    pub decoding: Option<Decoding>,
    pub num_samples: Option<usize>,
    pub seed: Option<u64>,
}

impl Sampling {
    /// Every value checked on its own: quantile levels in (0, 1), increasing, no repeats;
    /// decoding `greedy` or `sample`; at least one sample.
    pub fn parse(
        quantiles: &[f64],
        decoding: Option<&str>,
        num_samples: Option<usize>,
        seed: Option<u64>,
    ) -> Result<Sampling> {
        for &q in quantiles {
            if !(q > 0.0 && q < 1.0) {
                return Err(user_error(format!(
                    "--quantiles: {q} is not a level between 0 and 1 (exclusive); write levels like 0.1,0.5,0.9"
                )));
            }
        }
        if let Some(pair) = quantiles.windows(2).find(|w| w[1] <= w[0]) {
            let list: Vec<String> = quantiles.iter().map(f64::to_string).collect();
            return Err(user_error(format!(
                "--quantiles: levels must be increasing without repeats, but {} is followed by {} in {}; write e.g. 0.1,0.5,0.9",
                pair[0],
                pair[1],
                list.join(",")
            )));
        }
        let decoding = match decoding {
            None => None,
            Some("greedy") => Some(Decoding::Greedy),
            Some("sample") => Some(Decoding::Sample),
            Some(other) => {
                return Err(user_error(format!(
                    "--decoding: `{other}` is neither `greedy` nor `sample`"
                )));
            }
        };
        if num_samples == Some(0) {
            return Err(user_error(
                "--num-samples: 0 samples cannot make a forecast; give 1 or more",
            ));
        }
        Ok(Sampling {
            quantiles: quantiles.to_vec(),
            decoding,
            num_samples,
            seed,
        })
    }

    /// What a model cannot honour. Quantiles it cannot give are an error: a missing
    /// `q<level>` column would break whatever reads the output. `calibrated`: the run holds
    /// calibrated residual quantiles for its point model. Sampling flags change nothing for a
    /// model that does not sample, so they only warn.
    pub fn check_for_model(&self, info: &CheckpointInfo, calibrated: bool) -> Result<Vec<String>> {
        let mut warnings = Vec::new();
        if !self.quantiles.is_empty() && !info.has_quantiles() && !calibrated {
            return Err(user_error(format!(
                "--quantiles: this {} checkpoint gives point forecasts only and has no \
                 calibration.json, so no q<level> columns can be written; forecast with \
                 `--run RUN` (a run trained by tsfm keeps calibrated quantiles) or drop --quantiles",
                info.model_type
            )));
        }
        let mut ignored = Vec::new();
        if self.decoding.is_some() {
            ignored.push("--decoding");
        }
        if self.num_samples.is_some() {
            ignored.push("--num-samples");
        }
        if self.seed.is_some() {
            ignored.push("--seed");
        }
        // No family built yet samples (Chronos-T5 will).
        if !ignored.is_empty() {
            warnings.push(format!(
                "{} only affect(s) sampling models (Chronos-T5); {} forecasts deterministically, ignored",
                ignored.join(", "),
                info.model_type
            ));
        }
        Ok(warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(r: Result<Sampling>) -> String {
        r.unwrap_err().to_string()
    }

    fn ttm() -> CheckpointInfo {
        CheckpointInfo {
            model_type: "ttm".into(),
            context_length: 8,
            prediction_length: 2,
            target_channels: 1,
            past_covariates: 0,
            future_covariates: 0,
            uses_sampling_interval: false,
            quantile_levels: vec![],
        }
    }

    #[test]
    fn good_values_pass() {
        let s = Sampling::parse(&[0.1, 0.5, 0.9], Some("sample"), Some(20), Some(7)).unwrap();
        assert_eq!(s.quantiles, vec![0.1, 0.5, 0.9]);
        assert_eq!(s.decoding, Some(Decoding::Sample));
        assert_eq!(s.num_samples, Some(20));
        assert_eq!(
            Sampling::parse(&[], Some("greedy"), None, None)
                .unwrap()
                .decoding,
            Some(Decoding::Greedy)
        );
    }

    #[test]
    fn bad_values_are_named() {
        assert_eq!(
            err(Sampling::parse(&[0.1, 1.0], None, None, None)),
            "--quantiles: 1 is not a level between 0 and 1 (exclusive); write levels like 0.1,0.5,0.9"
        );
        assert!(
            err(Sampling::parse(&[0.0], None, None, None)).starts_with("--quantiles: 0 is not")
        );
        assert!(
            err(Sampling::parse(&[f64::NAN], None, None, None))
                .starts_with("--quantiles: NaN is not")
        );
        assert_eq!(
            err(Sampling::parse(&[0.5, 0.1], None, None, None)),
            "--quantiles: levels must be increasing without repeats, but 0.5 is followed by 0.1 in 0.5,0.1; write e.g. 0.1,0.5,0.9"
        );
        assert!(
            err(Sampling::parse(&[0.5, 0.5], None, None, None)).contains("0.5 is followed by 0.5")
        );
        assert_eq!(
            err(Sampling::parse(&[], Some("beam"), None, None)),
            "--decoding: `beam` is neither `greedy` nor `sample`"
        );
        assert_eq!(
            err(Sampling::parse(&[], None, Some(0), None)),
            "--num-samples: 0 samples cannot make a forecast; give 1 or more"
        );
    }

    #[test]
    fn a_point_model_needs_a_calibration_for_quantiles_and_ignores_sampling_flags() {
        let q = Sampling::parse(&[0.5], None, None, None).unwrap();
        assert!(
            q.check_for_model(&ttm(), false)
                .unwrap_err()
                .to_string()
                .starts_with("--quantiles: this ttm checkpoint gives point forecasts only")
        );
        assert!(q.check_for_model(&ttm(), true).unwrap().is_empty());
        let s = Sampling::parse(&[], Some("sample"), None, Some(1)).unwrap();
        assert_eq!(
            s.check_for_model(&ttm(), false).unwrap(),
            vec![
                "--decoding, --seed only affect(s) sampling models (Chronos-T5); ttm forecasts deterministically, ignored"
                    .to_string()
            ]
        );
        let none = Sampling::parse(&[], None, None, None).unwrap();
        assert!(none.check_for_model(&ttm(), false).unwrap().is_empty());
    }
}
