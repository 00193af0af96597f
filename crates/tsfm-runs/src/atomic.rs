//! Every file tsfm-runs writes goes through `tsfm_io`, so a reader never sees a half-written
//! file and a crash keeps the previous one.
use std::path::Path;

use crate::RunsError;

/// Write `bytes` to `path` atomically and durably, creating its folder first.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RunsError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(RunsError::io(dir))?;
    tsfm_io::write_file(path, bytes).map_err(RunsError::io(path))
}

/// Pretty JSON, atomically.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), RunsError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| RunsError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}
