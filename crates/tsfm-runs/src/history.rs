//! `run_history.csv`: one row per run (training or evaluation), appended.
//!
//! Different writers record different columns (a training run has losses, an evaluation has
//! RMSE at 30/60 min), so the header is the union of every column seen so far: a row with a new
//! column rewrites the file once with the wider header (atomically), older rows get empty cells.
use std::path::Path;

use crate::{RunsError, write_atomic};

/// Append `row` (column, value) to the CSV at `path`, creating it with a header if missing.
pub fn append_run_history(path: &Path, row: &[(&str, String)]) -> Result<(), RunsError> {
    let (mut header, mut rows) = match std::fs::read_to_string(path) {
        Ok(text) => parse(&text),
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
    let mut text = join(&header);
    for r in &rows {
        let mut padded = r.clone();
        padded.resize(header.len(), String::new());
        text.push_str(&join(&padded));
    }
    write_atomic(path, text.as_bytes())
}

/// Read the history back as (header, rows).
pub fn read_run_history(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), RunsError> {
    let text = std::fs::read_to_string(path).map_err(RunsError::io(path))?;
    Ok(parse(&text))
}

fn join(cells: &[String]) -> String {
    let mut line = cells.iter().map(|c| quote(c)).collect::<Vec<_>>().join(",");
    line.push('\n');
    line
}

fn quote(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

/// A small RFC 4180 reader: enough for the files this module writes.
fn parse(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut cell = String::new();
    let mut in_quotes = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, in_quotes) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', true) => in_quotes = false,
            ('"', false) if cell.is_empty() => in_quotes = true,
            (',', false) => record.push(std::mem::take(&mut cell)),
            ('\r', false) => {}
            ('\n', false) => {
                record.push(std::mem::take(&mut cell));
                records.push(std::mem::take(&mut record));
            }
            (c, _) => cell.push(c),
        }
    }
    if !cell.is_empty() || !record.is_empty() {
        record.push(cell);
        records.push(record);
    }
    let mut iter = records.into_iter();
    let header = iter.next().unwrap_or_default();
    (header, iter.collect())
}
