//! A delimited text table read record by record, shared by the text sources.
//!
//! Handles what real exports contain: a UTF-8 byte-order mark, CRLF line ends, no final
//! newline, and `.gz` compression (decompressed on the fly, chosen by the file extension).
//! Every row is checked against the header's field count so a truncated row is an error that
//! names its line instead of a shifted column.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{DataError, InputErrorKind, Result};

pub struct Table {
    path: PathBuf,
    delimiter: u8,
    reader: csv::Reader<Box<dyn Read>>,
    pub header: Vec<String>,
    record: csv::ByteRecord,
}

/// Opens a reader over the file's bytes, decompressing `.gz` and skipping a UTF-8 BOM.
pub fn open_bytes(path: &Path) -> Result<Box<dyn Read>> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let inner: Box<dyn Read> = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
    {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(file)
    };
    let mut buf = BufReader::with_capacity(1 << 16, inner);
    let head = buf.fill_buf().map_err(|e| DataError::io(path, e))?;
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        buf.consume(3);
    }
    Ok(Box::new(buf))
}

impl Table {
    /// Opens `path` and reads its header row. An empty file is an [`InputErrorKind::Empty`] error.
    pub fn open(path: &Path, delimiter: u8) -> Result<Table> {
        let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
        if meta.is_dir() {
            return Err(DataError::input(
                InputErrorKind::BadValue,
                path,
                None,
                None,
                "is a folder; expected a file",
            ));
        }
        let reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 16)
            .from_reader(open_bytes(path)?);
        let mut t = Table {
            path: path.to_path_buf(),
            delimiter,
            reader,
            header: Vec::new(),
            record: csv::ByteRecord::new(),
        };
        let empty = || {
            DataError::input(
                InputErrorKind::Empty,
                path,
                None,
                None,
                "empty input: the file has no header row",
            )
        };
        if !t.read_raw()? {
            return Err(empty());
        }
        t.header = t
            .record
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_string())
            .collect();
        if t.header.iter().all(|h| h.is_empty()) {
            return Err(empty());
        }
        Ok(t)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_raw(&mut self) -> Result<bool> {
        self.reader.read_byte_record(&mut self.record).map_err(|e| {
            let line = e.position().map(|p| p.line());
            DataError::input(
                InputErrorKind::BadValue,
                &self.path,
                line,
                None,
                format!("cannot read row: {e}"),
            )
        })
    }

    /// Index of a header column, matched case-insensitively (REPLACE-BG spells `PtID` and
    /// `PtId` in different tables). Missing: a [`InputErrorKind::MissingColumn`] error that
    /// also says when the file seems to use another delimiter.
    pub fn col(&self, name: &str) -> Result<usize> {
        self.find(name).ok_or_else(|| self.missing(name))
    }

    pub fn find(&self, name: &str) -> Option<usize> {
        self.header
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
    }

    /// The error for a missing required column.
    pub fn missing(&self, name: &str) -> DataError {
        let expected = self.delimiter as char;
        let mut msg = format!("missing column \"{name}\" in the header");
        if self.header.len() == 1 {
            let h = &self.header[0];
            let found = [',', ';', '|', '\t']
                .into_iter()
                .find(|&c| c != expected && h.contains(c));
            match found {
                Some(c) => msg.push_str(&format!(
                    " (the header is one field; the file looks '{}'-delimited, expected '{}')",
                    show_delim(c),
                    show_delim(expected)
                )),
                None => msg.push_str(&format!(
                    " (expected a '{}'-delimited header)",
                    show_delim(expected)
                )),
            }
        }
        DataError::input(
            InputErrorKind::MissingColumn,
            &self.path,
            Some(1),
            Some(name),
            msg,
        )
    }

    /// Reads the next data row; `None` at the end. Blank lines are skipped; a row whose field
    /// count differs from the header's is an error naming its line.
    pub fn next_row(&mut self) -> Result<Option<(u64, &csv::ByteRecord)>> {
        loop {
            if !self.read_raw()? {
                return Ok(None);
            }
            if self.record.len() == 1 && self.record[0].iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let line = self.record.position().map(|p| p.line()).unwrap_or(0);
            if self.record.len() != self.header.len() {
                return Err(DataError::input(
                    InputErrorKind::FieldCount,
                    &self.path,
                    Some(line),
                    None,
                    format!(
                        "row has {} fields but the header has {} (truncated or malformed row)",
                        self.record.len(),
                        self.header.len()
                    ),
                ));
            }
            return Ok(Some((line, &self.record)));
        }
    }
}

fn show_delim(c: char) -> String {
    if c == '\t' {
        "\\t".to_string()
    } else {
        c.to_string()
    }
}

/// A cell as trimmed text (lossy for invalid UTF-8, which is then reported as a bad value).
pub fn cell(rec: &csv::ByteRecord, i: usize) -> &str {
    std::str::from_utf8(&rec[i])
        .map(str::trim)
        .unwrap_or("\u{FFFD}")
}

/// A cell that is neither empty nor a finite number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotNumeric;

/// Parses a finite number; empty cells are `Ok(None)`; anything else is `Err(NotNumeric)`.
pub fn parse_opt_f64(s: &str) -> Result<Option<f64>, NotNumeric> {
    if s.is_empty() {
        return Ok(None);
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        _ => Err(NotNumeric),
    }
}

/// The error for a cell that is not a number.
pub fn not_a_number(path: &Path, line: u64, column: &str, value: &str) -> DataError {
    DataError::input(
        InputErrorKind::NotANumber,
        path,
        Some(line),
        Some(column),
        format!("{column} \"{value}\" is not a number"),
    )
}

/// Display name of a file for warnings.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| path.display().to_string())
}
