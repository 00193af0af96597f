//! TimesFM's forecast settings (the official `ForecastConfig`) from `model.params`:
//! `max_context`, `max_horizon`, `normalize_inputs`, `use_continuous_quantile_head`,
//! `force_flip_invariance`, `infer_is_positive`, `fix_quantile_crossing`. Unset keys keep the
//! official README example's values (1024-step context, every flag on, `max_horizon` = the
//! horizon asked for). Training, evaluation and `predict` all forecast with the same settings.
use tsfm_config::{ModelConfig, ModelType};
use tsfm_models::timesfm::ForecastSettings;

use crate::error::{Result, user};

/// The `model.params` keys a TimesFM checkpoint reads beside its shape.
pub const TIMESFM_PARAMS: &[&str] = &[
    "max_context",
    "max_horizon",
    "normalize_inputs",
    "use_continuous_quantile_head",
    "force_flip_invariance",
    "infer_is_positive",
    "fix_quantile_crossing",
];

/// The settings of a TimesFM config (`None` for other families, whose params may hold none
/// of [`TIMESFM_PARAMS`], checked by `check_model`). `model.params.context_length`, when
/// given, is the default `max_context` (the two must agree if both are set).
pub fn settings(model: &ModelConfig) -> Result<Option<ForecastSettings>> {
    if model.model_type != ModelType::Timesfm {
        return Ok(None);
    }
    let mut s = ForecastSettings::default();
    let positive = |key: &str| -> Result<Option<usize>> {
        match model.params.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|n| *n >= 1)
                .map(|n| Some(n as usize))
                .ok_or_else(|| {
                    user(format!(
                        "model.params.{key}: expected an integer of 1 or more"
                    ))
                }),
        }
    };
    let context = positive("context_length")?;
    let max_context = positive("max_context")?;
    if let (Some(c), Some(m)) = (context, max_context)
        && c != m
    {
        return Err(user(format!(
            "model.params.max_context: {m} disagrees with model.params.context_length {c} (for \
             TimesFM both are the context the model reads); give one of them"
        )));
    }
    if let Some(c) = max_context.or(context) {
        s.max_context = c;
    }
    s.max_horizon = positive("max_horizon")?;
    for (key, flag) in [
        ("normalize_inputs", &mut s.normalize_inputs),
        (
            "use_continuous_quantile_head",
            &mut s.use_continuous_quantile_head,
        ),
        ("force_flip_invariance", &mut s.force_flip_invariance),
        ("infer_is_positive", &mut s.infer_is_positive),
        ("fix_quantile_crossing", &mut s.fix_quantile_crossing),
    ] {
        if let Some(v) = model.params.get(key) {
            *flag = v
                .as_bool()
                .ok_or_else(|| user(format!("model.params.{key}: expected true or false")))?;
        }
    }
    Ok(Some(s))
}

/// `tsfm predict`'s TimesFM flags (`--max-context`, `--max-horizon`, `--normalize-inputs`,
/// `--use-continuous-quantile-head`, `--force-flip-invariance`, `--infer-is-positive`,
/// `--fix-quantile-crossing`), each over the config's (or the README example's) value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimesFmFlags {
    pub max_context: Option<usize>,
    pub max_horizon: Option<usize>,
    pub normalize_inputs: Option<bool>,
    pub use_continuous_quantile_head: Option<bool>,
    pub force_flip_invariance: Option<bool>,
    pub infer_is_positive: Option<bool>,
    pub fix_quantile_crossing: Option<bool>,
}

impl TimesFmFlags {
    /// The flags given, by name (for the message when the model is not TimesFM).
    pub fn given(&self) -> Vec<&'static str> {
        [
            ("--max-context", self.max_context.is_some()),
            ("--max-horizon", self.max_horizon.is_some()),
            ("--normalize-inputs", self.normalize_inputs.is_some()),
            (
                "--use-continuous-quantile-head",
                self.use_continuous_quantile_head.is_some(),
            ),
            (
                "--force-flip-invariance",
                self.force_flip_invariance.is_some(),
            ),
            ("--infer-is-positive", self.infer_is_positive.is_some()),
            (
                "--fix-quantile-crossing",
                self.fix_quantile_crossing.is_some(),
            ),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }

    /// `base` with these flags applied; sizes of 0 are refused by name.
    pub fn apply(&self, base: ForecastSettings) -> Result<ForecastSettings> {
        for (name, v) in [
            ("--max-context", self.max_context),
            ("--max-horizon", self.max_horizon),
        ] {
            if v == Some(0) {
                return Err(user(format!("{name}: 0 steps; give 1 or more")));
            }
        }
        Ok(ForecastSettings {
            max_context: self.max_context.unwrap_or(base.max_context),
            max_horizon: self.max_horizon.or(base.max_horizon),
            normalize_inputs: self.normalize_inputs.unwrap_or(base.normalize_inputs),
            use_continuous_quantile_head: self
                .use_continuous_quantile_head
                .unwrap_or(base.use_continuous_quantile_head),
            force_flip_invariance: self
                .force_flip_invariance
                .unwrap_or(base.force_flip_invariance),
            infer_is_positive: self.infer_is_positive.unwrap_or(base.infer_is_positive),
            fix_quantile_crossing: self
                .fix_quantile_crossing
                .unwrap_or(base.fix_quantile_crossing),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(yaml: &str) -> ModelConfig {
        ModelConfig {
            model_type: ModelType::Timesfm,
            params: yaml_serde::from_str(yaml).unwrap(),
            ..Default::default()
        }
    }

    #[test]
    fn unset_keys_keep_the_readme_settings() {
        assert_eq!(
            settings(&model("{}")).unwrap(),
            Some(ForecastSettings::default())
        );
        let s = settings(&model(
            "{context_length: 96, fix_quantile_crossing: false, max_horizon: 24}",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(
            (s.max_context, s.max_horizon, s.fix_quantile_crossing),
            (96, Some(24), false)
        );
        assert!(s.normalize_inputs && s.force_flip_invariance);
        let other = ModelConfig {
            params: yaml_serde::from_str("{context_length: 96}").unwrap(),
            ..Default::default()
        };
        assert_eq!(settings(&other).unwrap(), None);
    }

    #[test]
    fn flags_override_the_settings_they_name() {
        let flags = TimesFmFlags {
            max_context: Some(256),
            force_flip_invariance: Some(false),
            ..Default::default()
        };
        let s = flags.apply(ForecastSettings::default()).unwrap();
        assert_eq!(
            (s.max_context, s.force_flip_invariance, s.normalize_inputs),
            (256, false, true)
        );
        assert_eq!(
            flags.given(),
            vec!["--max-context", "--force-flip-invariance"]
        );
        let zero = TimesFmFlags {
            max_horizon: Some(0),
            ..Default::default()
        };
        assert_eq!(
            zero.apply(s).unwrap_err().to_string(),
            "--max-horizon: 0 steps; give 1 or more"
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = |yaml: &str| settings(&model(yaml)).unwrap_err().to_string();
        assert_eq!(
            err("{normalize_inputs: 1}"),
            "model.params.normalize_inputs: expected true or false"
        );
        assert_eq!(
            err("{max_context: 0}"),
            "model.params.max_context: expected an integer of 1 or more"
        );
        assert_eq!(
            err("{max_context: 64, context_length: 96}"),
            "model.params.max_context: 64 disagrees with model.params.context_length 96 (for TimesFM \
             both are the context the model reads); give one of them"
        );
    }
}
