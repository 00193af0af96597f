//! The saved evaluation report (pretty JSON, written atomically).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::evaluator::MetricsReport;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("report {path}: cannot write (check the directory exists and is writable): {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("report {path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("report {path}: invalid JSON at line {}, column {}: {source}", source.line(), source.column())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    pub dataset: String,
    pub split: String,
    pub units: String,
    pub n_windows: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationReport {
    pub model: String,
    pub experiment: String,
    pub run_id: String,
    /// RFC 3339 time of the evaluation.
    pub timestamp: String,
    pub data: DataInfo,
    pub metrics: MetricsReport,
    /// Whether the evaluation config asked for the nocturnal analysis (`evaluation.nocturnal.
    /// enabled`); readers show night metrics only then. Absent in older reports: false.
    #[serde(default)]
    pub nocturnal_enabled: bool,
}

impl EvaluationReport {
    /// Writes pretty JSON to `path` atomically and durably (`tsfm_io`), so readers never see a
    /// half-written report.
    pub fn write_json(&self, path: &Path) -> Result<(), ReportError> {
        let err = |source| ReportError::Write {
            path: path.to_path_buf(),
            source,
        };
        let text = serde_json::to_string_pretty(self).map_err(|e| err(std::io::Error::other(e)))?;
        tsfm_io::write_file(path, text.as_bytes()).map_err(err)
    }

    pub fn read_json(path: &Path) -> Result<Self, ReportError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReportError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| ReportError::Json {
            path: path.to_path_buf(),
            source,
        })
    }
}
