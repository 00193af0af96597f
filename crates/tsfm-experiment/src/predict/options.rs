//! Checking `--quantiles` and the decoding flags (`--decoding`, `--num-samples`,
//! `--temperature`, `--top-k`, `--top-p`, `--seed`) before any model is read, and against what
//! the chosen model can produce.
use tsfm_models::CheckpointInfo;

use crate::error::{Result, user as user_error};
use crate::options::decoding::DecodingSettings;

/// The decoding flags as given, before checking.
#[derive(Debug, Clone, Default)]
pub struct DecodingFlags<'a> {
    pub decoding: Option<&'a str>,
    pub num_samples: Option<usize>,
    pub temperature: Option<f64>,
    pub top_k: Option<usize>,
    pub top_p: Option<f64>,
    pub seed: Option<u64>,
}

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
    pub temperature: Option<f32>,
    pub top_k: Option<usize>,
    pub top_p: Option<f32>,
    pub seed: Option<u64>,
}

impl Sampling {
    /// Every value checked on its own: quantile levels in (0, 1), increasing, no repeats;
    /// decoding `greedy` or `sample`; at least one sample; temperature above 0; top-p in (0, 1].
    pub fn parse(quantiles: &[f64], flags: &DecodingFlags<'_>) -> Result<Sampling> {
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
        let decoding = match flags.decoding {
            None => None,
            Some("greedy") => Some(Decoding::Greedy),
            Some("sample") => Some(Decoding::Sample),
            Some(other) => {
                return Err(user_error(format!(
                    "--decoding: `{other}` is neither `greedy` nor `sample`"
                )));
            }
        };
        if flags.num_samples == Some(0) {
            return Err(user_error(
                "--num-samples: 0 samples cannot make a forecast; give 1 or more",
            ));
        }
        if let Some(t) = flags.temperature.filter(|t| !(t.is_finite() && *t > 0.0)) {
            return Err(user_error(format!(
                "--temperature: {t} is not above 0; give e.g. 1.0 (the checkpoint's usual value)"
            )));
        }
        if let Some(p) = flags.top_p.filter(|p| !(*p > 0.0 && *p <= 1.0)) {
            return Err(user_error(format!(
                "--top-p: {p} is not in (0, 1]; give e.g. 1.0 (no nucleus filtering)"
            )));
        }
        Ok(Sampling {
            quantiles: quantiles.to_vec(),
            decoding,
            num_samples: flags.num_samples,
            temperature: flags.temperature.map(|t| t as f32),
            top_k: flags.top_k,
            top_p: flags.top_p.map(|p| p as f32),
            seed: flags.seed,
        })
    }

