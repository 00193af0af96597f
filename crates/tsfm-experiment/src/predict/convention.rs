//! The one input convention of `tsfm predict`, for every model: long CSV/Parquet
//! `id,timestamp,<target>,<covariates...>`. Rows after a series' last target reading (targets
//! empty) are the forecast horizon; every series has the same horizon, so when their counts
//! differ the horizon is the fewest any series has, and a series' extra empty rows before it
//! are missing readings at the end of its context. A covariate filled in every horizon row is
//! known-future, one empty in every horizon row is past-only; anything in between is refused
//! with the column and the series named, never guessed.
use std::path::Path;

use tsfm_data::Series;
use tsfm_data::sources::clock;

use crate::error::{Result, user};

/// What each value column is, and the horizon the file gives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Layout {
    /// Channel indices forecast (in file order).
    pub targets: Vec<usize>,
    /// Covariates with a history only.
    pub past_only: Vec<usize>,
    /// Covariates whose values are given over the whole horizon.
    pub known_future: Vec<usize>,
    /// Rows after the last target reading (the same in every series); 0 when the file has none.
    pub horizon_rows: usize,
}

impl Layout {
    /// Covariate channels in the model's order: past-only, then known-future.
    pub fn covariates(&self) -> Vec<usize> {
        self.past_only
            .iter()
            .chain(&self.known_future)
            .copied()
            .collect()
    }
}

/// The file's series cut at their last target reading, with the known-future values of the
/// horizon rows.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitInput {
    pub layout: Layout,
    /// Per series: `[horizon_rows, known_future.len()]` row-major.
    pub future: Vec<Vec<f64>>,
}

/// Splits every series of `path` into history and horizon rows, given which channels are
/// targets; the rest are covariates. `series` keep their history only.
pub fn split_horizon(
    path: &Path,
    channels: &[String],
    series: &mut [Series],
    targets: &[usize],
) -> Result<SplitInput> {
    let covariates: Vec<usize> = (0..channels.len())
        .filter(|c| !targets.contains(c))
        .collect();
    // Trailing rows without a target reading, per series; the horizon is what all have.
    let mut trailing = Vec::with_capacity(series.len());
    for s in series.iter() {
        let last = (0..s.len())
            .rev()
            .find(|&t| targets.iter().any(|&c| s.channels[c].values[t].is_finite()));
        let Some(last) = last else {
            return Err(user(format!(
                "{}: series `{}` has no `{}` reading to forecast from; give it readings or \
                 leave it out",
                path.display(),
                s.id,
                names(channels, targets)
            )));
        };
        trailing.push(s.len() - 1 - last);
    }
    let after = trailing.iter().copied().min().unwrap_or(0);
    let mut known: Vec<Option<(bool, String)>> = vec![None; channels.len()];
    for s in series.iter() {
        let last = s.len() - 1 - after;
        for &c in &covariates {
            let values = &s.channels[c].values;
            if !values[..=last].iter().any(|v| v.is_finite()) {
                return Err(user(format!(
                    "{}: covariate `{}` has no value in the history of series `{}`; give it \
                     readings there or drop the column",
                    path.display(),
                    channels[c],
                    s.id
                )));
            }
            if after == 0 {
                continue;
            }
            let horizon = &values[last + 1..];
            let filled = horizon.iter().filter(|v| v.is_finite()).count();
            if filled != 0 && filled != after {
                let hole = horizon.iter().position(|v| !v.is_finite()).expect("a hole");
                return Err(user(format!(
                    "{}: known-future covariate `{}` has holes in the horizon of series `{}` \
                     (first at {}); fill every horizon row, or leave them all empty to use it \
                     as past-only",
                    path.display(),
                    channels[c],
                    s.id,
                    clock::format_datetime(s.timestamps[last + 1 + hole])
                )));
            }
            let is_known = filled == after;
            match &known[c] {
                Some((k, other)) if *k != is_known => {
                    let (with, without) = if *k {
                        (other.as_str(), s.id.as_str())
                    } else {
                        (s.id.as_str(), other.as_str())
                    };
                    return Err(user(format!(
                        "{}: covariate `{}` is given over the horizon of series `{with}` but \
                         not of `{without}`; fill its horizon rows in every series \
                         (known-future) or in none (past-only)",
                        path.display(),
                        channels[c]
                    )));
                }
                Some(_) => {}
                None => known[c] = Some((is_known, s.id.clone())),
            }
        }
    }
    let horizon_rows = after;
    let (known_future, past_only): (Vec<usize>, Vec<usize>) = covariates
        .iter()
        .partition(|&&c| matches!(known[c], Some((true, _))));
    let future = series
        .iter_mut()
        .map(|s| {
            let keep = s.len() - horizon_rows;
            let mut future = Vec::with_capacity(horizon_rows * known_future.len());
            for t in keep..s.len() {
                future.extend(known_future.iter().map(|&c| s.channels[c].values[t]));
            }
            s.timestamps.truncate(keep);
            for channel in &mut s.channels {
                channel.values.truncate(keep);
            }
            future
        })
        .collect();
    Ok(SplitInput {
        layout: Layout {
            targets: targets.to_vec(),
            past_only,
            known_future,
            horizon_rows,
        },
        future,
    })
}

