//! A run's experiment tracking as `logging.mlflow` and `logging.tensorboard` ask: what the
//! run records (config as params, manifest as tags, every `train.jsonl` line as metrics at its
//! step, the test and evaluation metrics, the run's files as artifacts) goes to the run's
//! journal and TensorBoard files; MLflow gets it from the journal in the background
//! ([`tsfm_track::mlflow::Sender`]), so a server that is down never fails or slows a run.
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tsfm_config::Config;
use tsfm_runs::{RunDir, RunManifest};
use tsfm_track::journal::{Event as Record, now_ms};
use tsfm_track::mlflow::{Sender, SyncOptions};
use tsfm_track::tensorboard::EventWriter;
use tsfm_track::{Journal, TrackError};
use tsfm_train::TrainerCallback;
use tsfm_train::state::LogEntry;

use crate::error::{Result, user};

/// How long a sender rests after a failed send, and how long the end of a run waits for the
/// last send (the server answered before; a down server is not waited for at all).
const RETRY_AFTER: Duration = Duration::from_secs(15);
const FINAL_WAIT: Duration = Duration::from_secs(60);

/// The MLflow server a config tracks to: `logging.mlflow.tracking_uri`, else the
/// `MLFLOW_TRACKING_URI` environment variable (as MLflow's clients read it). `None` when
/// `logging.mlflow` is absent.
pub fn mlflow_uri(config: &Config) -> Result<Option<String>> {
    let Some(mlflow) = &config.logging.mlflow else {
        return Ok(None);
    };
    if let Some(uri) = &mlflow.tracking_uri {
        return Ok(Some(uri.trim().to_string()));
    }
    match std::env::var("MLFLOW_TRACKING_URI") {
        Ok(uri) if !uri.trim().is_empty() => {
            tsfm_config::check_tracking_uri(&uri)
                .map_err(|m| user(format!("MLFLOW_TRACKING_URI: {m}")))?;
            Ok(Some(uri.trim().to_string()))
        }
        _ => Err(user(
            "logging.mlflow: no tracking server: set logging.mlflow.tracking_uri (e.g. \
             http://login-node:5000) or the MLFLOW_TRACKING_URI environment variable",
        )),
    }
}

/// A run's open tracking: the journal (with MLflow), its sender, the TensorBoard file.
pub struct RunTracking {
    run_dir: PathBuf,
    journal: Option<Journal>,
    sender: Option<Sender>,
    tensorboard: Option<EventWriter>,
    log_model: bool,
    /// The first local write that failed (a full disk): reported at the end, never fatal to
    /// the training it was tracking.
    problem: Option<String>,
}

/// Shared by the trainer callback and the code around training.
pub type SharedTracking = Arc<Mutex<RunTracking>>;

impl RunTracking {
    /// Tracking for `run` as `config` asks, or `None` when it asks for none. A run seen for the
    /// first time gets its start record; a resumed run continues its journal and MLflow run.
    pub fn open(
        config: &Config,
        run: &RunDir,
        manifest: &RunManifest,
    ) -> Result<Option<SharedTracking>> {
        let uri = mlflow_uri(config)?;
        if uri.is_none() && !config.logging.tensorboard {
            return Ok(None);
        }
        let mut tracking = RunTracking {
            run_dir: run.path.clone(),
            journal: None,
            sender: None,
            tensorboard: None,
            log_model: config.logging.mlflow.as_ref().is_some_and(|m| m.log_model),
            problem: None,
        };
        if let (Some(uri), Some(mlflow)) = (uri, &config.logging.mlflow) {
            let mut journal = Journal::open(&run.path)?;
            let started = tsfm_track::journal::read_records(journal.path())?
                .iter()
                .any(|r| matches!(r.event, Record::Start { .. }));
            // Params once: MLflow refuses a param whose value changes, and a resumed run's
            // config differs in `training.resume_from_checkpoint` at least.
            if !started {
                journal.append(Record::Start {
                    tracking_uri: uri.clone(),
                    experiment: mlflow
                        .experiment
                        .clone()
                        .unwrap_or_else(|| config.output.experiment_name.clone()),
                    run_name: mlflow
                        .run_name
                        .clone()
                        .unwrap_or_else(|| run.run_id.clone()),
                    start_time: now_ms(),
                })?;
                journal.append(Record::Params {
                    params: params(config),
                })?;
            }
            journal.append(Record::Tags {
                tags: tags(manifest, run, &mlflow.tags),
            })?;
            tracking.journal = Some(journal);
            let options = SyncOptions::default();
            tracking.sender = Some(Sender::start(run.path.clone(), options, RETRY_AFTER));
        }
        if config.logging.tensorboard {
            tracking.tensorboard = Some(EventWriter::create(&run.logs_dir(), &manifest.host)?);
        }
        tracking.nudge();
        Ok(Some(Arc::new(Mutex::new(tracking))))
    }

