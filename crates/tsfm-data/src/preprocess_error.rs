//! Errors of the preprocessing pipeline (grid, gaps, imputation, scaling, splits, windows).
//! Each names the series / column / option at fault and what to do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    #[error("series `{series}`: no target column `{column}`; set `target` to one of: {available}")]
    MissingTarget {
        series: String,
        column: String,
        available: String,
    },
    #[error(
        "series `{series}`: past covariate `{column}` not found; remove it from `past_covariates` or add it to the data"
    )]
    MissingCovariate { series: String, column: String },
    #[error(
        "series `{series}`: cannot infer a sampling interval (needs at least 2 distinct ascending timestamps)"
    )]
    NoInterval { series: String },
    #[error("series `{series}`: timestamps are not ascending at row {row}; sort the data by time")]
    NotAscending { series: String, row: usize },
    #[error("option `{option}`: {message}")]
    BadOption {
        option: &'static str,
        message: String,
    },
    #[error(
        "no training windows: every series is shorter than context_length + horizon = {needed} steps after gap splitting, or the train split is empty; lower `context_length`/`horizon`, raise `max_gap_minutes` or change `split`"
    )]
    NoTrainingWindows { needed: usize },
    #[error(
        "validation split has {windows} windows (< {minimum}) but early stopping or best-model selection needs it; enlarge the validation split (`split`) or turn early stopping / best-model selection off"
    )]
    ValidationTooSmall { windows: usize, minimum: usize },
    #[error("scaler has no statistics for channel `{channel}`; refit the scaler with this channel")]
    UnknownChannel { channel: String },
    #[error("scaler file {path}: {message}")]
    ScalerFile { path: PathBuf, message: String },
    /// Kept apart from `ScalerFile` so the disk's error stays in the chain (a full disk gets
    /// its hint).
    #[error("scaler file {path}: cannot write: {source}")]
    ScalerWrite {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