/// The horizon the request asks for, checked against the file's horizon rows.
pub fn horizon(requested: Option<usize>, rows: usize, model_default: usize) -> Result<usize> {
    match (requested, rows) {
        (Some(h), r) if r > 0 && h != r => Err(user(format!(
            "--horizon {h}: the input gives {r} horizon row(s) after each series' last \
             reading; drop --horizon or make them agree"
        ))),
        (Some(h), _) => Ok(h),
        (None, r) if r > 0 => Ok(r),
        (None, _) => Ok(model_default),
    }
}

fn names(channels: &[String], idx: &[usize]) -> String {
    idx.iter()
        .map(|&c| channels[c].as_str())
        .collect::<Vec<_>>()
        .join("`/`")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsfm_data::series::Channel;

    const NAN: f64 = f64::NAN;

    fn series(id: &str, columns: &[(&str, Vec<f64>)]) -> Series {
        let len = columns[0].1.len();
        Series {
            id: id.into(),
            timestamps: (0..len as i64).map(|t| t * 300).collect(),
            interval_min: 5,
            channels: columns
                .iter()
                .map(|(n, v)| Channel {
                    name: n.to_string(),
                    values: v.clone(),
                })
                .collect(),
            unit: None,
        }
    }

    fn channels() -> Vec<String> {
        ["bg", "insulin", "carbs"].map(String::from).to_vec()
    }

    fn split(s: &mut [Series]) -> Result<SplitInput> {
        split_horizon(Path::new("in.csv"), &channels(), s, &[0])
    }

    #[test]
    fn horizon_rows_are_cut_and_filled_covariates_are_known_future() {
        let mut s = vec![
            series(
                "a",
                &[
                    ("bg", vec![5.0, 6.0, NAN, NAN]),
                    ("insulin", vec![1.0, 0.0, 2.0, 3.0]),
                    ("carbs", vec![10.0, NAN, NAN, NAN]),
                ],
            ),
            series(
                "b",
                &[
                    ("bg", vec![7.0, NAN, 7.5, NAN, NAN]),
                    ("insulin", vec![0.5, 0.5, 0.5, 4.0, 5.0]),
                    ("carbs", vec![NAN, 20.0, NAN, NAN, NAN]),
                ],
            ),
        ];
        let got = split(&mut s).unwrap();
        assert_eq!(
            got.layout,
            Layout {
                targets: vec![0],
                past_only: vec![2],
                known_future: vec![1],
                horizon_rows: 2,
            }
        );
        assert_eq!(got.future, vec![vec![2.0, 3.0], vec![4.0, 5.0]]);
        assert_eq!(s[0].len(), 2);
        assert_eq!(s[1].len(), 3);
        // A missing target inside the history stays (it is not a horizon row).
        assert!(s[1].channels[0].values[1].is_nan());
        assert_eq!(s[1].channels[2].values.len(), 3);
        assert_eq!(s[1].channels[2].values[1], 20.0);
    }

    #[test]
    fn the_horizon_is_what_every_series_has_and_extra_empty_rows_are_missing_readings() {
        let mut s = vec![
            series(
                "p1",
                &[
                    ("bg", vec![5.0, NAN, NAN, NAN]),
                    ("insulin", vec![1.0, NAN, 2.0, 3.0]),
                    ("carbs", vec![1.0, NAN, NAN, NAN]),
                ],
            ),
            series(
                "p2",
                &[
                    ("bg", vec![5.0, 6.0, NAN, NAN]),
                    ("insulin", vec![1.0, 1.0, 2.0, 3.0]),
                    ("carbs", vec![1.0, 1.0, NAN, NAN]),
                ],
            ),
        ];
        let got = split(&mut s).unwrap();
        assert_eq!(got.layout.horizon_rows, 2);
        assert_eq!(got.layout.known_future, vec![1]);
        assert_eq!(got.future, vec![vec![2.0, 3.0], vec![2.0, 3.0]]);
        assert_eq!(s[0].channels[0].values.len(), 2);
        assert!(s[0].channels[0].values[1].is_nan());
        // One series without horizon rows: none, the others keep their empty rows.
        let mut s = vec![
            series(
                "p1",
                &[
                    ("bg", vec![5.0, NAN]),
                    ("insulin", vec![1.0, NAN]),
                    ("carbs", vec![1.0, NAN]),
                ],
            ),
            series(
                "p2",
                &[
                    ("bg", vec![5.0, 6.0]),
                    ("insulin", vec![1.0, 1.0]),
                    ("carbs", vec![1.0, 1.0]),
                ],
            ),
        ];
        let got = split(&mut s).unwrap();
        assert_eq!(got.layout.horizon_rows, 0);
        assert_eq!(s[0].len(), 2);
    }

    #[test]
    fn without_horizon_rows_every_covariate_is_past_only() {
        let mut s = vec![series(
            "a",
            &[
                ("bg", vec![5.0, 6.0]),
                ("insulin", vec![1.0, 0.0]),
                ("carbs", vec![NAN, 1.0]),
            ],
        )];
        let got = split(&mut s).unwrap();
        assert_eq!(got.layout.past_only, vec![1, 2]);
        assert_eq!(got.layout.horizon_rows, 0);
        assert_eq!(got.future, vec![Vec::<f64>::new()]);
    }

    #[test]
    fn what_the_convention_refuses_is_named() {
        let err = |s: &mut Vec<Series>| split(s).unwrap_err().to_string();
        // Holes in a known-future covariate's horizon.
        let mut s = vec![series(
            "p1",
            &[
                ("bg", vec![5.0, NAN, NAN]),
                ("insulin", vec![1.0, 2.0, NAN]),
                ("carbs", vec![1.0, NAN, NAN]),
            ],
        )];
        let e = err(&mut s);
        assert!(
            e.contains("known-future covariate `insulin` has holes in the horizon of series `p1` (first at 1970-01-01 00:10"),
            "{e}"
        );
        // Known-future in one series, past-only in another.
        let mut s = vec![
            series(
                "p1",
                &[
                    ("bg", vec![5.0, NAN]),
                    ("insulin", vec![1.0, 2.0]),
                    ("carbs", vec![1.0, NAN]),
                ],
            ),
            series(
                "p2",
                &[
                    ("bg", vec![5.0, NAN]),
                    ("insulin", vec![1.0, NAN]),
                    ("carbs", vec![1.0, NAN]),
                ],
            ),
        ];
        let e = err(&mut s);
        assert!(
            e.contains("`insulin` is given over the horizon of series `p1` but not of `p2`"),
            "{e}"
        );
        // A covariate column empty in one series' history.
        let mut s = vec![series(
            "p9",
            &[
                ("bg", vec![5.0, 6.0]),
                ("insulin", vec![NAN, NAN]),
                ("carbs", vec![1.0, 1.0]),
            ],
        )];
        let e = err(&mut s);
        assert!(
            e.contains("covariate `insulin` has no value in the history of series `p9`"),
            "{e}"
        );
    }

    #[test]
    fn the_horizon_flag_must_agree_with_the_rows() {
        assert_eq!(horizon(None, 0, 12).unwrap(), 12);
        assert_eq!(horizon(None, 6, 12).unwrap(), 6);
        assert_eq!(horizon(Some(6), 6, 12).unwrap(), 6);
        assert_eq!(horizon(Some(24), 0, 12).unwrap(), 24);
        let e = horizon(Some(12), 6, 12).unwrap_err().to_string();
        assert!(
            e.contains("--horizon 12: the input gives 6 horizon row(s)"),
            "{e}"
        );
    }
}
