//! Categorical covariates as chronos-forecasting 2.3.2's preprocessing turns them into numbers
//! (`chronos2/preprocess.py`: `_stack_covariate`, `_encode_categorical`, `_target_encode`),
//! on the host, once per forecast request over every series of the request.
//!
//! The package's rules, which this follows:
//! - the categories are the distinct values of the column's *past* over all series, sorted
//!   (a pandas `category` over the stacked past); a missing value (`None`, the package's NaN)
//!   is a category of its own, slot `n` after the `n` real ones;
//! - a future value that occurs in no series' past is "unseen" (the package's sentinel slot
//!   `n + 1`); a missing future value goes to the missing slot like a missing past one;
//! - with one target per task ([`Encoding::Target`]) each value becomes the smoothed mean of
//!   that series' target over the past steps with that category,
//!   `(smooth * series_mean + sum) / (smooth + count)` with `smooth` = 1 and non-finite target
//!   steps left out of every sum and count; a category the series never had in its past
//!   (unseen, or seen only in other series) gets the series mean, and a series without any
//!   finite target has mean 0. Sums run in f64 in time order and are rounded to f32 once,
//!   as the package's `np.bincount` does;
//! - with several targets per task ([`Encoding::Ordinal`]) each value becomes its category's
//!   index as a float (missing = `n`); an unseen future value becomes NaN, which the model
//!   reads as "not known".
//!
//! The package decides the encoding from the number of target rows
//! ([`Encoding::package_default`]); target encoding reads the first (only) target row.

use std::collections::BTreeMap;

use crate::forecaster::ModelError;

/// One series' values of one categorical covariate (`None` = missing).
#[derive(Debug, Clone, PartialEq)]
pub struct CategoricalColumn<'a> {
    /// One value per past step: as many as the series' target.
    pub past: Vec<Option<&'a str>>,
    /// Known future values (any length, usually the horizon); `None` for a past-only
    /// covariate or when the future values are not given.
    pub future: Option<Vec<Option<&'a str>>>,
}

/// One series' encoded covariate: the context row and, if future values were given, the
/// future row (the model's `future_covariates`).
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedColumn {
    pub past: Vec<f32>,
    pub future: Option<Vec<f32>>,
}

/// How category values become numbers.
#[derive(Debug, Clone, Copy)]
pub enum Encoding<'a> {
    /// Per-series smoothed target means; one target row per series (NaN = missing).
    Target(&'a [&'a [f32]]),
    /// The category's index among the sorted past categories.
    Ordinal,
}

impl<'a> Encoding<'a> {
    /// What `Chronos2Pipeline.predict` uses: target encoding when each task has exactly one
    /// target row (`targets` holds it, one per series), ordinal codes otherwise.
    pub fn package_default(n_targets: usize, targets: &'a [&'a [f32]]) -> Self {
        if n_targets == 1 {
            Encoding::Target(targets)
        } else {
            Encoding::Ordinal
        }
    }
}

/// Sorted past categories and the slot every value maps to.
struct Categories<'a> {
    index: BTreeMap<&'a str, usize>,
}

