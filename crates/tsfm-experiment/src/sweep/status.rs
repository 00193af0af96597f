//! Where each task of a sweep stands: from `squeue` while Slurm remembers the job, else `sacct`
//! where accounting is on, else the exit code the task's script wrote; plus what its run
//! directory says (steps done, best metric).
use std::collections::BTreeMap;
use std::path::PathBuf;

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
    /// Optimizer steps done / planned (the run's `metrics.json`).
    pub steps: Option<(u64, u64)>,
    /// `metric_for_best_model` and its best value.
    pub best_metric: Option<(String, f64)>,
    /// The step it resumed from, when the last attempt resumed.
    pub resumed_from_step: Option<u64>,
}

/// Every task's status, in task order.
pub fn status(sweep: &Sweep) -> Result<Vec<TaskStatus>> {
    // One squeue (and sacct) call per job, not per task.
    let mut queued: BTreeMap<u64, BTreeMap<String, String>> = BTreeMap::new();
    let mut accounted: BTreeMap<u64, Option<BTreeMap<String, String>>> = BTreeMap::new();
    let mut out = Vec::new();
    for task in &sweep.tasks {
        let metrics = read_metrics(&task.run_dir);
        let mut row = TaskStatus {
            id: task.id,
            state: TaskState::NotSubmitted,
            job: None,
            source: "none",
            run_dir: task.run_dir.clone(),
            steps: metrics.as_ref().and_then(|m| {
                Some((
                    m.get("global_step")?.as_u64()?,
                    m.get("max_steps")?.as_u64()?,
                ))
            }),
            best_metric: metrics.as_ref().and_then(|m| {
                Some((
                    m.get("metric_for_best_model")?.as_str()?.to_string(),
                    m.get("best_metric")?.as_f64()?,
                ))
            }),
            resumed_from_step: metrics
                .as_ref()
                .and_then(|m| m.get("resumed_from_step")?.as_u64()),
        };
        if let Some(job) = sweep.job_of(task.id) {
            let key = format!("{job}_{}", task.id);
            if !queued.contains_key(&job) {
                queued.insert(job, slurm::squeue(job)?);
            }
            let exit = std::fs::read_to_string(
                sweep.dir.join(STATUS_DIR).join(format!("{}.exit", task.id)),
            )
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok());
            let from_queue = queued[&job]
                .get(&key)
                .and_then(|s| TaskState::from_slurm(s));
            // sacct only when squeue has nothing: it is the slow one on a busy cluster.
            let mut from_accounting = || {
                accounted
                    .entry(job)
                    .or_insert_with(|| slurm::sacct(job))
                    .as_ref()
                    .and_then(|a| a.get(&key))
                    .and_then(|s| TaskState::from_slurm(s))
            };
            (row.state, row.source) = if let Some(s) = from_queue {
                (s, "squeue")
            } else if let Some(s) = from_accounting() {
                (s, "sacct")
            } else if let Some(code) = exit {
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

fn read_metrics(run_dir: &std::path::Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(run_dir.join("metrics.json")).ok()?;
    serde_json::from_str(&text).ok()
}
