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