    /// Metrics of one step (a `train.jsonl` line, the test metrics).
    pub fn metrics(&mut self, step: u64, values: &[(String, f64)]) {
        if let Some(journal) = &mut self.journal {
            let values = values.iter().cloned().collect();
            let appended = journal.append(Record::Metrics {
                step,
                timestamp: now_ms(),
                values,
            });
            self.note(appended.map(drop));
        }
        if let Some(tb) = &mut self.tensorboard {
            let written = tb.scalars(step, values);
            self.note(written);
        }
        self.nudge();
    }

    /// A file or folder of the run (relative to it) as an MLflow artifact under `artifact_path`.
    pub fn artifact(&mut self, path: &str, artifact_path: &str) {
        if let Some(journal) = &mut self.journal
            && self.run_dir.join(path).exists()
        {
            let record = Record::Artifact {
                path: path.into(),
                artifact_path: artifact_path.into(),
            };
            let appended = journal.append(record);
            self.note(appended.map(drop));
        }
    }

    /// PNG plots as TensorBoard images (tag: `plots/{file stem}`) at `step`.
    pub fn images(&mut self, step: u64, pngs: &[PathBuf]) {
        let Some(tb) = &mut self.tensorboard else {
            return;
        };
        let mut result = Ok(());
        for png in pngs
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
        {
            let tag = format!(
                "plots/{}",
                png.file_stem().unwrap_or_default().to_string_lossy()
            );
            result = std::fs::read(png)
                .map_err(TrackError::io(png))
                .and_then(|bytes| tb.png(step, &tag, bytes));
            if result.is_err() {
                break;
            }
        }
        self.note(result);
    }

    /// What a checkpoint resumes from is on disk: journal and event file are synced with it.
    pub fn checkpoint(&mut self) {
        if let Some(journal) = &self.journal {
            let synced = journal.sync();
            self.note(synced);
        }
        if let Some(tb) = &mut self.tensorboard {
            let synced = tb.sync();
            self.note(synced);
        }
    }

    /// The run's files as artifacts (the model folder with `log_model`), the end record, and a
    /// last send. Returns what the user should know: something unsent, a local write failed.
    pub fn finish(&mut self, status: Option<&str>) -> Vec<String> {
        if let Some(status) = status {
            for file in [
                "config.yaml",
                "run.json",
                "metrics.json",
                tsfm_train::TRAIN_LOG,
            ] {
                let folder = Path::new(file)
                    .parent()
                    .map(|p| p.to_string_lossy().into_owned());
                self.artifact(file, folder.as_deref().unwrap_or(""));
            }
            if self.log_model && status == "FINISHED" {
                self.artifact("model", "");
            }
            if let Some(journal) = &mut self.journal {
                let appended = journal.append(Record::End {
                    status: status.into(),
                    end_time: now_ms(),
                });
                self.note(appended.map(drop));
            }
        }
        self.checkpoint();
        let mut out = Vec::new();
        if let Some(problem) = self.problem.take() {
            out.push(format!("tracking: {problem}"));
        }
        if let Some(sender) = self.sender.take()
            && let Some(why) = sender.finish(FINAL_WAIT)
        {
            out.push(format!(
                "MLflow: not everything was sent ({why}); it is kept in {} and `tsfm runs sync {}` sends the rest",
                self.run_dir.join(tsfm_track::journal::JOURNAL_FILE).display(),
                self.run_dir.display()
            ));
        }
        out
    }

    fn nudge(&self) {
        if let Some(sender) = &self.sender {
            sender.nudge();
        }
    }

