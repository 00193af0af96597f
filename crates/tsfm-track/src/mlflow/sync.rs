//! Replaying a run's journal to an MLflow server, once. What was sent (the MLflow run, the
//! number of the last record sent) is kept in `logs/mlflow_state.json`, written atomically
//! after every call the server accepted, so a replay after a failure (or a second `tsfm runs
//! sync`) starts after what the server already has: MLflow itself would store a metric twice.
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::{Client, Limits};
use crate::error::{Result, TrackError};
use crate::journal::{Event, JOURNAL_FILE, Record, read_records};

/// What was sent, relative to the run directory.
pub const STATE_FILE: &str = "logs/mlflow_state.json";
const LOCK_FILE: &str = "logs/mlflow_sync.lock";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncState {
    pub tracking_uri: String,
    pub experiment_id: Option<String>,
    pub run_id: Option<String>,
    pub artifact_uri: Option<String>,
    /// Every record up to this number is on the server (or was refused, below).
    pub sent_through: u64,
    /// Records the server refused (4xx): sending them again would fail again.
    #[serde(default)]
    pub refused: Vec<Refused>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refused {
    pub seq: u64,
    pub message: String,
}

impl SyncState {
    pub fn read(run_dir: &Path) -> Result<Option<SyncState>> {
        let path = run_dir.join(STATE_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| TrackError::Journal {
                    path,
                    line: e.line(),
                    message: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(TrackError::io(path)(e)),
        }
    }

    fn write(&self, run_dir: &Path) -> Result<()> {
        let path = run_dir.join(STATE_FILE);
        let text = serde_json::to_string_pretty(self).expect("plain data serialises");
        tsfm_io::write_file(&path, text.as_bytes()).map_err(TrackError::io(path))
    }
}

#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Send to this server instead of the one the journal names (a moved server: the run is
    /// then created there afresh and everything is sent).
    pub tracking_uri: Option<String>,
    pub connect_timeout: Duration,
    pub limits: Limits,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            tracking_uri: None,
            connect_timeout: Duration::from_secs(3),
            limits: Limits::default(),
        }
    }
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncReport {
    pub tracking_uri: String,
    pub run_id: Option<String>,
    /// Records sent by this call (refused ones included).
    pub sent: usize,
    /// Records the server refused in this call, with its answer.
    pub refused: Vec<Refused>,
    pub journal: PathBuf,
}

/// Sends every record of the run's journal the server does not have yet. Fails with
/// [`TrackError::Unreachable`] when the server is down (what was sent before stays recorded),
/// and refuses to run while another process (the training's sender) syncs the same run.
pub fn sync(run_dir: &Path, options: &SyncOptions) -> Result<SyncReport> {
    let _lock = lock(run_dir)?;
    let journal = run_dir.join(JOURNAL_FILE);
    let records = read_records(&journal)?;
    let Some((uri, start)) = start_of(&records, options) else {
        return Ok(SyncReport {
            journal,
            ..Default::default()
        });
    };
    let mut state = match SyncState::read(run_dir)? {
        Some(s) if s.tracking_uri == uri => s,
        _ => SyncState {
            tracking_uri: uri.clone(),
            ..Default::default()
        },
    };
    let mut report = SyncReport {
        tracking_uri: uri.clone(),
        journal,
        ..Default::default()
    };
    let pending: Vec<&Record> = records
        .iter()
        .filter(|r| r.seq > state.sent_through)
        .collect();
    if pending.is_empty() {
        report.run_id = state.run_id.clone();
        return Ok(report);
    }
    let client = Client::new(&uri, options.connect_timeout);
    let run_id = ensure_run(&client, &mut state, start, run_dir)?;
    report.run_id = Some(run_id.clone());
    for group in groups(&pending, &options.limits) {
        let last = group.last().expect("groups are not empty").seq;
        match send(&client, &state, &run_id, &group, run_dir, &options.limits) {
            Ok(()) => {}
            Err(TrackError::Refused { what, message, .. }) => {
                let refused = Refused {
                    seq: last,
                    message: format!("{what}: {message}"),
                };
                report.refused.push(refused.clone());
                state.refused.push(refused);
            }
            Err(e) => {
                state.write(run_dir)?;
                return Err(e);
            }
        }
        report.sent += group.len();
        state.sent_through = last;
        state.write(run_dir)?;
    }
    Ok(report)
}

