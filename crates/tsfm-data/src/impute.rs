//! Per-column imputation. Each column is imputed on its own values only (no shared state).

use serde::{Deserialize, Serialize};

/// How missing values of one column are filled.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Imputation {
    /// Linear between neighbours inside the series; after the last reading, that reading
    /// carried forward; before the first reading, the fallback (see [`impute`]). A window whose
    /// context ends inside a gap does not see the interpolation: its trailing run is carried
    /// forward from the last reading (see [`crate::window`]).
    Linear,
    /// Last observation carried forward; before the first reading, the fallback.
    Ffill,
    /// Zero (e.g. insulin/carbs events: no record means none given).
    Zero,
    /// A fixed value.
    Constant(f64),
    /// The mean of the column's observations in the training split (the fallback given to
    /// [`impute`]). Not the whole column's mean: that would put val/test readings into every
    /// window's inputs. A fixed training statistic, like the scaler, rather than an expanding
    /// mean, so that a step gets the same value in training and at deployment.
    Mean,
}

impl Imputation {
    /// Whether the imputed values of a gap depend on the reading after it, so that a context
    /// ending inside the gap must be fixed up (only `Linear`; the others are causal as stored).
    pub fn looks_ahead(self) -> bool {
        self == Imputation::Linear
    }
}

/// The imputation a covariate gets when the options do not name it, by channel name (the
/// BrisT1D / REPLACE-BG channel names). Names not listed here use the options' default.
///
/// * `insulin`, `carbs`: zero. They are events: no record means none given.
/// * `steps`: zero. A count per interval; a missing count almost always means the watch
///   recorded nothing (not worn, or no movement), and carrying a walk forward would invent
///   activity.
/// * `hr`: forward fill. A level, never zero in a living person; the last reading is the best
///   guess and a drop to 0 would look like a huge signal.
/// * `cals`: forward fill. Watch kcal per interval include the resting burn, so 0 is as
///   impossible as hr = 0; unlike steps it is a level-like quantity.
/// * `activity` (category codes 0..k): the constant -1, "no activity declared". Interpolating
///   or carrying codes forward would invent activities.
pub fn default_for_channel(name: &str) -> Option<Imputation> {
    match name {
        "insulin" | "carbs" | "steps" => Some(Imputation::Zero),
        "hr" | "cals" => Some(Imputation::Ffill),
        "activity" => Some(Imputation::Constant(-1.0)),
        _ => None,
    }
}

/// `1.0` where a value is observed, `0.0` where missing (before imputation).
pub fn observed_mask(values: &[f64]) -> Vec<f32> {
    values
        .iter()
        .map(|v| if v.is_nan() { 0.0 } else { 1.0 })
        .collect()
}

/// Fills every NaN of `values` with `strategy`. `fallback` is the value where nothing earlier
/// can be carried: the whole fill for `Mean`, and the steps before the first reading for
/// `Linear` / `Ffill` (taking the first reading there, as before, would copy a later value
/// into earlier steps). The pipeline passes the channel's training-split mean.
pub fn impute(values: &mut [f64], strategy: Imputation, fallback: f64) {
    let observed: Vec<usize> = (0..values.len()).filter(|&i| !values[i].is_nan()).collect();
    match strategy {
        Imputation::Zero => fill_nan(values, 0.0),
        Imputation::Constant(c) => fill_nan(values, c),
        Imputation::Mean => fill_nan(values, fallback),
        _ if observed.is_empty() => fill_nan(values, fallback),
        Imputation::Ffill => {
            let mut last = fallback;
            for v in values.iter_mut() {
                if v.is_nan() {
                    *v = last;
                } else {
                    last = *v;
                }
            }
        }
        Imputation::Linear => {
            let (first, last) = (observed[0], *observed.last().expect("non-empty"));
            let b = values[last];
            values[..first].iter_mut().for_each(|v| *v = fallback);
            values[last + 1..].iter_mut().for_each(|v| *v = b);
            for w in observed.windows(2) {
                let (p, q) = (w[0], w[1]);
                let (a, b) = (values[p], values[q]);
                for (k, v) in values.iter_mut().enumerate().take(q).skip(p + 1) {
                    *v = a + (b - a) * (k - p) as f64 / (q - p) as f64;
                }
            }
        }
    }
}

fn fill_nan(values: &mut [f64], fill: f64) {
    values
        .iter_mut()
        .filter(|v| v.is_nan())
        .for_each(|v| *v = fill);
}

#[cfg(test)]
mod tests {
    use super::*;
    const N: f64 = f64::NAN;

    fn run(s: Imputation) -> Vec<f64> {
        let mut v = vec![N, 2.0, N, N, 8.0, N];
        impute(&mut v, s, 5.0);
        v
    }

    #[test]
    fn strategies() {
        // The leading step takes the fallback 5, never the later reading 2.
        assert_eq!(run(Imputation::Linear), vec![5.0, 2.0, 4.0, 6.0, 8.0, 8.0]);
        assert_eq!(run(Imputation::Ffill), vec![5.0, 2.0, 2.0, 2.0, 8.0, 8.0]);
        assert_eq!(run(Imputation::Zero), vec![0.0, 2.0, 0.0, 0.0, 8.0, 0.0]);
        assert_eq!(
            run(Imputation::Constant(-1.0)),
            vec![-1.0, 2.0, -1.0, -1.0, 8.0, -1.0]
        );
        assert_eq!(run(Imputation::Mean), vec![5.0, 2.0, 5.0, 5.0, 8.0, 5.0]);
        // The fallback, not the column's own mean (3.5 here, which holds later readings).
        let mut v = vec![N, 3.0, 4.0];
        impute(&mut v, Imputation::Mean, 1.5);
        assert_eq!(v, vec![1.5, 3.0, 4.0]);
        let mut all = vec![N, N];
        impute(&mut all, Imputation::Linear, -2.0);
        assert_eq!(all, vec![-2.0, -2.0]);
        let mut all = vec![N, N];
        impute(&mut all, Imputation::Constant(7.0), -2.0);
        assert_eq!(all, vec![7.0, 7.0]);
        assert!(Imputation::Linear.looks_ahead() && !Imputation::Ffill.looks_ahead());
    }

    #[test]
    fn channel_defaults() {
        assert_eq!(default_for_channel("insulin"), Some(Imputation::Zero));
        assert_eq!(default_for_channel("carbs"), Some(Imputation::Zero));
        assert_eq!(default_for_channel("steps"), Some(Imputation::Zero));
        assert_eq!(default_for_channel("hr"), Some(Imputation::Ffill));
        assert_eq!(default_for_channel("cals"), Some(Imputation::Ffill));
        assert_eq!(
            default_for_channel("activity"),
            Some(Imputation::Constant(-1.0))
        );
        assert_eq!(default_for_channel("bg"), None);
        assert_eq!(default_for_channel("temperature"), None);
    }

    #[test]
    fn mask_and_serde() {
        assert_eq!(observed_mask(&[N, 1.0]), vec![0.0, 1.0]);
        let s: Imputation = serde_json::from_str(r#"{"constant":3.5}"#).unwrap();
        assert_eq!(s, Imputation::Constant(3.5));
        let s: Imputation = serde_json::from_str(r#""ffill""#).unwrap();
        assert_eq!(s, Imputation::Ffill);
    }
}
