//! `data:` -> the data crate's source options.
use std::path::PathBuf;

use tsfm_config::{DataConfig, DataSource, GlucoseUnit, ResamplePolicy};
use tsfm_data::sources::{SourceKind, SourceOptions};

pub fn source_kind(source: DataSource) -> SourceKind {
    match source {
        DataSource::BrisT1d => SourceKind::BrisT1d,
        DataSource::Aleppo => SourceKind::Aleppo,
        DataSource::Csv => SourceKind::Csv,
        DataSource::Parquet => SourceKind::Parquet,
    }
}

pub fn unit_label(unit: GlucoseUnit) -> &'static str {
    match unit {
        GlucoseUnit::MmolL => "mmol/L",
        GlucoseUnit::MgDl => "mg/dL",
    }
}

/// The source options a data config describes.
pub fn source_options(data: &DataConfig) -> SourceOptions {
    let mut opts = SourceOptions::new(source_kind(data.source), PathBuf::from(&data.raw_path));
    opts.resolution_min = Some(data.resolution_min);
    opts.resample = match data.resample {
        ResamplePolicy::Resample => tsfm_data::sources::ResamplePolicy::Resample,
        ResamplePolicy::Keep => tsfm_data::sources::ResamplePolicy::Keep,
        ResamplePolicy::Drop => tsfm_data::sources::ResamplePolicy::Drop,
    };
    opts.unit_override = data.unit.map(|u| unit_label(u).to_string());
    if let Some(id) = &data.id_column {
        opts.id_column = id.clone();
    }
    if let Some(ts) = &data.timestamp_column {
        opts.timestamp_column = ts.clone();
    }
    if matches!(data.source, DataSource::Csv | DataSource::Parquet) {
        opts.target_columns = data.target_columns.clone();
        opts.covariate_columns = Some(covariate_channels(data));
    }
    opts
}

use tsfm_config::{ImputeStrategy, ScalingMethod, ScalingScope, SplitMethod, SplitUnit};
use tsfm_data::impute::Imputation;
use tsfm_data::pipeline::PipelineOptions;
use tsfm_data::split::SplitSpec;

use crate::error::{Result, user as user_error};

fn imputation(strategy: ImputeStrategy, fill_value: Option<f64>) -> Imputation {
    match strategy {
        ImputeStrategy::Linear => Imputation::Linear,
        ImputeStrategy::Ffill => Imputation::Ffill,
        ImputeStrategy::Zero => Imputation::Zero,
        ImputeStrategy::Constant => Imputation::Constant(fill_value.unwrap_or(0.0)),
        ImputeStrategy::Mean => Imputation::Mean,
    }
}

fn date(key: &str, text: &Option<String>) -> Result<i64> {
    let text = text
        .as_deref()
        .ok_or_else(|| user_error(format!("data.data_split.{key}: required by method `dates`")))?;
    tsfm_data::sources::clock::parse_datetime(text).ok_or_else(|| {
        user_error(format!(
            "data.data_split.{key}: `{text}` is not a date; write YYYY-MM-DD[ HH:MM[:SS]]"
        ))
    })
}

/// `fractions` over whole series: series ids sorted, shuffled with the split seed (SplitMix64
/// and Fisher-Yates, so the assignment never changes with a library update), then the first
/// `round(test x n)` are test, the next `round(val x n)` validation, the rest training.
/// A split asked for (fraction > 0) that rounds to no series, or no series left for
/// training, is an error naming the key: an empty split would otherwise only show up later
/// as "no validation windows" with no hint why.
fn series_fraction_split(split: &tsfm_config::DataSplit, ids: &[String]) -> Result<SplitSpec> {
    let mut ids = ids.to_vec();
    ids.sort();
    tsfm_data::window::shuffle(&mut ids, split.seed);
    let n = ids.len();
    let count = |fraction: f64| (fraction * n as f64).round() as usize;
    let (n_val, n_test) = (count(split.val), count(split.test));
    for (key, fraction, k) in [("val", split.val, n_val), ("test", split.test, n_test)] {
        if fraction > 0.0 && k == 0 {
            return Err(user_error(format!(
                "data.data_split.{key}: {fraction} of {n} series rounds to no series (unit: series); \
                 use more series, a larger `{key}`, `{key}: 0`, or unit: time"
            )));
        }
    }
    if n_val + n_test >= n {
        return Err(user_error(format!(
            "data.data_split.train: {n} series leave none for training after {n_val} validation \
             and {n_test} test series (unit: series); lower `val`/`test` or use more series"
        )));
    }
    Ok(SplitSpec::Patient {
        test_ids: ids[..n_test].to_vec(),
        val_ids: ids[n_test..n_test + n_val].to_vec(),
    })
}

