//! Batch shards: the same weights whatever the thread count, DDP's weighting, exact resume,
//! and a checkpoint refused by a run with another shard count.

mod common;

use common::{Sine, StopAt, Tiny, device, lock, weights};
use tsfm_train::shards::{Shard, loss_and_grads, split};
use tsfm_train::{ResumeFrom, SaveStrategy, TrainError, Trainer, TrainingArgs, WindowSource};

fn args(shards: usize) -> TrainingArgs {
    // 23 windows, batches of 7 (the last of 2): shards of 3/2/2, and 1/1 for the last batch.
    TrainingArgs {
        max_steps: 8,
        per_device_train_batch_size: 7,
        batch_shards: shards,
        learning_rate: 1e-2,
        weight_decay: 0.01,
        max_grad_norm: 0.5,
        logging_steps: 2,
        save_strategy: SaveStrategy::Steps,
        save_steps: 3,
        ..Default::default()
    }
}

fn train(
    args: TrainingArgs,
    threads: usize,
    dir: &std::path::Path,
) -> tsfm_train::TrainOutput<Tiny> {
    let mut trainer = Trainer::new(args, dir, device()).unwrap();
    trainer.set_threads(threads);
    trainer
        .train(Tiny::new(&device(), 21, 0.3), &Sine::new(23), None)
        .unwrap()
}

#[test]
fn sharded_training_gives_the_same_weights_on_one_or_many_threads() {
    let _g = lock();
    let runs: Vec<_> = [1, 2, 3, 5]
        .into_iter()
        .map(|threads| {
            let dir = tempfile::tempdir().unwrap();
            let out = train(args(3), threads, dir.path());
            (weights(&out.model), out.metrics.train_loss)
        })
        .collect();
    for run in &runs[1..] {
        assert_eq!(run, &runs[0]);
    }
    // Dropout is active and seeded per shard: another shard count is another computation.
    let dir = tempfile::tempdir().unwrap();
    let one = train(args(1), 1, dir.path());
    assert_ne!(weights(&one.model), runs[0].0);
}

/// Without dropout, shards only regroup the sum: the loss and the gradients of a batch in 3
/// shards are those of the batch in one, to float rounding.
#[test]
fn shard_losses_weigh_by_their_share_of_the_series() {
    let _g = lock();
    let dev = device().autodiff();
    let model = Tiny::new(&dev, 3, 0.0);
    let data = Sine::new(23);
    let indices: Vec<usize> = (0..7).collect();
    let run = |count: usize, threads: usize| {
        let shards = split(&indices, count)
            .into_iter()
            .map(|part| Shard {
                input: data.batch(part, &dev),
                series: part.len(),
                dropout_seed: 0,
            })
            .collect();
        loss_and_grads(&model, shards, tsfm_models::LossKind::Mse, 2, threads).unwrap()
    };
    let (loss1, grads1) = run(1, 1);
    let (loss3, grads3) = run(3, 2);
    assert!(
        (loss1 - loss3).abs() <= 1e-6 * loss1.abs(),
        "{loss1} {loss3}"
    );
    let paths: Vec<&str> = grads1.paths().collect();
    assert_eq!(paths, grads3.paths().collect::<Vec<_>>());
    assert_eq!(paths.len(), 4, "backbone and head, weight and bias");
    let values = |store: &tsfm_train::GradStore, path: &str| {
        let grad = store.get(path).unwrap().clone();
        grad.into_data().try_to_vec::<f32>().unwrap()
    };
    for path in paths {
        let (a, b) = (values(&grads1, path), values(&grads3, path));
        let scale = a.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-3);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-5 * scale, "{path}: {x} vs {y}");
        }
    }
    let (_, again) = run(3, 1);
    for path in grads3.paths() {
        let a = grads3.get(path).unwrap().clone().into_data();
        assert_eq!(a, again.get(path).unwrap().clone().into_data(), "{path}");
    }
}

#[test]
fn a_sharded_run_resumes_bit_for_bit_and_refuses_another_shard_count() {
    let _g = lock();
    let full_dir = tempfile::tempdir().unwrap();
    let full = train(args(3), 2, full_dir.path());
    let dir = tempfile::tempdir().unwrap();
    let mut first = Trainer::new(args(3), dir.path(), device()).unwrap();
    first.add_callback(Box::new(StopAt(4)));
    first
        .train(Tiny::new(&device(), 21, 0.3), &Sine::new(23), None)
        .unwrap();
    let resume = |shards: usize| TrainingArgs {
        resume_from_checkpoint: Some(ResumeFrom::Latest(true)),
        ..args(shards)
    };
    let err = Trainer::new(resume(2), dir.path(), device())
        .unwrap()
        .train(Tiny::new(&device(), 21, 0.3), &Sine::new(23), None)
        .err()
        .unwrap();
    assert!(matches!(err, TrainError::Checkpoint { .. }));
    assert!(
        err.to_string()
            .contains("was written with batch_shards = 3 but this run has 2"),
        "{err}"
    );
    // Resumed on one thread where the full run had two.
    let resumed = train(resume(3), 1, dir.path());
    assert_eq!(resumed.metrics.resumed_from_step, Some(3));
    assert_eq!(weights(&resumed.model), weights(&full.model));
    assert_eq!(resumed.metrics.train_loss, full.metrics.train_loss);
}
