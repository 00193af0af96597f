//! Checkpoint directories: rotation as HF `_rotate_checkpoints`, discovery, atomic writes.

use std::path::{Path, PathBuf};

use tsfm_train::checkpoint::{
    checkpoints_to_delete, latest_checkpoint, list_checkpoints, write_atomically,
};
use tsfm_train::{TrainError, epoch_order};

fn ckpts(steps: &[u64]) -> Vec<PathBuf> {
    steps
        .iter()
        .map(|s| PathBuf::from(format!("run/checkpoints/checkpoint-{s}")))
        .collect()
}

#[test]
fn rotation_deletes_oldest_but_never_the_best() {
    let all = ckpts(&[2, 4, 6, 8]);
    assert_eq!(checkpoints_to_delete(&all, None, 2), ckpts(&[2, 4]));
    let best = PathBuf::from("run/checkpoints/checkpoint-2");
    assert_eq!(checkpoints_to_delete(&all, Some(&best), 2), ckpts(&[4, 6]));
    // Limit 1 with an older best keeps the newest too, so the run can resume.
    assert_eq!(checkpoints_to_delete(&all, Some(&best), 1), ckpts(&[4, 6]));
    let newest = PathBuf::from("run/checkpoints/checkpoint-8");
    assert_eq!(
        checkpoints_to_delete(&all, Some(&newest), 1),
        ckpts(&[2, 4, 6])
    );
    assert_eq!(checkpoints_to_delete(&all, None, 10), Vec::<PathBuf>::new());
}

fn fill(dir: &Path) -> Result<(), TrainError> {
    std::fs::write(dir.join("trainer_state.json"), "{}").unwrap();
    Ok(())
}

#[test]
fn writes_are_atomic_and_incomplete_dirs_are_ignored() {
    let run = tempfile::tempdir().unwrap();
    write_atomically(run.path(), 10, fill).unwrap();
    write_atomically(run.path(), 2, fill).unwrap();
    // A failed write leaves no directory behind.
    let err = write_atomically(run.path(), 12, |_| {
        Err(TrainError::NoCheckpoint { dir: "x".into() })
    });
    assert!(err.is_err());
    // A directory without trainer_state.json is not a checkpoint.
    std::fs::create_dir_all(run.path().join("checkpoints/checkpoint-20")).unwrap();
    let names: Vec<String> = list_checkpoints(run.path())
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["checkpoint-2", "checkpoint-10"],
        "sorted by step, not by name"
    );
    assert_eq!(
        latest_checkpoint(run.path()).unwrap().unwrap(),
        run.path().join("checkpoints/checkpoint-10")
    );
    let mut entries: Vec<String> = std::fs::read_dir(run.path().join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        vec!["checkpoint-10", "checkpoint-2", "checkpoint-20"]
    );
    // Writing a step again replaces it.
    write_atomically(run.path(), 2, |d| {
        std::fs::write(d.join("trainer_state.json"), "{\"v\": 2}").unwrap();
        Ok(())
    })
    .unwrap();
    let text = std::fs::read_to_string(
        run.path()
            .join("checkpoints/checkpoint-2/trainer_state.json"),
    )
    .unwrap();
    assert_eq!(text, "{\"v\": 2}");
}

#[test]
fn rewriting_a_step_leaves_no_hidden_folders_and_a_failed_rewrite_keeps_the_old_one() {
    let run = tempfile::tempdir().unwrap();
    let state = run
        .path()
        .join("checkpoints/checkpoint-4/trainer_state.json");
    write_atomically(run.path(), 4, fill).unwrap();
    write_atomically(run.path(), 4, |d| {
        std::fs::write(d.join("trainer_state.json"), "{\"v\": 2}").unwrap();
        Ok(())
    })
    .unwrap();
    let err = write_atomically(run.path(), 4, |_| {
        Err(TrainError::NoCheckpoint { dir: "x".into() })
    });
    assert!(err.is_err());
    assert_eq!(std::fs::read_to_string(&state).unwrap(), "{\"v\": 2}");
    let entries: Vec<String> = std::fs::read_dir(run.path().join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, ["checkpoint-4"]);
}

#[test]
fn epoch_orders_are_permutations_fixed_by_seed_and_epoch() {
    let a = epoch_order(42, 0, 50);
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    assert_eq!(a, epoch_order(42, 0, 50));
    assert_ne!(a, epoch_order(42, 1, 50));
    assert_ne!(a, epoch_order(43, 0, 50));
    assert_ne!(a, sorted, "shuffled");
}