/// Every covariate channel in the pipeline's order: the past-only ones, then the known-future
/// ones (the last `data.future_covariates.len()` channels; see `batches`).
pub fn covariate_channels(data: &DataConfig) -> Vec<String> {
    data.past_covariates
        .iter()
        .chain(&data.future_covariates)
        .cloned()
        .collect()
}

/// Derived IOB/COB follow a two-compartment absorption with time-to-peak `tmax`
/// ([`tsfm_data::features`]): a dose has `(1 + t/tmax) e^(-t/tmax)` left at time `t`. The
/// config speaks in the clinical terms a pump uses (duration of insulin action, carb absorption
/// time), read here as the time by which 95 % of a dose has acted: `(1 + x) e^-x = 0.05` at
/// `x = 4.7439`, so a 5-hour insulin action is a 63-minute time-to-peak.
pub const ACTION_TIME_IN_TMAX: f64 = 4.743_864_518_390_579;

fn time_to_peak_minutes(hours: f64) -> f64 {
    hours * 60.0 / ACTION_TIME_IN_TMAX
}

/// The preprocessing a data config describes, for a model reading `context` steps and
/// forecasting `horizon`.
pub fn pipeline_options(
    data: &DataConfig,
    series_ids: &[String],
    context: usize,
    horizon: usize,
) -> Result<PipelineOptions> {
    let split = &data.data_split;
    let spec = match (split.method, split.unit) {
        (SplitMethod::Fractions, SplitUnit::Time) => SplitSpec::Temporal {
            train: split.train,
            val: split.val,
        },
        (SplitMethod::Fractions, SplitUnit::Series) => series_fraction_split(split, series_ids)?,
        (SplitMethod::Dates, _) => SplitSpec::DateRange {
            train_end: date("train_end", &split.train_end)?,
            val_end: date("val_end", &split.val_end)?,
        },
        (SplitMethod::Patients, _) => SplitSpec::Patient {
            val_ids: split.val_ids.clone(),
            test_ids: split.test_ids.clone(),
        },
        (SplitMethod::Hybrid, _) => SplitSpec::Hybrid {
            test_ids: split.test_ids.clone(),
            train: split.train,
            val: split.val,
        },
    };
    let target = data
        .target_columns
        .first()
        .cloned()
        .ok_or_else(|| user_error("data.target_columns: name the column to forecast"))?;
    Ok(PipelineOptions {
        target,
        // The pipeline's channel order is the model's row order within a group (the official
        // Chronos-2 order): target, past-only covariates, known-future covariates last.
        past_covariates: covariate_channels(data),
        max_gap_minutes: data.imputation.max_gap_minutes.round() as u32,
        imputation: data
            .imputation
            .columns
            .iter()
            .map(|(k, v)| (k.clone(), imputation(*v, data.imputation.fill_value)))
            .collect(),
        default_imputation: imputation(data.imputation.strategy, data.imputation.fill_value),
        scaling: match data.scaling.method {
            ScalingMethod::Standard => tsfm_data::scaler::ScalingMethod::Standard,
            ScalingMethod::Minmax => tsfm_data::scaler::ScalingMethod::MinMax,
            ScalingMethod::None => tsfm_data::scaler::ScalingMethod::None,
        },
        scaling_scope: match data.scaling.scope {
            ScalingScope::Global => tsfm_data::scaler::ScalingScope::Global,
            ScalingScope::PerSeries => tsfm_data::scaler::ScalingScope::PerSeries,
        },
        split: spec,
        context_length: context,
        horizon,
        stride: data.stride.max(1) as usize,
        calendar: data.features.calendar,
        day_of_week: data.features.day_of_week,
        insulin_tmax_minutes: time_to_peak_minutes(data.features.insulin_action_hours),
        carbs_tmax_minutes: time_to_peak_minutes(data.features.carb_absorption_hours),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsfm_config::DataSplit;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn series_split(seed: u64, val: f64, test: f64) -> DataSplit {
        DataSplit {
            unit: SplitUnit::Series,
            train: 1.0 - val - test,
            val,
            test,
            seed,
            ..DataSplit::default()
        }
    }

    /// Expected assignments computed independently in Python (SplitMix64 with wrapping u64
    /// arithmetic, Fisher-Yates from the last index down, `j = next() % (i + 1)`, over the
    /// sorted ids; test first, then val).
    #[test]
    fn series_fractions_assign_whole_series_by_seed() {
        let demo = ids(&["21", "35", "77", "88", "140", "152"]);
        let got = series_fraction_split(&series_split(42, 0.15, 0.15), &demo).unwrap();
        assert_eq!(
            got,
            SplitSpec::Patient {
                test_ids: ids(&["77"]),
                val_ids: ids(&["35"]),
            }
        );
        // Another seed, another assignment; input order does not matter.
        let mut shuffled = demo.clone();
        shuffled.reverse();
        let got = series_fraction_split(&series_split(7, 0.15, 0.15), &shuffled).unwrap();
        assert_eq!(
            got,
            SplitSpec::Patient {
                test_ids: ids(&["152"]),
                val_ids: ids(&["88"]),
            }
        );
        let ten: Vec<String> = (0..10).map(|i| format!("s{i:02}")).collect();
        let got = series_fraction_split(&series_split(42, 0.2, 0.1), &ten).unwrap();
        assert_eq!(
            got,
            SplitSpec::Patient {
                test_ids: ids(&["s00"]),
                val_ids: ids(&["s09", "s05"]),
            }
        );
        // val: 0 asks for no validation series: not an error.
        let got = series_fraction_split(&series_split(42, 0.0, 0.15), &demo).unwrap();
        assert_eq!(
            got,
            SplitSpec::Patient {
                test_ids: ids(&["77"]),
                val_ids: vec![],
            }
        );
    }

    #[test]
    fn an_empty_series_split_is_an_error_naming_the_key() {
        let three = ids(&["a", "b", "c"]);
        let err = series_fraction_split(&series_split(42, 0.15, 0.15), &three).unwrap_err();
        assert!(err.is_user_error());
        assert_eq!(
            err.to_string(),
            "data.data_split.val: 0.15 of 3 series rounds to no series (unit: series); use more \
             series, a larger `val`, `val: 0`, or unit: time"
        );
        let err = series_fraction_split(&series_split(42, 0.5, 0.5), &ids(&["a", "b"]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "data.data_split.train: 2 series leave none for training after 1 validation and 1 \
             test series (unit: series); lower `val`/`test` or use more series"
        );
        // Through pipeline_options, as `tsfm train` calls it.
        let data = tsfm_config::DataConfig {
            data_split: series_split(42, 0.15, 0.15),
            ..Default::default()
        };
        let err = pipeline_options(&data, &three, 8, 2)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("data.data_split.val: "), "{err}");
    }

    #[test]
    fn calendar_and_imputation_are_mapped() {
        let mut data = tsfm_config::DataConfig {
            target_columns: vec!["bg".into()],
            ..Default::default()
        };
        data.features.calendar = true;
        data.features.day_of_week = true;
        data.imputation
            .columns
            .insert("hr".into(), ImputeStrategy::Linear);
        let o = pipeline_options(&data, &ids(&["a"]), 8, 2).unwrap();
        assert!(o.calendar && o.day_of_week);
        assert_eq!(o.calendar_features().n_features(), 4);
        assert_eq!(o.imputation["hr"], Imputation::Linear);
        assert_eq!(o.default_imputation, Imputation::Linear);
    }

    #[test]
    fn action_times_become_the_time_to_peak_at_which_95_percent_has_acted() {
        let x = ACTION_TIME_IN_TMAX;
        assert!(((1.0 + x) * (-x).exp() - 0.05).abs() < 1e-8);
        let mut data = tsfm_config::DataConfig {
            target_columns: vec!["bg".into()],
            ..Default::default()
        };
        data.features.insulin_action_hours = 4.0;
        data.features.carb_absorption_hours = 2.0;
        let o = pipeline_options(&data, &ids(&["a"]), 8, 2).unwrap();
        assert!((o.insulin_tmax_minutes - 240.0 / x).abs() < 1e-12);
        assert!((o.carbs_tmax_minutes - 120.0 / x).abs() < 1e-12);
        assert_eq!(o.derivation("iob"), Some(("insulin", 240.0 / x)));
        assert_eq!(
            o.derivation("insulin_availability"),
            Some(("insulin", 240.0 / x))
        );
        assert_eq!(o.derivation("cob"), Some(("carbs", 120.0 / x)));
    }
}