/// The server to send to and the journal's start record.
fn start_of<'a>(records: &'a [Record], options: &SyncOptions) -> Option<(String, &'a Record)> {
    let start = records
        .iter()
        .find(|r| matches!(r.event, Event::Start { .. }))?;
    let Event::Start { tracking_uri, .. } = &start.event else {
        unreachable!()
    };
    let uri = options
        .tracking_uri
        .clone()
        .unwrap_or_else(|| tracking_uri.clone());
    Some((uri.trim_end_matches('/').to_string(), start))
}

/// The MLflow run of this tsfm run, created (with its experiment) the first time.
fn ensure_run(
    client: &Client,
    state: &mut SyncState,
    start: &Record,
    run_dir: &Path,
) -> Result<String> {
    if let Some(id) = &state.run_id {
        return Ok(id.clone());
    }
    let Event::Start {
        experiment,
        run_name,
        start_time,
        ..
    } = &start.event
    else {
        unreachable!("start_of returns a start record")
    };
    let experiment_id = client.experiment_id(experiment)?;
    let run = client.create_run(&experiment_id, run_name, *start_time)?;
    state.experiment_id = Some(experiment_id);
    state.run_id = Some(run.run_id.clone());
    state.artifact_uri = Some(run.artifact_uri);
    state.write(run_dir)?;
    Ok(run.run_id)
}

/// Consecutive metrics records go in one `log-batch` while they fit its limit; every other
/// record is sent on its own, so a refused one (a param whose value changed) takes no metrics
/// down with it.
fn groups<'a>(pending: &[&'a Record], limits: &Limits) -> Vec<Vec<&'a Record>> {
    let mut out: Vec<Vec<&Record>> = Vec::new();
    let mut count = 0;
    for &record in pending {
        let n = metric_count(&record.event);
        let open = out.last().is_some_and(|g| metric_count(&g[0].event) > 0);
        if n > 0 && open && count + n <= limits.metrics.min(limits.entities) {
            out.last_mut().expect("checked").push(record);
            count += n;
        } else {
            out.push(vec![record]);
            count = n;
        }
    }
    out
}

fn metric_count(event: &Event) -> usize {
    match event {
        Event::Metrics { values, .. } => values.len(),
        _ => 0,
    }
}

fn send(
    client: &Client,
    state: &SyncState,
    run_id: &str,
    group: &[&Record],
    run_dir: &Path,
    limits: &Limits,
) -> Result<()> {
    match &group[0].event {
        Event::Start { .. } => Ok(()),
        Event::End { status, end_time } => client.end_run(run_id, status, *end_time),
        Event::Artifact {
            path,
            artifact_path,
        } => {
            let artifact_uri = state.artifact_uri.as_deref().unwrap_or_default();
            upload(client, artifact_uri, &run_dir.join(path), artifact_path)
        }
        _ => {
            let (metrics, params, tags) = batch_entities(group, limits);
            // A single record over the limits (a config with 300 keys) goes in several calls.
            for chunk in params.chunks(limits.params) {
                client.log_batch(run_id, &[], chunk, &[])?;
            }
            for chunk in tags.chunks(limits.tags) {
                client.log_batch(run_id, &[], &[], chunk)?;
            }
            for chunk in metrics.chunks(limits.metrics) {
                client.log_batch(run_id, chunk, &[], &[])?;
            }
            Ok(())
        }
    }
}

fn batch_entities(group: &[&Record], limits: &Limits) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let cut = |s: &str, n: usize| s.chars().take(n).collect::<String>();
    let (mut metrics, mut params, mut tags) = (Vec::new(), Vec::new(), Vec::new());
    for record in group {
        match &record.event {
            Event::Metrics {
                step,
                timestamp,
                values,
            } => {
                // JSON has no NaN or infinity; MLflow would refuse the whole batch.
                for (key, value) in values.iter().filter(|(_, v)| v.is_finite()) {
                    metrics.push(json!({"key": cut(key, limits.key_chars), "value": value, "timestamp": timestamp, "step": step}));
                }
            }
            Event::Params { params: list } => {
                for (key, value) in list {
                    params.push(json!({"key": cut(key, limits.key_chars), "value": cut(value, limits.param_value_chars)}));
                }
            }
            Event::Tags { tags: map } => {
                for (key, value) in map {
                    tags.push(json!({"key": cut(key, limits.key_chars), "value": cut(value, limits.tag_value_chars)}));
                }
            }
            _ => {}
        }
    }
    (metrics, params, tags)
}

