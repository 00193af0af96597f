//! Errors of the data layer.
//!
//! Every problem with a user's file is a [`DataError::Input`]: its Display is one line that
//! names the file, the line (1-based, as an editor shows it), the column where one applies and
//! what is wrong, e.g. `HDeviceCGM.txt:41: GlucoseValue "abc" is not a number`. The CLI maps
//! [`DataError::is_user_error`] to exit code 2.

use std::path::{Path, PathBuf};

/// What kind of defect a user's input has; lets callers and tests react without parsing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputErrorKind {
    /// The file has no bytes at all.
    Empty,
    /// A header but no data rows.
    NoRows,
    /// A required column is not in the header (also: wrong delimiter).
    MissingColumn,
    /// A row has a different number of fields than the header.
    FieldCount,
    /// A cell that must be a number is not.
    NotANumber,
    /// A time or date cell cannot be read.
    BadTime,
    /// The same key (id, or series + time) appears twice with conflicting content.
    Duplicate,
    /// A number outside the range the format allows.
    OutOfRange,
    /// The values do not look like the unit the format declares.
    WrongUnit,
    /// Anything else wrong with a value (e.g. time going backwards in a sorted file).
    BadValue,
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A defect in a user's raw file.
    #[error("{}", fmt_input(file, *line, column.as_deref(), message))]
    Input {
        kind: InputErrorKind,
        file: PathBuf,
        line: Option<u64>,
        column: Option<String>,
        message: String,
    },
    /// A bad option (config key) given to a source or the cache.
    #[error("data option `{key}`: {message}")]
    Options { key: String, message: String },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The processed cache could not be read back (corrupt or from another version).
    #[error("cache {}: {message} (delete that folder to rebuild it)", path.display())]
    Cache { path: PathBuf, message: String },
    /// A bug or an unexpected library failure; not the user's fault.
    #[error("internal error: {0}")]
    Internal(String),
}

fn fmt_input(file: &Path, line: Option<u64>, column: Option<&str>, message: &str) -> String {
    let mut s = file.display().to_string();
    if let Some(l) = line {
        s.push_str(&format!(":{l}"));
    }
    s.push_str(": ");
    if let Some(c) = column
        && !message.contains(c)
    {
        s.push_str(&format!("column {c}: "));
    }
    // Keep the message on one line whatever a value contained.
    s.push_str(&message.replace(['\n', '\r'], " "));
    s
}

impl DataError {
    /// True when the user can fix the problem (their file, option or cache); the CLI exits 2.
    pub fn is_user_error(&self) -> bool {
        match self {
            DataError::Input { .. } | DataError::Options { .. } | DataError::Cache { .. } => true,
            // A missing or unreadable raw file is the user's to fix; a failed cache write
            // (disk full, permissions) also is. Only internal errors are ours.
            DataError::Io { .. } => true,
            DataError::Internal(_) => false,
        }
    }

    /// The kind of input defect, if this is one.
    pub fn input_kind(&self) -> Option<InputErrorKind> {
        match self {
            DataError::Input { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    pub fn input(
        kind: InputErrorKind,
        file: &Path,
        line: Option<u64>,
        column: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        DataError::Input {
            kind,
            file: file.to_path_buf(),
            line,
            column: column.map(str::to_string),
            message: message.into(),
        }
    }

    /// A file with a header but no data rows: the same words for every source.
    pub fn no_rows(path: &Path) -> Self {
        Self::input(
            InputErrorKind::NoRows,
            path,
            None,
            None,
            "the file has a header but no data rows",
        )
    }

    pub fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn options(key: &str, message: impl Into<String>) -> Self {
        DataError::Options {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_error_is_one_line_with_file_line_and_column() {
        let e = DataError::input(
            InputErrorKind::NotANumber,
            Path::new("HDeviceCGM.txt"),
            Some(41),
            Some("GlucoseValue"),
            "GlucoseValue \"abc\" is not a number",
        );
        assert_eq!(
            e.to_string(),
            "HDeviceCGM.txt:41: GlucoseValue \"abc\" is not a number"
        );
        assert!(e.is_user_error());
        assert_eq!(e.input_kind(), Some(InputErrorKind::NotANumber));
    }

    #[test]
    fn column_is_named_when_message_does_not() {
        let e = DataError::input(
            InputErrorKind::OutOfRange,
            Path::new("a.csv"),
            Some(3),
            Some("bg"),
            "value\n-1 is below 0",
        );
        assert_eq!(e.to_string(), "a.csv:3: column bg: value -1 is below 0");
        assert!(!DataError::Internal("x".into()).is_user_error());
    }
}
