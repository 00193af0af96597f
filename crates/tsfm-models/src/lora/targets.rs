//! Which linear layers a [`TargetModules`] names, with PEFT's matching rules, and the error
//! when a name matches nothing.

use std::collections::BTreeSet;

use regex::Regex;

use super::config::{ALL_LINEAR, TargetModules};
use crate::forecaster::ModelError;

/// A compiled [`TargetModules`] (never `Default`: resolve it first).
#[derive(Debug, Clone)]
pub struct TargetMatcher {
    targets: TargetModules,
    regex: Option<Regex>,
}

impl TargetMatcher {
    pub fn new(targets: TargetModules) -> Result<Self, ModelError> {
        let regex = match &targets {
            TargetModules::Default => {
                return Err(ModelError::Invalid(
                    "LoRA target_modules: resolve the family default before matching".into(),
                ));
            }
            TargetModules::Names(names) => {
                if names.is_empty() || names.iter().any(|n| n.trim().is_empty()) {
                    return Err(ModelError::Invalid(format!(
                        "LoRA target_modules: {names:?} has an empty name; give layer names such as `fc1`"
                    )));
                }
                None
            }
            TargetModules::Pattern(p) if p.eq_ignore_ascii_case(ALL_LINEAR) => None,
            // Python's `re.fullmatch`: the pattern must match the whole name.
            TargetModules::Pattern(p) => Some(Regex::new(&format!("^(?:{p})$")).map_err(|e| {
                // The last line of regex's report says what is wrong.
                let report = e.to_string();
                let reason = report.lines().last().unwrap_or_default();
                let reason = reason.strip_prefix("error: ").unwrap_or(reason);
                ModelError::Invalid(format!(
                    "LoRA target_modules: `{p}` is not a valid regular expression: {reason}"
                ))
            })?),
        };
        Ok(Self { targets, regex })
    }

    pub fn targets(&self) -> &TargetModules {
        &self.targets
    }

    /// Whether the linear layer `module` (its HF name) gets an adapter.
    pub fn matches(&self, module: &str) -> bool {
        match (&self.targets, &self.regex) {
            (TargetModules::Names(names), _) => names.iter().any(|n| name_matches(n, module)),
            (_, Some(re)) => re.is_match(module),
            // `all-linear`: PEFT leaves out a generative model's output layer.
            (_, None) => !(module == "lm_head" || module.ends_with(".lm_head")),
        }
    }

    /// Every listed name (or the pattern) must have matched one of `linears`, the linear
    /// layers the model has; otherwise an error that shows what the layers are called.
    pub fn check_all_used(&self, linears: &[String], model_type: &str) -> Result<(), ModelError> {
        let unmatched: Vec<String> = match &self.targets {
            TargetModules::Names(names) => names
                .iter()
                .filter(|n| !linears.iter().any(|m| name_matches(n, m)))
                .map(|n| format!("`{n}`"))
                .collect(),
            _ if linears.iter().any(|m| self.matches(m)) => Vec::new(),
            TargetModules::Pattern(p) => vec![format!("the pattern `{p}` (a whole-name match)")],
            TargetModules::Default => unreachable!("rejected by new"),
        };
        if unmatched.is_empty() {
            return Ok(());
        }
        let verb = if unmatched.len() == 1 {
            "matches"
        } else {
            "match"
        };
        Err(ModelError::Invalid(format!(
            "LoRA target_modules: {} {verb} no linear layer of this {model_type} checkpoint; {}",
            unmatched.join(", "),
            describe_linears(linears)
        )))
    }
}

/// PEFT's rule for one listed name: the whole module name, or its tail after a `.`.
fn name_matches(name: &str, module: &str) -> bool {
    module == name
        || module
            .strip_suffix(name)
            .is_some_and(|head| head.ends_with('.'))
}

