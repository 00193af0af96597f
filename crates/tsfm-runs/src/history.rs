//! `run_history.csv`: one row per run (training or evaluation), appended.
//!
//! Different writers record different columns (a training run has losses, an evaluation has
//! RMSE at 30/60 min), so the header is the union of every column seen so far: a row with a new
//! column rewrites the file once with the wider header (atomically), older rows get empty cells.
use std::path::Path;

use crate::{RunsError, write_atomic};

/// Append `row` (column, value) to the CSV at `path`, creating it with a header if missing.
/// Runs finishing at the same moment each read, extend and replace the file: a lock (a hidden
/// `.{name}.lock` beside it) makes them take turns, so no row is lost.
pub fn append_run_history(path: &Path, row: &[(&str, String)]) -> Result<(), RunsError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lock = path.with_file_name(format!(".{name}.lock"));
    let _held = tsfm_io::lock_exclusive(&lock, || {}).map_err(RunsError::io(&lock))?;
    let (mut header, mut rows) = match std::fs::read(path) {
        Ok(bytes) => parse(path, &bytes)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), Vec::new()),
        Err(e) => return Err(RunsError::io(path)(e)),
    };
    for (column, _) in row {
        if !header.iter().any(|h| h == column) {
            header.push(column.to_string());
        }
    }
    let new_row: Vec<String> = header
        .iter()
        .map(|h| {
            row.iter()
                .find(|(c, _)| c == h)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        })
        .collect();
    rows.push(new_row);
    let mut out = csv::Writer::from_writer(Vec::new());
    let format = |e: csv::Error| format_error(path, e);
    out.write_record(&header).map_err(format)?;
    for r in &mut rows {
        r.resize(header.len(), String::new());
        out.write_record(&*r).map_err(format)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| format_error(path, e.into_error().into()))?;
    write_atomic(path, &bytes)
}

/// Read the history back as (header, rows).
pub fn read_run_history(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), RunsError> {
    let bytes = std::fs::read(path).map_err(RunsError::io(path))?;
    parse(path, &bytes)
}

type Table = (Vec<String>, Vec<Vec<String>>);

fn parse(path: &Path, bytes: &[u8]) -> Result<Table, RunsError> {
    // Rows written before a column was added may be shorter than the header: `flexible`.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut records = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format_error(path, e))?;
        records.push(record.iter().map(str::to_string).collect::<Vec<_>>());
    }
    let mut iter = records.into_iter();
    let header = iter.next().unwrap_or_default();
    Ok((header, iter.collect()))
}

fn format_error(path: &Path, e: csv::Error) -> RunsError {
    let message = match e.position() {
        Some(pos) => format!("line {}: {e}", pos.line()),
        None => e.to_string(),
    };
    RunsError::Format {
        path: path.to_path_buf(),
        message,
    }
}
