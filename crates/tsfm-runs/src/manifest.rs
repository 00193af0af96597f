//! `run.json`: what ran, where, from which code and data, and how it ended.
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{RunsError, write_json_atomic};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Completed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    pub run_id: String,
    pub model: String,
    pub experiment: String,
    pub tsfm_version: String,
    /// `git rev-parse HEAD` of the working directory, when it is a git checkout.
    pub git_revision: Option<String>,
    pub seed: u64,
    pub host: String,
    /// Local time, RFC 3339.
    pub started_at: String,
    pub ended_at: Option<String>,
    pub status: RunStatus,
    /// Hash of the processed data the run read (the cache manifest's fingerprint).
    pub data_fingerprint: Option<String>,
    /// The command line that started the run.
    pub command: Vec<String>,
    pub error: Option<String>,
    /// The best evaluation loss of training: what `best_model` is chosen by, kept here because
    /// `metrics.json` is optional (`output.save_metrics`).
    #[serde(default)]
    pub best_eval_loss: Option<f64>,
}

impl RunManifest {
    /// A manifest for a run starting now, with version, host and git revision filled in.
    pub fn start(run_id: &str, model: &str, experiment: &str, seed: u64) -> Self {
        RunManifest {
            run_id: run_id.to_string(),
            model: model.to_string(),
            experiment: experiment.to_string(),
            tsfm_version: env!("CARGO_PKG_VERSION").to_string(),
            git_revision: git_revision(),
            seed,
            host: host_name(),
            started_at: now_rfc3339(),
            ended_at: None,
            status: RunStatus::Running,
            data_fingerprint: None,
            command: std::env::args().collect(),
            error: None,
            best_eval_loss: None,
        }
    }

    /// Mark the run finished (completed, or failed with `error`).
    pub fn finish(&mut self, error: Option<String>) {
        self.ended_at = Some(now_rfc3339());
        self.status = if error.is_some() {
            RunStatus::Failed
        } else {
            RunStatus::Completed
        };
        self.error = error;
    }

    pub fn write(&self, path: &Path) -> Result<(), RunsError> {
        write_json_atomic(path, self)
    }

    pub fn read(path: &Path) -> Result<Self, RunsError> {
        let text = std::fs::read_to_string(path).map_err(RunsError::io(path))?;
        serde_json::from_str(&text).map_err(|e| RunsError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}

fn now_rfc3339() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

fn git_revision() -> Option<String> {
    let output = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let rev = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (rev.len() >= 7).then_some(rev)
}
