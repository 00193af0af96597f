//! `checkpoints/checkpoint-{step}/` directories: atomic writes, discovery, rotation.
//!
//! A checkpoint is first written to a hidden temporary directory and renamed into place, so a
//! directory named `checkpoint-N` is always complete.

use std::path::{Path, PathBuf};

use crate::error::TrainError;

pub const CHECKPOINTS_DIR: &str = "checkpoints";
pub const WEIGHTS_FILE: &str = "model.bpk";
pub const STATE_FILE: &str = "trainer_state.json";
pub const SCHEDULER_FILE: &str = "scheduler.json";
pub const RNG_FILE: &str = "rng_state.json";

pub fn checkpoint_name(step: u64) -> String {
    format!("checkpoint-{step}")
}

/// Step of a directory named `checkpoint-{step}`.
pub fn checkpoint_step(path: &Path) -> Option<u64> {
    path.file_name()?
        .to_str()?
        .strip_prefix("checkpoint-")?
        .parse()
        .ok()
}

/// Complete checkpoints under `run_dir/checkpoints`, oldest step first.
pub fn list_checkpoints(run_dir: &Path) -> Result<Vec<PathBuf>, TrainError> {
    let dir = run_dir.join(CHECKPOINTS_DIR);
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| TrainError::io(&dir, e))? {
        let path = entry.map_err(|e| TrainError::io(&dir, e))?.path();
        if let Some(step) = checkpoint_step(&path)
            && path.join(STATE_FILE).is_file()
        {
            found.push((step, path));
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

/// The newest complete checkpoint of a run.
pub fn latest_checkpoint(run_dir: &Path) -> Result<Option<PathBuf>, TrainError> {
    Ok(list_checkpoints(run_dir)?.pop())
}

/// Write a checkpoint through `fill(tmp_dir)`, then move it to `checkpoints/checkpoint-{step}`.
pub fn write_atomically(
    run_dir: &Path,
    step: u64,
    fill: impl FnOnce(&Path) -> Result<(), TrainError>,
) -> Result<PathBuf, TrainError> {
    let dir = run_dir.join(CHECKPOINTS_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
    let name = checkpoint_name(step);
    let tmp = dir.join(format!(".tmp-{name}"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    }
    std::fs::create_dir(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    if let Err(e) = fill(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    // A resumed run may write a step again: `replace_dir` moves the old one aside first, since a
    // folder cannot be renamed over a non-empty one. It also fsyncs the files first (Burn's
    // record writer does not), so a `checkpoint-N` that survives a crash is complete.
    let target = dir.join(&name);
    if let Err(e) = tsfm_io::replace_dir(&tmp, &target) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(TrainError::io(&target, e));
    }
    Ok(target)
}

/// Which checkpoints `save_total_limit` deletes, as HF `Trainer._rotate_checkpoints` does:
/// the best checkpoint is moved next to the newest so it is never deleted, and with a limit of
/// 1 the newest is kept too (so the run can resume) when it is not the best.
pub fn checkpoints_to_delete(
    sorted: &[PathBuf],
    best: Option<&Path>,
    limit: usize,
) -> Vec<PathBuf> {
    let mut order: Vec<PathBuf> = sorted.to_vec();
    if let Some(best) = best
        && let Some(i) = order.iter().position(|p| p == best)
    {
        let len = order.len();
        for j in i..len.saturating_sub(2) {
            order.swap(j, j + 1);
        }
    }
    let mut limit = limit;
    if let Some(best) = best
        && limit == 1
        && order.last().map(PathBuf::as_path) != Some(best)
    {
        limit = 2;
    }
    let n = order.len().saturating_sub(limit);
    order.truncate(n);
    order
}

/// Write a file atomically and durably (see `tsfm_io`).
pub fn write_file_atomically(path: &Path, contents: &[u8]) -> Result<(), TrainError> {
    tsfm_io::write_file(path, contents).map_err(|e| TrainError::io(path, e))
}
