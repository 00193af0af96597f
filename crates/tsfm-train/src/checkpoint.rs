//! `checkpoints/checkpoint-{step}/` directories: atomic writes, checksums, discovery,
//! rotation.
//!
//! A checkpoint is first written to a hidden temporary directory and renamed into place, so a
//! directory named `checkpoint-N` is always complete when it was written. Its
//! `checksums.json` (SHA-256 and size of every file) catches what happens after: a file
//! truncated or overwritten by a full disk, a copy, a bad sector. Resuming verifies it and falls
//! back to the newest checkpoint that is whole.

use std::path::{Path, PathBuf};

use crate::error::TrainError;

pub const CHECKPOINTS_DIR: &str = "checkpoints";
pub const WEIGHTS_FILE: &str = "model.bpk";
pub const STATE_FILE: &str = "trainer_state.json";
pub const SCHEDULER_FILE: &str = "scheduler.json";
pub const RNG_FILE: &str = "rng_state.json";
pub const CHECKSUMS_FILE: &str = "checksums.json";

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
    if let Err(e) = fill(&tmp).and_then(|()| write_checksums(&tmp)) {
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

/// `checksums.json` of a filled checkpoint folder: `{file: {"bytes": n, "sha256": hex}}` for
/// every file in it, in name order.
fn write_checksums(dir: &Path) -> Result<(), TrainError> {
    let mut sums = serde_json::Map::new();
    for (name, path) in files_of(dir)? {
        let (bytes, sha256) = digest(&path)?;
        sums.insert(
            name,
            serde_json::json!({ "bytes": bytes, "sha256": sha256 }),
        );
    }
    let text = serde_json::to_string_pretty(&serde_json::Value::Object(sums)).expect("json");
    write_file_atomically(&dir.join(CHECKSUMS_FILE), text.as_bytes())
}

/// The files of a checkpoint folder, by name, without `checksums.json` itself.
fn files_of(dir: &Path) -> Result<Vec<(String, PathBuf)>, TrainError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| TrainError::io(dir, e))? {
        let path = entry.map_err(|e| TrainError::io(dir, e))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.is_file() && name != CHECKSUMS_FILE {
            files.push((name, path));
        }
    }
    files.sort();
    Ok(files)
}

/// Size and SHA-256 (hex) of a file, read in chunks.
fn digest(path: &Path) -> Result<(u64, String), TrainError> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| TrainError::io(path, e))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| TrainError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    let hex = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((bytes, hex))
}

/// What is wrong with a checkpoint folder, if anything: a file listed in its `checksums.json`
/// that is missing, of another size or another content, or an unreadable `checksums.json`.
/// `Ok(false)`: no `checksums.json` (written by an older tsfm), nothing could be checked.
pub fn verify_checkpoint(dir: &Path) -> Result<bool, String> {
    let path = dir.join(CHECKSUMS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("{CHECKSUMS_FILE}: {e}")),
    };
    let sums: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| format!("{CHECKSUMS_FILE} is damaged: {e}"))?;
    if !sums.contains_key(STATE_FILE) {
        return Err(format!("{CHECKSUMS_FILE} does not list {STATE_FILE}"));
    }
    for (name, want) in &sums {
        let file = dir.join(name);
        if !file.is_file() {
            return Err(format!("{name} is missing"));
        }
        let (bytes, sha256) = digest(&file).map_err(|e| e.to_string())?;
        if Some(bytes) != want["bytes"].as_u64() {
            return Err(format!(
                "{name} has {bytes} bytes, {} were written (truncated or overwritten)",
                want["bytes"]
            ));
        }
        if Some(sha256.as_str()) != want["sha256"].as_str() {
            return Err(format!(
                "{name} does not match its checksum (its content changed after it was written)"
            ));
        }
    }
    Ok(true)
}

/// The newest checkpoint of a run that verifies, and a warning for each newer one that does not
/// (or that had nothing to verify against). `Err` when checkpoints exist but none is whole.
pub fn latest_good_checkpoint(
    run_dir: &Path,
) -> Result<(Option<PathBuf>, Vec<String>), TrainError> {
    let mut warnings = Vec::new();
    let all = list_checkpoints(run_dir)?;
    for dir in all.iter().rev() {
        match verify_checkpoint(dir) {
            Ok(true) => return Ok((Some(dir.clone()), warnings)),
            Ok(false) => {
                warnings.push(format!(
                    "{}: no {CHECKSUMS_FILE} (an older tsfm wrote it); resuming from it unverified",
                    dir.display()
                ));
                return Ok((Some(dir.clone()), warnings));
            }
            Err(why) => warnings.push(format!(
                "{} is damaged ({why}); trying the checkpoint before it",
                dir.display()
            )),
        }
    }
    if all.is_empty() {
        return Ok((None, warnings));
    }
    Err(TrainError::Checkpoint {
        path: run_dir.join(CHECKPOINTS_DIR),
        message: format!(
            "every checkpoint is damaged: {}; start the run again without resuming",
            warnings.join("; ")
        ),
    })
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