impl<'a> Categories<'a> {
    fn from_past(columns: &[CategoricalColumn<'a>]) -> Self {
        let mut index: BTreeMap<&'a str, usize> = columns
            .iter()
            .flat_map(|c| c.past.iter().flatten())
            .map(|&v| (v, 0))
            .collect();
        // `&str` orders by bytes, which for UTF-8 is the code-point order pandas sorts by.
        for (i, slot) in index.values_mut().enumerate() {
            *slot = i;
        }
        Categories { index }
    }

    fn missing(&self) -> usize {
        self.index.len()
    }

    fn unseen(&self) -> usize {
        self.index.len() + 1
    }

    fn slot(&self, value: Option<&str>) -> usize {
        match value {
            None => self.missing(),
            Some(v) => self.index.get(v).copied().unwrap_or(self.unseen()),
        }
    }
}

/// Encodes one categorical covariate of every series of a request (`columns[i]` is series
/// `i`). `name` is the covariate's name, for error messages.
pub fn encode_column(
    name: &str,
    columns: &[CategoricalColumn],
    encoding: Encoding,
) -> Result<Vec<EncodedColumn>, ModelError> {
    let categories = Categories::from_past(columns);
    let slots = |values: &[Option<&str>]| -> Vec<usize> {
        values.iter().map(|&v| categories.slot(v)).collect()
    };
    match encoding {
        Encoding::Ordinal => Ok(columns
            .iter()
            .map(|c| {
                let code = |s: usize| {
                    if s == categories.unseen() {
                        f32::NAN
                    } else {
                        s as f32
                    }
                };
                EncodedColumn {
                    past: slots(&c.past).into_iter().map(code).collect(),
                    future: c
                        .future
                        .as_ref()
                        .map(|f| slots(f).into_iter().map(code).collect()),
                }
            })
            .collect()),
        Encoding::Target(targets) => {
            if targets.len() != columns.len() {
                return Err(ModelError::Invalid(format!(
                    "categorical covariate '{name}': {} series of values but {} target series; \
                     pass one target row per series",
                    columns.len(),
                    targets.len()
                )));
            }
            columns
                .iter()
                .zip(targets)
                .enumerate()
                .map(|(i, (c, target))| {
                    if c.past.len() != target.len() {
                        return Err(ModelError::Invalid(format!(
                            "categorical covariate '{name}', series {i}: {} past values for a \
                             target of {} steps; give the covariate one value per target step",
                            c.past.len(),
                            target.len()
                        )));
                    }
                    let lookup = target_means(&slots(&c.past), target, categories.unseen() + 1);
                    let encode = |s: Vec<usize>| s.into_iter().map(|s| lookup[s]).collect();
                    Ok(EncodedColumn {
                        past: encode(slots(&c.past)),
                        future: c.future.as_ref().map(|f| encode(slots(f))),
                    })
                })
                .collect()
        }
    }
}

/// `_target_encode` for one series: the smoothed target mean of every slot (`n_slots`
/// includes the missing and unseen slots, whose sums stay 0 unless seen, so they fall back
/// to the series mean).
fn target_means(slots: &[usize], target: &[f32], n_slots: usize) -> Vec<f32> {
    const SMOOTH: f64 = 1.0;
    let (mut sums, mut counts) = (vec![0f64; n_slots], vec![0f64; n_slots]);
    let (mut total, mut count) = (0f64, 0f64);
    for (&s, &y) in slots.iter().zip(target) {
        if y.is_finite() {
            sums[s] += y as f64;
            counts[s] += 1.0;
            total += y as f64;
            count += 1.0;
        }
    }
    let mean = if count > 0.0 { total / count } else { 0.0 };
    sums.iter()
        .zip(&counts)
        .map(|(s, n)| ((SMOOTH * mean + s) / (SMOOTH + n)) as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col<'a>(
        past: &[Option<&'a str>],
        future: Option<&[Option<&'a str>]>,
    ) -> CategoricalColumn<'a> {
        CategoricalColumn {
            past: past.to_vec(),
            future: future.map(|f| f.to_vec()),
        }
    }

    /// Several targets: sorted categories over all series' past (b=0, c=1), missing = 2,
    /// unseen future = NaN; a series without future values has none. (The package's
    /// `from_list_of_dicts` gives these codes for the same values with two target rows.)
    #[test]
    fn ordinal_codes_sort_the_past_categories_of_all_series() {
        let columns = [
            col(
                &[Some("c"), None, Some("c")],
                Some(&[Some("b"), Some("z"), None]),
            ),
            col(&[Some("b"), Some("c")], None),
        ];
        let out = encode_column("kind", &columns, Encoding::Ordinal).unwrap();
        assert_eq!(out[0].past, vec![1.0, 2.0, 1.0]);
        let future = out[0].future.as_ref().unwrap();
        assert_eq!(future[0], 0.0);
        assert!(future[1].is_nan());
        assert_eq!(future[2], 2.0);
        assert_eq!(
            out[1],
            EncodedColumn {
                past: vec![0.0, 1.0],
                future: None
            }
        );
    }

    /// One target, by hand (the package's `from_list_of_dicts` gives the same numbers): NaN
    /// target steps are skipped, the missing category has its own mean, an unseen future
    /// value gets the series mean.
    #[test]
    fn target_encoding_smooths_per_series_and_category() {
        let t0: &[f32] = &[1.0, f32::NAN, 3.0, 5.0, 7.0];
        let t1: &[f32] = &[f32::NAN, f32::NAN];
        let targets = [t0, t1];
        let columns = [
            col(
                &[Some("a"), Some("a"), None, Some("b"), Some("a")],
                Some(&[Some("b"), None, Some("new"), Some("a")]),
            ),
            col(&[Some("a"), None], Some(&[Some("b")])),
        ];
        let out = encode_column("kind", &columns, Encoding::Target(&targets)).unwrap();
        // Series 0: mean (1 + 3 + 5 + 7) / 4 = 4; 'a' = (4 + 1 + 7) / 3 = 4 (the NaN step
        // does not count), missing = (4 + 3) / 2 = 3.5, 'b' = (4 + 5) / 2 = 4.5, unseen = 4.
        assert_eq!(out[0].past, vec![4.0, 4.0, 3.5, 4.5, 4.0]);
        assert_eq!(out[0].future, Some(vec![4.5, 3.5, 4.0, 4.0]));
        // Series 1: no finite target, so every slot is the mean 0.
        assert_eq!(out[1].past, vec![0.0, 0.0]);
        assert_eq!(out[1].future, Some(vec![0.0]));
    }

    #[test]
    fn target_encoding_uneven_sums_round_once_to_f32() {
        let t: &[f32] = &[0.1, 0.2, 0.7];
        let targets = [t];
        let columns = [col(&[Some("x"), Some("x"), Some("y")], None)];
        let out = encode_column("kind", &columns, Encoding::Target(&targets)).unwrap();
        let mean = (0.1f32 as f64 + 0.2f32 as f64 + 0.7f32 as f64) / 3.0;
        let x = ((mean + 0.1f32 as f64 + 0.2f32 as f64) / 3.0) as f32;
        let y = ((mean + 0.7f32 as f64) / 2.0) as f32;
        assert_eq!(out[0].past, vec![x, x, y]);
    }

    #[test]
    fn package_default_picks_the_encoding_from_the_target_count() {
        let t: &[f32] = &[1.0];
        let targets = [t];
        assert!(matches!(
            Encoding::package_default(1, &targets),
            Encoding::Target(_)
        ));
        assert!(matches!(
            Encoding::package_default(2, &targets),
            Encoding::Ordinal
        ));
    }

    #[test]
    fn mismatched_lengths_name_the_covariate_and_series() {
        let t: &[f32] = &[1.0, 2.0];
        let targets = [t, t];
        let columns = [col(&[Some("a"), Some("b")], None), col(&[Some("a")], None)];
        let err = encode_column("activity", &columns, Encoding::Target(&targets)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "categorical covariate 'activity', series 1: 1 past values for a target of 2 \
             steps; give the covariate one value per target step"
        );
        let err = encode_column("activity", &columns[..1], Encoding::Target(&targets)).unwrap_err();
        assert!(
            err.to_string()
                .contains("1 series of values but 2 target series"),
            "{err}"
        );
    }
}
