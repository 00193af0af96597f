//! Per-column imputation. Each column is imputed on its own values only (no shared state).

use serde::{Deserialize, Serialize};

/// How missing values of one column are filled.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Imputation {
    /// Linear between neighbours; edges take the nearest observed value.
    Linear,
    /// Last observation carried forward; leading gaps take the first observed value.
    Ffill,
    /// Zero (e.g. insulin/carbs events: no record means none given).
    Zero,
    /// A fixed value.
    Constant(f64),
    /// The column's mean over its observed values.
    Mean,
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

/// Fills every NaN of `values` with `strategy`. A column with no observed value at all becomes
/// zeros for `Linear`/`Ffill`/`Mean` (there is nothing to carry) — its mask stays all zero.
pub fn impute(values: &mut [f64], strategy: Imputation) {
    let observed: Vec<usize> = (0..values.len()).filter(|&i| !values[i].is_nan()).collect();
    if observed.is_empty() {
        let fill = match strategy {
            Imputation::Constant(c) => c,
            _ => 0.0,
        };
        values.iter_mut().for_each(|v| *v = fill);
        return;
    }
    match strategy {
        Imputation::Zero => fill_nan(values, 0.0),
        Imputation::Constant(c) => fill_nan(values, c),
        Imputation::Mean => {
            let mean = observed.iter().map(|&i| values[i]).sum::<f64>() / observed.len() as f64;
            fill_nan(values, mean);
        }
        Imputation::Ffill => {
            let mut last = values[observed[0]];
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
            let (a, b) = (values[first], values[last]);
            values[..first].iter_mut().for_each(|v| *v = a);
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
        impute(&mut v, s);
        v
    }

    #[test]
    fn strategies() {
        assert_eq!(run(Imputation::Linear), vec![2.0, 2.0, 4.0, 6.0, 8.0, 8.0]);
        assert_eq!(run(Imputation::Ffill), vec![2.0, 2.0, 2.0, 2.0, 8.0, 8.0]);
        assert_eq!(run(Imputation::Zero), vec![0.0, 2.0, 0.0, 0.0, 8.0, 0.0]);
        assert_eq!(
            run(Imputation::Constant(-1.0)),
            vec![-1.0, 2.0, -1.0, -1.0, 8.0, -1.0]
        );
        assert_eq!(run(Imputation::Mean), vec![5.0, 2.0, 5.0, 5.0, 8.0, 5.0]);
        let mut all = vec![N, N];
        impute(&mut all, Imputation::Mean);
        assert_eq!(all, vec![0.0, 0.0]);
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