    /// The decoding of a sampling model: these flags over `base` (the run's config or the
    /// checkpoint's defaults). `None` for a deterministic model.
    pub fn decoding(&self, base: Option<DecodingSettings>) -> Option<tsfm_models::Decoding> {
        let mut s = base?;
        if let Some(d) = self.decoding {
            s.greedy = d == Decoding::Greedy;
        }
        let o = &mut s.sample;
        o.num_samples = self.num_samples.unwrap_or(o.num_samples);
        o.temperature = self.temperature.unwrap_or(o.temperature);
        o.top_k = self.top_k.unwrap_or(o.top_k);
        o.top_p = self.top_p.unwrap_or(o.top_p);
        o.seed = self.seed.unwrap_or(o.seed);
        Some(s.decoding())
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
        if info.sampling.is_some() {
            return Ok(warnings);
        }
        let mut ignored = Vec::new();
        let given = [
            ("--decoding", self.decoding.is_some()),
            ("--num-samples", self.num_samples.is_some()),
            ("--temperature", self.temperature.is_some()),
            ("--top-k", self.top_k.is_some()),
            ("--top-p", self.top_p.is_some()),
            ("--seed", self.seed.is_some()),
        ];
        for (flag, set) in given {
            if set {
                ignored.push(flag);
            }
        }
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

    fn flags(decoding: Option<&str>) -> DecodingFlags<'_> {
        DecodingFlags {
            decoding,
            ..Default::default()
        }
    }

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
            sampling: None,
        }
    }

    #[test]
    fn good_values_pass() {
        let s = Sampling::parse(
            &[0.1, 0.5, 0.9],
            &DecodingFlags {
                decoding: Some("sample"),
                num_samples: Some(20),
                seed: Some(7),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s.quantiles, vec![0.1, 0.5, 0.9]);
        assert_eq!(s.decoding, Some(Decoding::Sample));
        assert_eq!(s.num_samples, Some(20));
        assert_eq!(
            Sampling::parse(&[], &flags(Some("greedy")))
                .unwrap()
                .decoding,
            Some(Decoding::Greedy)
        );
    }

    #[test]
    fn bad_values_are_named() {
        assert_eq!(
            err(Sampling::parse(&[0.1, 1.0], &flags(None))),
            "--quantiles: 1 is not a level between 0 and 1 (exclusive); write levels like 0.1,0.5,0.9"
        );
        assert!(err(Sampling::parse(&[0.0], &flags(None))).starts_with("--quantiles: 0 is not"));
        assert!(
            err(Sampling::parse(&[f64::NAN], &flags(None))).starts_with("--quantiles: NaN is not")
        );
        assert_eq!(
            err(Sampling::parse(&[0.5, 0.1], &flags(None))),
            "--quantiles: levels must be increasing without repeats, but 0.5 is followed by 0.1 in 0.5,0.1; write e.g. 0.1,0.5,0.9"
        );
        assert!(err(Sampling::parse(&[0.5, 0.5], &flags(None))).contains("0.5 is followed by 0.5"));
        assert_eq!(
            err(Sampling::parse(&[], &flags(Some("beam")))),
            "--decoding: `beam` is neither `greedy` nor `sample`"
        );
        assert_eq!(
            err(Sampling::parse(
                &[],
                &DecodingFlags {
                    num_samples: Some(0),
                    ..Default::default()
                }
            )),
            "--num-samples: 0 samples cannot make a forecast; give 1 or more"
        );
    }

    #[test]
    fn a_point_model_needs_a_calibration_for_quantiles_and_ignores_sampling_flags() {
        let q = Sampling::parse(&[0.5], &flags(None)).unwrap();
        assert!(
            q.check_for_model(&ttm(), false)
                .unwrap_err()
                .to_string()
                .starts_with("--quantiles: this ttm checkpoint gives point forecasts only")
        );
        assert!(q.check_for_model(&ttm(), true).unwrap().is_empty());
        let s = Sampling::parse(
            &[],
            &DecodingFlags {
                decoding: Some("sample"),
                seed: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            s.check_for_model(&ttm(), false).unwrap(),
            vec![
                "--decoding, --seed only affect(s) sampling models (Chronos-T5); ttm forecasts deterministically, ignored"
                    .to_string()
            ]
        );
        let none = Sampling::parse(&[], &flags(None)).unwrap();
        assert!(none.check_for_model(&ttm(), false).unwrap().is_empty());
    }

    #[test]
    fn flags_override_the_base_decoding_field_by_field() {
        let base = DecodingSettings {
            greedy: true,
            sample: tsfm_models::SamplingOptions {
                num_samples: 20,
                temperature: 1.0,
                top_k: 50,
                top_p: 1.0,
                seed: 3,
            },
        };
        let s = Sampling::parse(
            &[],
            &DecodingFlags {
                decoding: Some("sample"),
                num_samples: Some(5),
                top_p: Some(0.9),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            s.decoding(Some(base.clone())),
            Some(tsfm_models::Decoding::Sample(
                tsfm_models::SamplingOptions {
                    num_samples: 5,
                    temperature: 1.0,
                    top_k: 50,
                    top_p: 0.9,
                    seed: 3,
                }
            ))
        );
        let none = Sampling::parse(&[], &flags(None)).unwrap();
        assert_eq!(
            none.decoding(Some(base)),
            Some(tsfm_models::Decoding::Greedy)
        );
        assert_eq!(s.decoding(None), None);
        assert_eq!(
            err(Sampling::parse(
                &[],
                &DecodingFlags {
                    temperature: Some(0.0),
                    ..Default::default()
                }
            )),
            "--temperature: 0 is not above 0; give e.g. 1.0 (the checkpoint's usual value)"
        );
        assert_eq!(
            err(Sampling::parse(
                &[],
                &DecodingFlags {
                    top_p: Some(1.5),
                    ..Default::default()
                }
            )),
            "--top-p: 1.5 is not in (0, 1]; give e.g. 1.0 (no nucleus filtering)"
        );
    }
}
