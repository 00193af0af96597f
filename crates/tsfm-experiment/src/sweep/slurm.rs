//! The Slurm commands a sweep calls (`sbatch`, `squeue`, `sacct`), each a plain process, and
//! what their output means. Nothing here keeps state.
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::error::{Result, user};

/// Where a task stands, as far as anyone can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// In `tasks.json` but never handed to Slurm.
    NotSubmitted,
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
    Timeout,
    /// Submitted, no longer queued, and nothing says how it ended (a node lost, a job purged
    /// before its end was recorded): resubmitted like a killed one.
    Ended,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::NotSubmitted => "not submitted",
            TaskState::Pending => "pending",
            TaskState::Running => "running",
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
            TaskState::Timeout => "timeout",
            TaskState::Ended => "ended (no record)",
        }
    }

    /// Whether `tsfm sweep resume` submits it (again).
    pub fn needs_submission(self) -> bool {
        !matches!(
            self,
            TaskState::Pending | TaskState::Running | TaskState::Completed
        )
    }

    /// A Slurm job state name (`squeue %T`, `sacct State`) in our terms.
    pub fn from_slurm(state: &str) -> Option<TaskState> {
        // sacct writes e.g. "CANCELLED by 0".
        let word = state.split_whitespace().next().unwrap_or_default();
        Some(match word {
            "PENDING" | "CONFIGURING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED"
            | "RESV_DEL_HOLD" | "SUSPENDED" | "STOPPED" => TaskState::Pending,
            "RUNNING" | "COMPLETING" | "SIGNALING" | "STAGE_OUT" | "RESIZING" => TaskState::Running,
            "COMPLETED" => TaskState::Completed,
            "FAILED" | "OUT_OF_MEMORY" | "NODE_FAIL" | "BOOT_FAIL" | "SPECIAL_EXIT" => {
                TaskState::Failed
            }
            "CANCELLED" | "PREEMPTED" | "REVOKED" => TaskState::Cancelled,
            "TIMEOUT" | "DEADLINE" => TaskState::Timeout,
            _ => return None,
        })
    }
}

fn missing(program: &str, e: std::io::Error) -> crate::ExperimentError {
    user(format!(
        "cannot run `{program}` ({e}): run tsfm sweep on a Slurm login node (for the tests and \
         CI, `scripts/services slurm` starts a local one)"
    ))
}

/// `sbatch --parsable [ARGS] SCRIPT`: the new job id.
pub fn sbatch(script: &Path, args: &[String]) -> Result<u64> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .arg(script)
        .output()
        .map_err(|e| missing("sbatch", e))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(user(format!(
            "sbatch refused {}: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    // `--parsable` prints `jobid` or `jobid;cluster`.
    let id = stdout.trim().split(';').next().unwrap_or_default();
    id.parse()
        .map_err(|_| user(format!("sbatch printed `{}`, not a job id", stdout.trim())))
}

/// `JOB_TASK -> state` of the array tasks of `job` that `squeue` still knows, ended ones
/// included (it keeps them `MinJobAge` seconds). Empty when squeue has forgotten the job.
pub fn squeue(job: u64) -> Result<BTreeMap<String, String>> {
    let out = Command::new("squeue")
        .args(["-h", "-r", "--states=all", "-o", "%i|%T", "-j"])
        .arg(job.to_string())
        .output()
        .map_err(|e| missing("squeue", e))?;
    // A purged job id is an error ("Invalid job id specified"): nothing known.
    if !out.status.success() {
        return Ok(BTreeMap::new());
    }
    Ok(parse_pairs(&String::from_utf8_lossy(&out.stdout)))
}

/// `JOB_TASK -> state` from accounting, or `None` when `sacct` is missing or accounting is
/// off (as on the test cluster: "Slurm accounting storage is disabled").
pub fn sacct(job: u64) -> Option<BTreeMap<String, String>> {
    let out = Command::new("sacct")
        .args(["-n", "-P", "-X", "-o", "JobID,State", "-j"])
        .arg(job.to_string())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| parse_pairs(&String::from_utf8_lossy(&out.stdout)))
}

fn parse_pairs(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(id, state)| (id.trim().to_string(), state.trim().to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_states() {
        assert_eq!(
            TaskState::from_slurm("CANCELLED by 0"),
            Some(TaskState::Cancelled)
        );
        assert_eq!(
            TaskState::from_slurm("OUT_OF_MEMORY"),
            Some(TaskState::Failed)
        );
        assert_eq!(
            TaskState::from_slurm("COMPLETING"),
            Some(TaskState::Running)
        );
        assert_eq!(TaskState::from_slurm("TIMEOUT"), Some(TaskState::Timeout));
        assert_eq!(TaskState::from_slurm("what"), None);
        assert_eq!(
            parse_pairs("12_0|COMPLETED\n12_1|CANCELLED by 0\n"),
            BTreeMap::from([
                ("12_0".to_string(), "COMPLETED".to_string()),
                ("12_1".to_string(), "CANCELLED by 0".to_string())
            ])
        );
    }
}