/// A file, or every file under a folder, into the run's artifacts. A file that is gone (a
/// cleaned-up run) is refused rather than retried forever.
fn upload(client: &Client, artifact_uri: &str, path: &Path, artifact_path: &str) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let target = join(artifact_path, &name);
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .map_err(TrackError::io(path))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            upload(client, artifact_uri, &entry, &target)?;
        }
        return Ok(());
    }
    let bytes = std::fs::read(path).map_err(|e| TrackError::Refused {
        uri: client.uri().to_string(),
        what: format!("artifact {}", path.display()),
        message: format!("cannot read it: {e}"),
    })?;
    client.upload_artifact(artifact_uri, &target, &bytes)
}

fn join(folder: &str, name: &str) -> String {
    if folder.is_empty() {
        name.to_string()
    } else {
        format!("{}/{name}", folder.trim_end_matches('/'))
    }
}

/// Only one process sends a run's journal at a time (the training's background sender, or
/// `tsfm runs sync`); the lock goes with the returned file.
fn lock(run_dir: &Path) -> Result<File> {
    let path = run_dir.join(LOCK_FILE);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(TrackError::io(dir))?;
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(TrackError::io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(TrackError::Other(format!(
            "{}: another tsfm process is sending this run to MLflow right now (a training still \
             running?); try again when it has finished",
            run_dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(TrackError::io(path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn metrics(seq: u64, n: usize) -> Record {
        let values = (0..n).map(|i| (format!("m{i}"), i as f64)).collect();
        Record {
            seq,
            event: Event::Metrics {
                step: seq,
                timestamp: 1,
                values,
            },
        }
    }

    #[test]
    fn metrics_are_batched_within_limits_and_everything_else_goes_alone() {
        let limits = Limits {
            metrics: 5,
            ..Limits::default()
        };
        let params = Record {
            seq: 3,
            event: Event::Params {
                params: vec![("a".into(), "1".into())],
            },
        };
        let records = [
            metrics(1, 2),
            metrics(2, 3),
            params,
            metrics(4, 4),
            metrics(5, 2),
            metrics(6, 1),
        ];
        let pending: Vec<&Record> = records.iter().collect();
        let seqs: Vec<Vec<u64>> = groups(&pending, &limits)
            .iter()
            .map(|g| g.iter().map(|r| r.seq).collect())
            .collect();
        assert_eq!(seqs, [vec![1, 2], vec![3], vec![4], vec![5, 6]]);
    }

    #[test]
    fn values_are_cut_to_the_limits_and_non_finite_metrics_left_out() {
        let limits = Limits {
            param_value_chars: 4,
            key_chars: 3,
            ..Limits::default()
        };
        let params = Record {
            seq: 1,
            event: Event::Params {
                params: vec![("data.columns".into(), "[\"a\",\"b\"]".into())],
            },
        };
        let values = BTreeMap::from([("loss".to_string(), 0.5), ("nan".to_string(), f64::NAN)]);
        let m = Record {
            seq: 2,
            event: Event::Metrics {
                step: 7,
                timestamp: 9,
                values,
            },
        };
        let (metrics, params, _) = batch_entities(&[&params, &m], &limits);
        // Four characters: `["a"`.
        assert_eq!(params, [json!({"key": "dat", "value": "[\"a\""})]);
        assert_eq!(
            metrics,
            [json!({"key": "los", "value": 0.5, "timestamp": 9, "step": 7})]
        );
    }

    #[test]
    fn a_dead_server_fails_fast_and_leaves_everything_to_send() {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut journal = crate::Journal::open(dir.path()).unwrap();
        journal
            .append(Event::Start {
                tracking_uri: format!("http://127.0.0.1:{port}"),
                experiment: "e".into(),
                run_name: "r".into(),
                start_time: 1,
            })
            .unwrap();
        let started = std::time::Instant::now();
        let err = sync(dir.path(), &SyncOptions::default()).unwrap_err();
        assert!(matches!(err, TrackError::Unreachable { .. }), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(SyncState::read(dir.path()).unwrap(), None);
        let sender = super::super::Sender::start(
            dir.path().to_path_buf(),
            SyncOptions::default(),
            Duration::from_secs(60),
        );
        sender.nudge();
        let why = sender.finish(Duration::from_secs(5)).unwrap();
        assert!(
            why.starts_with(&format!("MLflow server http://127.0.0.1:{port}: ")),
            "{why}"
        );
    }
}
