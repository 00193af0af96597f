//! Train / validation / test assignment.
//!
//! Each series gets three index ranges of its (regular) time axis. A window belongs to a split
//! when its forecast horizon lies inside that split's range. Training windows also keep their
//! context inside the train range, so nothing after the train period leaks into training. As in
//! granite-tsfm, validation and test windows may take their context from the preceding period
//! (the end of train / val), so the first val/test forecast can start right at the boundary.

use crate::preprocess_error::PreprocessError;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Fewest validation windows accepted when early stopping or best-model selection needs them.
pub const MIN_VALIDATION_WINDOWS: usize = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SplitSpec {
    /// Chronological fractions of each series' usable (segmented) rows; test gets the rest.
    Temporal { train: f64, val: f64 },
    /// Naive local seconds since epoch: train `< train_end <=` val `< val_end <=` test.
    DateRange { train_end: i64, val_end: i64 },
    /// Whole series held out by id; every other series is training data.
    Patient {
        val_ids: Vec<String>,
        test_ids: Vec<String>,
    },
    /// `test_ids` held out whole; the other series are split by temporal fractions (train, val,
    /// rest unused so that test is only unseen patients).
    Hybrid {
        test_ids: Vec<String>,
        train: f64,
        val: f64,
    },
}

impl Default for SplitSpec {
    fn default() -> Self {
        SplitSpec::Temporal {
            train: 0.7,
            val: 0.1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Train,
    Val,
    Test,
}

/// Index ranges of one series per role (possibly empty).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SplitRanges {
    pub train: Range<usize>,
    pub val: Range<usize>,
    pub test: Range<usize>,
}

impl SplitRanges {
    pub fn get(&self, role: Role) -> Range<usize> {
        match role {
            Role::Train => self.train.clone(),
            Role::Val => self.val.clone(),
            Role::Test => self.test.clone(),
        }
    }
}

impl SplitSpec {
    pub fn validate(&self) -> Result<(), PreprocessError> {
        let fractions = |train: f64, val: f64| {
            if !(train > 0.0 && val >= 0.0 && train + val <= 1.0 + 1e-9) {
                return Err(PreprocessError::BadOption {
                    option: "split",
                    message: format!(
                        "fractions train={train}, val={val} must satisfy train > 0, val >= 0, train + val <= 1"
                    ),
                });
            }
            Ok(())
        };
        match self {
            SplitSpec::Temporal { train, val } | SplitSpec::Hybrid { train, val, .. } => {
                fractions(*train, *val)
            }
            SplitSpec::DateRange { train_end, val_end } if val_end < train_end => {
                Err(PreprocessError::BadOption {
                    option: "split.val_end",
                    message: "val_end is before train_end; swap them".into(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Ranges for series `id` with regular `timestamps` and usable `segments`.
    pub fn assign(&self, id: &str, timestamps: &[i64], segments: &[Range<usize>]) -> SplitRanges {
        let n = timestamps.len();
        let held = |ids: &[String]| ids.iter().any(|x| x == id);
        match self {
            SplitSpec::Temporal { train, val } => temporal(segments, n, *train, *val, true),
            SplitSpec::Hybrid {
                test_ids,
                train,
                val,
            } => {
                if held(test_ids) {
                    SplitRanges {
                        test: 0..n,
                        ..Default::default()
                    }
                } else {
                    temporal(segments, n, *train, *val, false)
                }
            }
            SplitSpec::Patient { val_ids, test_ids } => {
                if held(test_ids) {
                    SplitRanges {
                        test: 0..n,
                        ..Default::default()
                    }
                } else if held(val_ids) {
                    SplitRanges {
                        val: 0..n,
                        ..Default::default()
                    }
                } else {
                    SplitRanges {
                        train: 0..n,
                        ..Default::default()
                    }
                }
            }
            SplitSpec::DateRange { train_end, val_end } => {
                let a = timestamps.partition_point(|&t| t < *train_end);
                let b = timestamps.partition_point(|&t| t < *val_end).max(a);
                SplitRanges {
                    train: 0..a,
                    val: a..b,
                    test: b..n,
                }
            }
        }
    }
}

/// First index `i` such that `count` usable rows lie before `i`.
fn index_at_count(segments: &[Range<usize>], count: usize) -> usize {
    let mut seen = 0;
    for s in segments {
        if seen + s.len() >= count {
            return s.start + (count - seen);
        }
        seen += s.len();
    }
    segments.last().map_or(0, |s| s.end)
}

fn temporal(
    segments: &[Range<usize>],
    n: usize,
    train: f64,
    val: f64,
    rest_is_test: bool,
) -> SplitRanges {
    let total: usize = segments.iter().map(|s| s.len()).sum();
    let a = index_at_count(segments, (train * total as f64).round() as usize);
    let b = index_at_count(segments, ((train + val) * total as f64).round() as usize).max(a);
    SplitRanges {
        train: 0..a,
        val: a..b,
        test: if rest_is_test { b..n } else { n..n },
    }
}

#[cfg(test)]
// One-segment lists like `[0..10]` are meant, not a list of the numbers in the range.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    #[test]
    fn temporal_counts_only_usable_rows() {
        // 20 rows, usable 0..10 and 15..20 (15 rows): train 0.6 -> 9 rows, val 0.2 -> 3 more
        // usable rows (9, 15, 16), so val ends at 17.
        let ts: Vec<i64> = (0..20).map(|i| i * 300).collect();
        let r = SplitSpec::Temporal {
            train: 0.6,
            val: 0.2,
        }
        .assign("a", &ts, &[0..10, 15..20]);
        assert_eq!(
            r,
            SplitRanges {
                train: 0..9,
                val: 9..17,
                test: 17..20
            }
        );
    }

    #[test]
    fn date_patient_hybrid() {
        let ts: Vec<i64> = (0..10).map(|i| i * 100).collect();
        let r = SplitSpec::DateRange {
            train_end: 450,
            val_end: 700,
        }
        .assign("a", &ts, &[0..10]);
        assert_eq!(
            r,
            SplitRanges {
                train: 0..5,
                val: 5..7,
                test: 7..10
            }
        );
        let p = SplitSpec::Patient {
            val_ids: vec!["v".into()],
            test_ids: vec!["t".into()],
        };
        assert_eq!(p.assign("t", &ts, &[0..10]).test, 0..10);
        assert_eq!(p.assign("v", &ts, &[0..10]).val, 0..10);
        assert_eq!(p.assign("x", &ts, &[0..10]).train, 0..10);
        let h = SplitSpec::Hybrid {
            test_ids: vec!["t".into()],
            train: 0.8,
            val: 0.2,
        };
        assert_eq!(h.assign("t", &ts, &[0..10]).test, 0..10);
        assert_eq!(
            h.assign("x", &ts, &[0..10]),
            SplitRanges {
                train: 0..8,
                val: 8..10,
                test: 10..10
            }
        );
    }

    #[test]
    fn validation_of_options() {
        assert!(
            SplitSpec::Temporal {
                train: 0.9,
                val: 0.2
            }
            .validate()
            .is_err()
        );
        assert!(
            SplitSpec::DateRange {
                train_end: 5,
                val_end: 1
            }
            .validate()
            .is_err()
        );
        assert!(SplitSpec::default().validate().is_ok());
        let s: SplitSpec =
            serde_json::from_str(r#"{"kind":"patient","val_ids":["a"],"test_ids":[]}"#).unwrap();
        assert!(matches!(s, SplitSpec::Patient { .. }));
    }
}
