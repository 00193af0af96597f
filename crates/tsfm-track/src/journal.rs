//! `logs/tracking.jsonl`: what a run asked to track, one JSON object a line, numbered.
//!
//! Appends are whole lines in one `write` on a file opened for appending, so a reader (the
//! background sender, `tsfm runs sync`) sees complete lines, and a crash leaves at most one
//! unterminated last line, which readers ignore. `sync` (fsync) is called at checkpoints: what
//! a checkpoint resumes from is then tracked on disk too.
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrackError};

/// The journal's file, relative to the run directory.
pub const JOURNAL_FILE: &str = "logs/tracking.jsonl";

/// One tracked event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The run begins: where it is tracked and under which names.
    Start {
        tracking_uri: String,
        experiment: String,
        run_name: String,
        /// Milliseconds since the Unix epoch.
        start_time: i64,
    },
    Params {
        params: Vec<(String, String)>,
    },
    Tags {
        tags: BTreeMap<String, String>,
    },
    Metrics {
        step: u64,
        timestamp: i64,
        values: BTreeMap<String, f64>,
    },
    /// A file or folder of the run, uploaded under `artifact_path` (a folder in the run's
    /// artifacts, empty for the top). Relative paths are relative to the run directory.
    Artifact {
        path: String,
        artifact_path: String,
    },
    End {
        status: String,
        end_time: i64,
    },
}

/// An event with its number (1, 2, ...): what `sync` records as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    #[serde(flatten)]
    pub event: Event,
}

/// The run's journal, open for appending.
pub struct Journal {
    path: PathBuf,
    file: File,
    next_seq: u64,
}

impl Journal {
    /// Opens (or starts) the journal of the run at `run_dir`, continuing its numbering.
    pub fn open(run_dir: &Path) -> Result<Journal> {
        let path = run_dir.join(JOURNAL_FILE);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(TrackError::io(dir))?;
        }
        drop_cut_line(&path)?;
        let last = read_records(&path)?.last().map_or(0, |r| r.seq);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(TrackError::io(&path))?;
        Ok(Journal {
            path,
            file,
            next_seq: last + 1,
        })
    }

    /// Appends `event` as one line; returns its number.
    pub fn append(&mut self, event: Event) -> Result<u64> {
        let record = Record {
            seq: self.next_seq,
            event,
        };
        let mut line = serde_json::to_string(&record).expect("plain data serialises");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .map_err(TrackError::io(&self.path))?;
        self.next_seq += 1;
        Ok(record.seq)
    }

    /// Makes what was appended durable.
    pub fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(TrackError::io(&self.path))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A crash during an append can leave an unterminated last line; appending after it would
/// glue two records together, so it is cut off first.
fn drop_cut_line(path: &Path) -> Result<()> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(TrackError::io(path)(e)),
    };
    if bytes.last().is_none_or(|&b| b == b'\n') {
        return Ok(());
    }
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(TrackError::io(path))?;
    file.set_len(keep as u64).map_err(TrackError::io(path))
}

/// Every complete record of a journal (none when the file does not exist). A last line
/// without its newline is a write in progress or cut by a crash, and is left out.
pub fn read_records(path: &Path) -> Result<Vec<Record>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(TrackError::io(path)(e)),
    };
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    complete
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| TrackError::Journal {
                path: path.to_path_buf(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// Milliseconds since the Unix epoch, as MLflow stamps runs and metrics.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_numbered_across_reopens_and_a_cut_last_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        let metrics = |step| Event::Metrics {
            step,
            timestamp: 5,
            values: BTreeMap::from([("loss".to_string(), 0.25)]),
        };
        assert_eq!(j.append(metrics(1)).unwrap(), 1);
        assert_eq!(j.append(metrics(2)).unwrap(), 2);
        drop(j);
        let path = dir.path().join(JOURNAL_FILE);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"seq":3,"kind":"met"#).unwrap();
        let records = read_records(&path).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].event, metrics(2));
        let mut j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.append(metrics(3)).unwrap(), 3);
        assert_eq!(read_records(&path).unwrap().len(), 3);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines().next().unwrap(),
            r#"{"seq":1,"kind":"metrics","step":1,"timestamp":5,"values":{"loss":0.25}}"#
        );
    }
}
