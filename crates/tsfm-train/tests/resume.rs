//! Resuming from a checkpoint gives the same weights, bit for bit, as an uninterrupted run.

mod common;

use common::{Sine, StopAt, Tiny, device, lock, weights};
use tsfm_train::{ResumeFrom, SaveStrategy, TrainError, Trainer, TrainingArgs};

fn args() -> TrainingArgs {
    // 20 windows, batches of 3: 7 batches, 4 optimizer steps an epoch; step 6 is mid-epoch.
    TrainingArgs {
        max_steps: 10,
        per_device_train_batch_size: 3,
        gradient_accumulation_steps: 2,
        learning_rate: 1e-2,
        warmup_ratio: 0.1,
        weight_decay: 0.01,
        max_grad_norm: 0.5,
        logging_steps: 2,
        save_strategy: SaveStrategy::Steps,
        save_steps: 3,
        ..Default::default()
    }
}

/// (step, loss, grad_norm, learning_rate) of the training log lines.
type LossLine = (u64, Option<f64>, Option<f64>, Option<f64>);

fn loss_lines(h: &[tsfm_train::LogEntry]) -> Vec<LossLine> {
    h.iter()
        .filter(|e| e.get("loss").is_some())
        .map(|e| {
            (
                e.step,
                e.get("loss"),
                e.get("grad_norm"),
                e.get("learning_rate"),
            )
        })
        .collect()
}

#[test]
fn resumed_runs_match_the_uninterrupted_run_bit_for_bit() {
    let _g = lock();
    let data = Sine::new(20);
    let dir_a = tempfile::tempdir().unwrap();
    let full = Trainer::new(args(), dir_a.path(), device())
        .unwrap()
        .train(Tiny::new(&device(), 21, 0.3), &data, None)
        .unwrap();
    assert_eq!(full.metrics.global_step, 10);

    // Interrupted after step 7 (checkpoint-6 is the latest), then resumed from the latest one.
    let dir_b = tempfile::tempdir().unwrap();
    let mut first = Trainer::new(args(), dir_b.path(), device()).unwrap();
    first.add_callback(Box::new(StopAt(7)));
    let part = first
        .train(Tiny::new(&device(), 21, 0.3), &data, None)
        .unwrap();
    assert_eq!(part.metrics.global_step, 7);
    assert_ne!(weights(&part.model), weights(&full.model));
    let resume = TrainingArgs {
        resume_from_checkpoint: Some(ResumeFrom::Latest(true)),
        ..args()
    };
    // A differently initialised model: the checkpoint's weights must replace it.
    let resumed = Trainer::new(resume, dir_b.path(), device())
        .unwrap()
        .train(Tiny::new(&device(), 999, 0.3), &data, None)
        .unwrap();
    assert_eq!(resumed.metrics.resumed_from_step, Some(6));
    assert_eq!(weights(&resumed.model), weights(&full.model));
    assert_eq!(
        loss_lines(&resumed.state.log_history),
        loss_lines(&full.state.log_history)
    );
    assert_eq!(resumed.metrics.train_loss, full.metrics.train_loss);
    let logged: Vec<u64> = std::fs::read_to_string(dir_b.path().join("logs/train.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<tsfm_train::LogEntry>(l).unwrap())
        .filter(|e| e.get("loss").is_some())
        .map(|e| e.step)
        .collect();
    assert_eq!(
        logged,
        vec![2, 4, 6, 8, 10],
        "no line of the interrupted run after step 6 remains"
    );

    // From an explicit path (step 3, mid-epoch) into a new run directory.
    let dir_c = tempfile::tempdir().unwrap();
    let from_path = TrainingArgs {
        resume_from_checkpoint: Some(ResumeFrom::Path(
            dir_a.path().join("checkpoints/checkpoint-3"),
        )),
        ..args()
    };
    let resumed = Trainer::new(from_path, dir_c.path(), device())
        .unwrap()
        .train(Tiny::new(&device(), 5, 0.3), &data, None)
        .unwrap();
    assert_eq!(weights(&resumed.model), weights(&full.model));

    // Dropout is active: another seed gives other weights.
    let dir_d = tempfile::tempdir().unwrap();
    let other = TrainingArgs {
        seed: 7,
        data_seed: Some(42),
        ..args()
    };
    let other = Trainer::new(other, dir_d.path(), device())
        .unwrap()
        .train(Tiny::new(&device(), 21, 0.3), &data, None)
        .unwrap();
    assert_ne!(weights(&other.model), weights(&full.model));
}

#[test]
fn resuming_with_other_batching_is_refused() {
    let _g = lock();
    let data = Sine::new(20);
    let dir = tempfile::tempdir().unwrap();
    let mut t = Trainer::new(
        TrainingArgs {
            max_steps: 3,
            ..args()
        },
        dir.path(),
        device(),
    )
    .unwrap();
    t.train(Tiny::new(&device(), 1, 0.3), &data, None).unwrap();
    let changed = TrainingArgs {
        per_device_train_batch_size: 4,
        resume_from_checkpoint: Some(ResumeFrom::Latest(true)),
        ..args()
    };
    let err = Trainer::new(changed, dir.path(), device())
        .unwrap()
        .train(Tiny::new(&device(), 1, 0.3), &data, None)
        .err()
        .unwrap();
    assert!(matches!(err, TrainError::Checkpoint { .. }));
    assert!(
        err.to_string().contains("per_device_train_batch_size = 3"),
        "{err}"
    );
    let empty = tempfile::tempdir().unwrap();
    let latest = TrainingArgs {
        resume_from_checkpoint: Some(ResumeFrom::Latest(true)),
        ..args()
    };
    let err = Trainer::new(latest, empty.path(), device())
        .unwrap()
        .train(Tiny::new(&device(), 1, 0.3), &data, None)
        .err()
        .unwrap();
    assert!(matches!(err, TrainError::NoCheckpoint { .. }), "{err}");
}