/// "its linear layers end in `a`, `b`; e.g. `x.a`, `y.b`".
fn describe_linears(linears: &[String]) -> String {
    if linears.is_empty() {
        return "it has no linear layers".into();
    }
    let tails: BTreeSet<&str> = linears
        .iter()
        .map(|m| m.rsplit('.').next().unwrap_or(m))
        .collect();
    let quote = |items: &mut dyn Iterator<Item = &str>| {
        items
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "its linear layers end in {} (e.g. {})",
        quote(&mut tails.into_iter()),
        quote(&mut linears.iter().take(3).map(String::as_str))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> TargetMatcher {
        TargetMatcher::new(TargetModules::Names(
            n.iter().map(|s| s.to_string()).collect(),
        ))
        .unwrap()
    }

    fn pattern(p: &str) -> TargetMatcher {
        TargetMatcher::new(TargetModules::Pattern(p.into())).unwrap()
    }

    #[test]
    fn a_listed_name_matches_the_whole_name_or_a_tail_at_a_dot() {
        let m = names(&["fc1", "mixer.attn"]);
        assert!(m.matches("fc1"));
        assert!(m.matches("backbone.mlp.fc1"));
        assert!(m.matches("a.mixer.attn"));
        assert!(
            !m.matches("backbone.mlp.xfc1"),
            "a suffix that is not a whole part"
        );
        assert!(!m.matches("backbone.fc1.bias_layer"));
        assert!(!m.matches("a.premixer.attn"));
        assert!(!m.matches("fc10"));
    }

    #[test]
    fn a_pattern_must_match_the_whole_name() {
        let m = pattern(r".*\.(q|v)");
        assert!(m.matches("encoder.block.0.layer.0.SelfAttention.q"));
        assert!(!m.matches("encoder.block.0.layer.0.SelfAttention.qx"));
        // `fc` alone matches no whole name, as Python's re.fullmatch.
        assert!(!pattern("fc").matches("mlp.fc1"));
        assert!(
            pattern("a|b").matches("b"),
            "alternation stays inside the anchors"
        );
    }

    #[test]
    fn all_linear_skips_only_a_language_model_head() {
        for spelling in ["all-linear", "ALL-Linear"] {
            let m = pattern(spelling);
            assert!(m.matches("decoder.block.0.layer.1.EncDecAttention.o"));
            assert!(m.matches("head.base_forecast_block"));
            assert!(!m.matches("lm_head"));
        }
    }

    #[test]
    fn bad_targets_are_refused_with_the_reason() {
        let err = TargetMatcher::new(TargetModules::Pattern("fc(".into()))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "LoRA target_modules: `fc(` is not a valid regular expression: unclosed group"
        );
        let err = TargetMatcher::new(TargetModules::Names(vec!["fc1".into(), " ".into()]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            r#"LoRA target_modules: ["fc1", " "] has an empty name; give layer names such as `fc1`"#
        );
    }

    #[test]
    fn a_name_that_matches_nothing_is_named_with_what_exists() {
        let linears: Vec<String> = ["enc.patcher", "enc.mlp.fc1", "enc.mlp.fc2", "head.proj"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        names(&["fc1", "fc2"])
            .check_all_used(&linears, "ttm")
            .unwrap();
        let err = names(&["fc1", "fc3", "q"])
            .check_all_used(&linears, "ttm")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "LoRA target_modules: `fc3`, `q` match no linear layer of this ttm checkpoint; its \
             linear layers end in `fc1`, `fc2`, `patcher`, `proj` (e.g. `enc.patcher`, \
             `enc.mlp.fc1`, `enc.mlp.fc2`)"
        );
        let err = pattern(r".*\.q")
            .check_all_used(&linears, "ttm")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                r"LoRA target_modules: the pattern `.*\.q` (a whole-name match) matches no linear"
            ),
            "{err}"
        );
        pattern(r"enc\..*").check_all_used(&linears, "ttm").unwrap();
    }
}
