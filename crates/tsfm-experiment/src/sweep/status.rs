//! Where each task of a sweep stands: from `squeue` while Slurm remembers the job, else `sacct`
//! where accounting is on, else the exit code the task's script wrote; plus what its run
//! directory says (steps done, best metric).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::slurm::{self, TaskState};
use super::{STATUS_DIR, Sweep};
use crate::error::Result;

/// One row of `tsfm sweep status`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TaskStatus {
    pub id: usize,
    pub state: TaskState,
    /// `JOB_TASK` of the latest submission.
    pub job: Option<String>,
    /// Where the state came from: squeue, sacct, exit file, or none.
    pub source: &'static str,
    pub run_dir: PathBuf,
    /// Optimizer steps done / planned (`metrics.json` once finished; while it runs, the last
    /// step logged, planned unknown).
    pub steps: Option<(u64, Option<u64>)>,
    /// `metric_for_best_model` and its best value.
    pub best_metric: Option<(String, f64)>,
    /// The step it resumed from, when the last attempt resumed.
    pub resumed_from_step: Option<u64>,
}

/// What Slurm said about a job's tasks, asked once per job.
#[derive(Default)]
struct Answers {
    queued: BTreeMap<u64, BTreeMap<String, String>>,
    accounted: BTreeMap<u64, Option<BTreeMap<String, String>>>,
}

impl Answers {
    fn squeue(&mut self, job: u64, key: &str) -> Result<Option<TaskState>> {
        if let std::collections::btree_map::Entry::Vacant(e) = self.queued.entry(job) {
            e.insert(slurm::squeue(job)?);
        }
        Ok(self.queued[&job]
            .get(key)
            .and_then(|s| TaskState::from_slurm(s)))
    }

    fn sacct(&mut self, job: u64, key: &str) -> Option<TaskState> {
        self.accounted
            .entry(job)
            .or_insert_with(|| slurm::sacct(job))
            .as_ref()?
            .get(key)
            .and_then(|s| TaskState::from_slurm(s))
    }
}

/// Every task's status, in task order.
pub fn status(sweep: &Sweep) -> Result<Vec<TaskStatus>> {
    let mut answers = Answers::default();
    let mut out = Vec::new();
    for task in &sweep.tasks {
        let mut row = from_run_dir(task.id, &task.run_dir);
        if let Some(job) = sweep.job_of(task.id) {
            let key = format!("{job}_{}", task.id);
            // sacct only when squeue has forgotten the task: it is the slow one on a busy
            // cluster, and absent where accounting is off.
            (row.state, row.source) = if let Some(s) = answers.squeue(job, &key)? {
                (s, "squeue")
            } else if let Some(s) = answers.sacct(job, &key) {
                (s, "sacct")
            } else if let Some(code) = exit_code(&sweep.dir, task.id) {
                let s = if code == 0 {
                    TaskState::Completed
                } else {
                    TaskState::Failed
                };
                (s, "exit file")
            } else {
                (TaskState::Ended, "none")
            };
            row.job = Some(key);
        }
        out.push(row);
    }
    Ok(out)
}

/// The exit code the task's script wrote when its last attempt ended (not when it was killed).
fn exit_code(sweep_dir: &Path, task: usize) -> Option<i32> {
    let path = sweep_dir.join(STATUS_DIR).join(format!("{task}.exit"));
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// What the run directory tells: steps, best metric, resume point (state not yet known).
fn from_run_dir(id: usize, run_dir: &Path) -> TaskStatus {
    let metrics: Option<serde_json::Value> = std::fs::read_to_string(run_dir.join("metrics.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let m = metrics.as_ref();
    let finished_steps = m.and_then(|m| {
        Some((
            m.get("global_step")?.as_u64()?,
            Some(m.get("max_steps")?.as_u64()?),
        ))
    });
    TaskStatus {
        id,
        state: TaskState::NotSubmitted,
        job: None,
        source: "none",
        run_dir: run_dir.to_path_buf(),
        steps: finished_steps.or_else(|| last_logged_step(run_dir).map(|s| (s, None))),
        best_metric: m.and_then(|m| {
            Some((
                m.get("metric_for_best_model")?.as_str()?.to_string(),
                m.get("best_metric")?.as_f64()?,
            ))
        }),
        resumed_from_step: m.and_then(|m| m.get("resumed_from_step")?.as_u64()),
    }
}

/// The `step` of the last line of `logs/train.jsonl` (reads only the file's end).
fn last_logged_step(run_dir: &Path) -> Option<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(run_dir.join("logs/train.jsonl")).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(4096))).ok()?;
    let mut tail = String::new();
    file.read_to_string(&mut tail).ok()?;
    tail.lines().rev().find_map(|line| {
        serde_json::from_str::<serde_json::Value>(line)
            .ok()?
            .get("step")?
            .as_u64()
    })
}

/// The completed tasks, best first by their best metric (HF's direction: lower for a loss,
/// higher for anything else, unless the run's `training.greater_is_better` says otherwise);
/// tasks without a metric last, in task order.
pub fn ranked(rows: &[TaskStatus]) -> Vec<&TaskStatus> {
    let mut done: Vec<(&TaskStatus, Option<f64>)> = rows
        .iter()
        .filter(|r| r.state == TaskState::Completed)
        .map(|r| {
            let score = r.best_metric.as_ref().map(|(name, value)| {
                if greater_is_better(&r.run_dir).unwrap_or(!name.ends_with("loss")) {
                    -value
                } else {
                    *value
                }
            });
            (r, score)
        })
        .collect();
    // Stable: equal scores keep task order.
    done.sort_by(|(_, a), (_, b)| match (a, b) {
        (Some(a), Some(b)) => a.total_cmp(b),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    done.into_iter().map(|(r, _)| r).collect()
}

/// `training.greater_is_better` of the run's saved config, when set.
fn greater_is_better(run_dir: &Path) -> Option<bool> {
    let text = std::fs::read_to_string(run_dir.join("config.yaml")).ok()?;
    let config: yaml_serde::Value = yaml_serde::from_str(&text).ok()?;
    config.get("training")?.get("greater_is_better")?.as_bool()
}
