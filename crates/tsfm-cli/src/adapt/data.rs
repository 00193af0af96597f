//! `data:` -> the data crate's source options.
use std::path::PathBuf;

use tsfm_config::{DataConfig, DataSource, GlucoseUnit};
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
    opts.unit_override = data.unit.map(|u| unit_label(u).to_string());
    if let Some(id) = &data.id_column {
        opts.id_column = id.clone();
    }
    if let Some(ts) = &data.timestamp_column {
        opts.timestamp_column = ts.clone();
    }
    if matches!(data.source, DataSource::Csv | DataSource::Parquet) {
        opts.target_columns = data.target_columns.clone();
        let covariates: Vec<String> = data
            .past_covariates
            .iter()
            .chain(&data.future_covariates)
            .cloned()
            .collect();
        opts.covariate_columns = Some(covariates);
    }
    opts
}

use tsfm_config::{ImputeStrategy, ScalingMethod, ScalingScope, SplitMethod, SplitUnit};
use tsfm_data::impute::Imputation;
use tsfm_data::pipeline::PipelineOptions;
use tsfm_data::split::SplitSpec;

use crate::exit::user_error;

fn imputation(strategy: ImputeStrategy, fill_value: Option<f64>) -> Imputation {
    match strategy {
        ImputeStrategy::Linear => Imputation::Linear,
        ImputeStrategy::Ffill => Imputation::Ffill,
        ImputeStrategy::Zero => Imputation::Zero,
        ImputeStrategy::Constant => Imputation::Constant(fill_value.unwrap_or(0.0)),
        ImputeStrategy::Mean => Imputation::Mean,
    }
}

fn date(key: &str, text: &Option<String>) -> anyhow::Result<i64> {
    let text = text
        .as_deref()
        .ok_or_else(|| user_error(format!("data.data_split.{key}: required by method `dates`")))?;
    tsfm_data::sources::clock::parse_datetime(text).ok_or_else(|| {
        user_error(format!(
            "data.data_split.{key}: `{text}` is not a date; write YYYY-MM-DD[ HH:MM[:SS]]"
        ))
    })
}

/// `fractions` over whole series: series ids shuffled with the split seed (SplitMix64, so the
/// assignment never changes with a library update), then cut by the fractions.
fn series_fraction_split(split: &tsfm_config::DataSplit, ids: &[String]) -> SplitSpec {
    let mut ids = ids.to_vec();
    ids.sort();
    let mut state = split.seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in (1..ids.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        ids.swap(i, j);
    }
    let n = ids.len() as f64;
    let n_val = (split.val * n).round() as usize;
    let n_test = (split.test * n).round() as usize;
    let n_test = n_test.min(ids.len().saturating_sub(1));
    let n_val = n_val.min(ids.len().saturating_sub(1 + n_test));
    SplitSpec::Patient {
        test_ids: ids[..n_test].to_vec(),
        val_ids: ids[n_test..n_test + n_val].to_vec(),
    }
}

/// The preprocessing a data config describes, for a model reading `context` steps and
/// forecasting `horizon`.
pub fn pipeline_options(
    data: &DataConfig,
    series_ids: &[String],
    context: usize,
    horizon: usize,
) -> anyhow::Result<PipelineOptions> {
    let split = &data.data_split;
    let spec = match (split.method, split.unit) {
        (SplitMethod::Fractions, SplitUnit::Time) => SplitSpec::Temporal {
            train: split.train,
            val: split.val,
        },
        (SplitMethod::Fractions, SplitUnit::Series) => series_fraction_split(split, series_ids),
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
        past_covariates: data.past_covariates.clone(),
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
    })
}
