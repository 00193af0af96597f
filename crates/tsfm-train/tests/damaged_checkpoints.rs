//! Checkpoints carry checksums: a file truncated, changed or missing after it was written is
//! found when resuming; the run resumes from the newest whole checkpoint (with a warning naming
//! the damaged one), bit-identical to an uninterrupted run, or stops with a clear error when
//! none is whole.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use common::{Sine, StopAt, Tiny, device, lock, weights};
use tsfm_train::checkpoint::{CHECKSUMS_FILE, verify_checkpoint};
use tsfm_train::{ResumeFrom, SaveStrategy, Trainer, TrainingArgs};

fn args() -> TrainingArgs {
    TrainingArgs {
        max_steps: 10,
        per_device_train_batch_size: 3,
        learning_rate: 1e-2,
        logging_steps: 2,
        save_strategy: SaveStrategy::Steps,
        save_steps: 3,
        ..Default::default()
    }
}

/// Collects the warnings the trainer sends its callbacks.
struct Warnings(Arc<Mutex<Vec<String>>>);

impl tsfm_train::TrainerCallback for Warnings {
    fn on_warning(&mut self, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
}

/// A run stopped after step 7: checkpoints 3 and 6 exist.
fn interrupted(dir: &Path, data: &Sine) {
    let mut t = Trainer::new(args(), dir, device()).unwrap();
    t.add_callback(Box::new(StopAt(7)));
    t.train(Tiny::new(&device(), 3, 0.0), data, None).unwrap();
}

fn resume(
    dir: &Path,
    data: &Sine,
) -> (
    Result<tsfm_train::TrainOutput<Tiny>, tsfm_train::TrainError>,
    Vec<String>,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut t = Trainer::new(
        TrainingArgs {
            resume_from_checkpoint: Some(ResumeFrom::Latest(true)),
            ..args()
        },
        dir,
        device(),
    )
    .unwrap();
    t.add_callback(Box::new(Warnings(seen.clone())));
    let out = t.train(Tiny::new(&device(), 99, 0.0), data, None);
    let warnings = seen.lock().unwrap().clone();
    (out, warnings)
}

fn truncate(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
}

fn flip_a_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn every_checkpoint_file_is_checksummed_and_damage_is_named() {
    let _g = lock();
    let data = Sine::new(20);
    let dir = tempfile::tempdir().unwrap();
    interrupted(dir.path(), &data);
    let ckpt = dir.path().join("checkpoints/checkpoint-6");
    assert_eq!(verify_checkpoint(&ckpt), Ok(true));
    let sums: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ckpt.join(CHECKSUMS_FILE)).unwrap()).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(&ckpt)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != CHECKSUMS_FILE)
        .collect();
    files.sort();
    let listed: Vec<String> = sums.as_object().unwrap().keys().cloned().collect();
    assert_eq!(listed, files, "checksums.json lists every file");
    for f in [
        "model.bpk",
        "trainer_state.json",
        "rng_state.json",
        "scheduler.json",
    ] {
        assert!(files.iter().any(|x| x == f), "{f} in {files:?}");
    }

    // Each kind of damage, on its own copy of the checkpoint.
    let damaged = |name: &str, damage: &dyn Fn(&Path)| {
        let copy = dir.path().join(format!("copy-{name}"));
        std::fs::create_dir(&copy).unwrap();
        for f in std::fs::read_dir(&ckpt).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, copy.join(f.file_name().unwrap())).unwrap();
        }
        damage(&copy);
        verify_checkpoint(&copy).unwrap_err()
    };
    assert_eq!(
        damaged("flip", &|d| flip_a_byte(&d.join("rng_state.json"))),
        "rng_state.json does not match its checksum (its content changed after it was written)"
    );
    let err = damaged("truncate", &|d| truncate(&d.join("model.bpk")));
    assert!(
        err.starts_with("model.bpk has ")
            && err.ends_with("were written (truncated or overwritten)"),
        "{err}"
    );
    assert_eq!(
        damaged("missing", &|d| std::fs::remove_file(
            d.join("optimizer.safetensors")
        )
        .unwrap()),
        "optimizer.safetensors is missing"
    );
    let err = damaged("sums", &|d| {
        std::fs::write(d.join(CHECKSUMS_FILE), "{not json").unwrap()
    });
    assert!(err.starts_with("checksums.json is damaged"), "{err}");
    // A checkpoint without checksums (an older tsfm): nothing to verify, not an error.
    std::fs::remove_file(ckpt.join(CHECKSUMS_FILE)).unwrap();
    assert_eq!(verify_checkpoint(&ckpt), Ok(false));
}

#[test]
fn resume_falls_back_to_the_newest_whole_checkpoint_bit_for_bit() {
    let _g = lock();
    let data = Sine::new(20);
    let full_dir = tempfile::tempdir().unwrap();
    let full = Trainer::new(args(), full_dir.path(), device())
        .unwrap()
        .train(Tiny::new(&device(), 3, 0.0), &data, None)
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    interrupted(dir.path(), &data);
    truncate(&dir.path().join("checkpoints/checkpoint-6/model.bpk"));
    let (out, warnings) = resume(dir.path(), &data);
    let out = out.unwrap();
    assert_eq!(out.metrics.resumed_from_step, Some(3));
    assert_eq!(weights(&out.model), weights(&full.model));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("checkpoint-6 is damaged (model.bpk has ")
            && warnings[0].ends_with("trying the checkpoint before it"),
        "{warnings:?}"
    );
}

#[test]
fn with_every_checkpoint_damaged_resume_stops_naming_them() {
    let _g = lock();
    let data = Sine::new(20);
    let dir = tempfile::tempdir().unwrap();
    interrupted(dir.path(), &data);
    flip_a_byte(
        &dir.path()
            .join("checkpoints/checkpoint-6/trainer_state.json"),
    );
    std::fs::remove_file(
        dir.path()
            .join("checkpoints/checkpoint-3/optimizer.safetensors"),
    )
    .unwrap();
    let (out, _) = resume(dir.path(), &data);
    let err = out.err().expect("no whole checkpoint").to_string();
    assert!(err.contains("every checkpoint is damaged"), "{err}");
    assert!(
        err.contains("checkpoint-6 is damaged (trainer_state.json does not match"),
        "{err}"
    );
    assert!(err.contains("checkpoint-3 is damaged"), "{err}");

    // An explicit checkpoint that is damaged is refused, naming the file.
    let elsewhere = tempfile::tempdir().unwrap();
    let mut t = Trainer::new(
        TrainingArgs {
            resume_from_checkpoint: Some(ResumeFrom::Path(
                dir.path().join("checkpoints/checkpoint-6"),
            )),
            ..args()
        },
        elsewhere.path(),
        device(),
    )
    .unwrap();
    let err = t
        .train(Tiny::new(&device(), 1, 0.0), &data, None)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("damaged: trainer_state.json does not match its checksum"),
        "{err}"
    );
}