    fn note(&mut self, result: std::result::Result<(), TrackError>) {
        if let Err(e) = result
            && self.problem.is_none()
        {
            self.problem = Some(e.to_string());
        }
    }
}

/// The resolved config as flat params (`training.learning_rate`, ...).
fn params(config: &Config) -> Vec<(String, String)> {
    let value = serde_json::to_value(config).expect("a config serialises");
    tsfm_track::flatten::flatten(&value)
}

/// The manifest as tags (MLflow's own `mlflow.source.git.commit` included), then the user's.
fn tags(
    manifest: &RunManifest,
    run: &RunDir,
    user: &std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, String> {
    let mut tags = std::collections::BTreeMap::new();
    let mut put = |k: &str, v: String| {
        tags.insert(k.to_string(), v);
    };
    put("tsfm.run_id", manifest.run_id.clone());
    put("tsfm.model", manifest.model.clone());
    put("tsfm.experiment", manifest.experiment.clone());
    put("tsfm.version", manifest.tsfm_version.clone());
    put("tsfm.seed", manifest.seed.to_string());
    put("tsfm.host", manifest.host.clone());
    put("tsfm.run_dir", run.path.display().to_string());
    put("tsfm.command", manifest.command.join(" "));
    if let Some(rev) = &manifest.git_revision {
        put("tsfm.git_revision", rev.clone());
        put("mlflow.source.git.commit", rev.clone());
    }
    if let Some(fp) = &manifest.data_fingerprint {
        put("tsfm.data_fingerprint", fp.clone());
    }
    tags.extend(user.iter().map(|(k, v)| (k.clone(), v.clone())));
    tags
}

/// The trainer's side: every log line as metrics at its step, journals synced at checkpoints.
pub struct TrackingCallback(pub SharedTracking);

impl TrainerCallback for TrackingCallback {
    fn on_log(&mut self, entry: &LogEntry) {
        let mut values: Vec<(String, f64)> =
            entry.values.iter().map(|(k, v)| (k.clone(), *v)).collect();
        values.push(("epoch".into(), entry.epoch));
        lock(&self.0).metrics(entry.step, &values);
    }

    fn on_save(&mut self, _step: u64, _dir: &Path) {
        lock(&self.0).checkpoint();
    }
}

/// The tracking behind a lock; a panic elsewhere does not stop the run's tracking.
pub fn lock(shared: &SharedTracking) -> std::sync::MutexGuard<'_, RunTracking> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `tsfm runs sync`: the runs to send (`queries` as `tsfm runs show` resolves them, or every
/// run under `save_dir` with a tracking journal), each sent or why not. `tracking_uri` sends
/// to another server than the one a run was tracked to.
pub fn sync_runs(
    save_dir: &Path,
    queries: &[String],
    tracking_uri: Option<&str>,
) -> Result<
    Vec<(
        RunDir,
        std::result::Result<tsfm_track::mlflow::SyncReport, TrackError>,
    )>,
> {
    if let Some(uri) = tracking_uri {
        tsfm_config::check_tracking_uri(uri).map_err(|m| user(format!("--tracking-uri: {m}")))?;
    }
    let runs: Vec<RunDir> = if queries.is_empty() {
        tsfm_runs::list_runs(save_dir, None, None)?
            .into_iter()
            .filter(|r| r.path.join(tsfm_track::journal::JOURNAL_FILE).is_file())
            .map(|r| RunDir::open(&r.path))
            .collect::<std::result::Result<_, _>>()?
    } else {
        let mut runs = Vec::new();
        for q in queries {
            let run = tsfm_runs::find_run(save_dir, q)?;
            if !run.path.join(tsfm_track::journal::JOURNAL_FILE).is_file() {
                return Err(user(format!(
                    "{}: this run was not tracked (no {}); train with logging.mlflow set",
                    run.path.display(),
                    tsfm_track::journal::JOURNAL_FILE
                )));
            }
            runs.push(run);
        }
        runs
    };
    let options = SyncOptions {
        tracking_uri: tracking_uri.map(str::to_string),
        ..SyncOptions::default()
    };
    Ok(runs
        .into_iter()
        .map(|run| {
            let report = tsfm_track::mlflow::sync(&run.path, &options);
            (run, report)
        })
        .collect())
}
