//! Chronos-Bolt, Chronos-T5, Chronos-2 and TimesFM 2.5 through the generic trainer (their native losses,
//! dropout on where they have it):
//! a run stopped mid-epoch and resumed from its last checkpoint ends with the uninterrupted
//! run's weights and loss, bit for bit.

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use common::{StopAt, Waves, lock, weights};
use tsfm_models::{AnyForecaster, FinetuneMode, LossKind, load_forecaster_in};
use tsfm_train::{ResumeFrom, SaveStrategy, Trainer, TrainingArgs};

fn fixture(family: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tsfm-models/tests/data")
        .join(family)
        .join("model")
}

fn load(family: &str) -> AnyForecaster {
    load_forecaster_in(&fixture(family), &Device::flex())
        .unwrap()
        .model
}

fn args() -> TrainingArgs {
    // 40 windows in batches of 4: 10 steps an epoch; step 5 falls mid-epoch.
    TrainingArgs {
        max_steps: 8,
        per_device_train_batch_size: 4,
        per_device_eval_batch_size: 40,
        learning_rate: 3e-3,
        warmup_ratio: 0.1,
        weight_decay: 0.01,
        max_grad_norm: 1.0,
        logging_steps: 1,
        save_strategy: SaveStrategy::Steps,
        save_steps: 3,
        finetune_mode: FinetuneMode::Full,
        loss: LossKind::Native,
        ..Default::default()
    }
}

fn resume_is_exact(family: &str, horizon: usize) {
    let _g = lock();
    let data = Waves {
        windows: 40,
        context: 64,
        horizon,
    };
    let dir_a = tempfile::tempdir().unwrap();
    let full = Trainer::new(args(), dir_a.path(), Device::flex())
        .unwrap()
        .train(load(family), &data, None)
        .unwrap();
    assert_eq!(full.metrics.global_step, 8);
    assert_ne!(
        weights(&full.model),
        weights(&load(family)),
        "training moves weights"
    );

    let dir_b = tempfile::tempdir().unwrap();
    let mut first = Trainer::new(args(), dir_b.path(), Device::flex()).unwrap();
    first.add_callback(Box::new(StopAt(5)));
    let part = first.train(load(family), &data, None).unwrap();
    assert_eq!(part.metrics.global_step, 5);
    let resume = TrainingArgs {
        resume_from_checkpoint: Some(ResumeFrom::Latest(true)),
        ..args()
    };
    let resumed = Trainer::new(resume, dir_b.path(), Device::flex())
        .unwrap()
        .train(load(family), &data, None)
        .unwrap();
    assert_eq!(resumed.metrics.resumed_from_step, Some(3));
    assert_eq!(weights(&resumed.model), weights(&full.model));
    assert_eq!(resumed.metrics.train_loss, full.metrics.train_loss);
}

#[test]
fn a_resumed_bolt_run_matches_the_uninterrupted_run_bit_for_bit() {
    resume_is_exact("chronos-bolt", 16);
}

#[test]
fn a_resumed_chronos_t5_run_matches_the_uninterrupted_run_bit_for_bit() {
    resume_is_exact("chronos-t5", 8);
}

#[test]
fn a_resumed_timesfm_run_matches_the_uninterrupted_run_bit_for_bit() {
    resume_is_exact("timesfm", 16);
}

#[test]
fn a_resumed_chronos2_run_matches_the_uninterrupted_run_bit_for_bit() {
    // Two output patches of 16 (the fixture's max_output_patches): dropout 0.1 on, [REG] on.
    resume_is_exact("chronos2", 32);
}
