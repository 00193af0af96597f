//! The training loop: accumulation, strategies, early stopping, checkpoint rotation, best
//! model, freezing, NaN handling, logs.

mod common;

use std::path::Path;

use common::{Sine, Tiny, device, lock, weights};
use tsfm_train::state::LogEntry;
use tsfm_train::{
    IntervalStrategy, OptimizerKind, RunLength, SaveStrategy, SchedulerKind, TrainError, Trainer,
    TrainingArgs,
};

fn base_args() -> TrainingArgs {
    TrainingArgs {
        per_device_train_batch_size: 4,
        per_device_eval_batch_size: 64,
        learning_rate: 1e-2,
        logging_steps: 1,
        save_strategy: SaveStrategy::No,
        ..Default::default()
    }
}

fn read_log(dir: &Path) -> Vec<LogEntry> {
    std::fs::read_to_string(dir.join("logs/train.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn checkpoint_dirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn run_length_follows_hf() {
    let args = TrainingArgs {
        per_device_train_batch_size: 3,
        gradient_accumulation_steps: 2,
        num_train_epochs: 2.5,
        ..Default::default()
    };
    // 20 windows / 3 = 7 batches, 4 updates an epoch.
    let len = RunLength::new(&args, 20).unwrap();
    assert_eq!(
        (
            len.batches_per_epoch,
            len.updates_per_epoch,
            len.max_steps,
            len.num_epochs
        ),
        (7, 4, 10, 3)
    );
    let steps = TrainingArgs {
        max_steps: 9,
        ..args.clone()
    };
    let len = RunLength::new(&steps, 20).unwrap();
    assert_eq!(
        (len.max_steps, len.num_epochs),
        (9, 3),
        "max_steps overrides epochs"
    );
    let drop = TrainingArgs {
        dataloader_drop_last: true,
        ..args
    };
    assert_eq!(RunLength::new(&drop, 20).unwrap().batches_per_epoch, 6);
    assert!(matches!(
        RunLength::new(&drop, 2),
        Err(TrainError::EmptyData { .. })
    ));
}

#[test]
fn accumulating_two_batches_of_4_equals_one_batch_of_8() {
    let _g = lock();
    let data = Sine::new(8);
    let run = |bs: usize, ga: usize| {
        let dir = tempfile::tempdir().unwrap();
        let args = TrainingArgs {
            per_device_train_batch_size: bs,
            gradient_accumulation_steps: ga,
            max_steps: 1,
            optimizer: OptimizerKind::Sgd,
            learning_rate: 0.5,
            lr_scheduler_type: SchedulerKind::Constant,
            max_grad_norm: 0.0,
            ..base_args()
        };
        let mut trainer = Trainer::new(args, dir.path(), device()).unwrap();
        let out = trainer
            .train(Tiny::new(&device(), 3, 0.0), &data, None)
            .unwrap();
        (weights(&out.model), out.metrics.train_loss)
    };
    let (w8, l8) = run(8, 1);
    let (w4, l4) = run(4, 2);
    let init = weights(&Tiny::new(&device(), 3, 0.0));
    assert!((l8 - l4).abs() < 1e-6, "{l8} vs {l4}");
    for (path, a) in &w8 {
        let b = &w4[path];
        assert_ne!(a, &init[path], "{path} moved");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-6, "{path}: {x} vs {y}");
        }
    }
}

#[test]
fn early_stopping_stops_at_the_expected_step() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let data = Sine::new(16);
    let eval = Sine::new(8);
    // A tiny rate moves the eval loss by far less than the threshold: evaluation 1 (step 2)
    // sets the best, evaluations at steps 4 and 6 do not improve enough, patience 2 stops at 6.
    let args = TrainingArgs {
        max_steps: 40,
        learning_rate: 1e-6,
        eval_strategy: IntervalStrategy::Steps,
        eval_steps: Some(2),
        early_stopping_patience: Some(2),
        early_stopping_threshold: 1.0,
        ..base_args()
    };
    let mut trainer = Trainer::new(args, dir.path(), device()).unwrap();
    let out = trainer
        .train(Tiny::new(&device(), 5, 0.1), &data, Some(&eval))
        .unwrap();
    assert_eq!(out.metrics.global_step, 6);
    assert!(out.metrics.stopped_early);
    let evals: Vec<(u64, f64)> = read_log(dir.path())
        .iter()
        .filter_map(|e| e.get("eval_loss").map(|l| (e.step, l)))
        .collect();
    assert_eq!(evals.iter().map(|e| e.0).collect::<Vec<_>>(), vec![2, 4, 6]);
    assert!(
        (evals[2].1 - evals[0].1).abs() < 1.0,
        "changes stay below the threshold"
    );
}

#[test]
fn save_total_limit_keeps_the_best_and_latest_and_reloads_the_best() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let data = Sine::new(16);
    // Eval targets grow at every evaluation, so the first evaluation (step 2) stays the best.
    let eval = Sine {
        drift: 5.0,
        ..Sine::new(8)
    };
    let args = TrainingArgs {
        max_steps: 10,
        eval_strategy: IntervalStrategy::Steps,
        eval_steps: Some(2),
        save_strategy: SaveStrategy::Steps,
        save_steps: 2,
        save_total_limit: Some(2),
        load_best_model_at_end: true,
        ..base_args()
    };
    let mut trainer = Trainer::new(args, dir.path(), device()).unwrap();
    let out = trainer
        .train(Tiny::new(&device(), 7, 0.0), &data, Some(&eval))
        .unwrap();
    assert_eq!(
        checkpoint_dirs(dir.path()),
        vec!["checkpoint-10", "checkpoint-2"]
    );
    assert_eq!(
        out.metrics.best_model_checkpoint.as_deref(),
        Some("checkpoints/checkpoint-2")
    );
    assert_eq!(out.metrics.global_step, 10);
    // The returned model is the one saved at step 2.
    let saved =
        burn::store::ModuleRecord::load(dir.path().join("checkpoints/checkpoint-2/model.bpk"))
            .unwrap();
    use burn::module::Module;
    let best = Tiny::new(&device(), 99, 0.0).load_record(saved);
    assert_eq!(weights(&out.model), weights(&best));
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            dir.path()
                .join("checkpoints/checkpoint-10/trainer_state.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(state["global_step"], 10);
    assert_eq!(state["best_global_step"], 2);
    for file in [
        "optimizer.safetensors",
        "scheduler.json",
        "rng_state.json",
        "config.json",
    ] {
        assert!(
            dir.path()
                .join("checkpoints/checkpoint-10")
                .join(file)
                .is_file(),
            "{file}"
        );
    }
}

#[test]
fn head_only_trains_only_the_head() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let data = Sine::new(12);
    let args = TrainingArgs {
        max_steps: 3,
        finetune_mode: tsfm_models::FinetuneMode::HeadOnly,
        weight_decay: 0.1,
        ..base_args()
    };
    let init = weights(&Tiny::new(&device(), 11, 0.2));
    let mut trainer = Trainer::new(args, dir.path(), device()).unwrap();
    let out = trainer
        .train(Tiny::new(&device(), 11, 0.2), &data, None)
        .unwrap();
    let after = weights(&out.model);
    for (path, v) in &init {
        if path.starts_with("backbone") {
            assert_eq!(&after[path], v, "{path} is frozen");
        } else {
            assert_ne!(&after[path], v, "{path} trains");
        }
    }
    let total = (6 * 8 + 8) + (8 * 2 + 2);
    assert_eq!(
        (out.metrics.total_params, out.metrics.trainable_params),
        (total, 8 * 2 + 2)
    );
}

#[test]
fn a_nan_loss_stops_the_run_and_keeps_earlier_checkpoints() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    // Batch call 5 (0-based) is step 6 with one batch per step.
    let data = Sine {
        nan_from_call: Some(5),
        ..Sine::new(40)
    };
    let args = TrainingArgs {
        max_steps: 10,
        save_strategy: SaveStrategy::Steps,
        save_steps: 2,
        ..base_args()
    };
    let mut trainer = Trainer::new(args, dir.path(), device()).unwrap();
    let err = trainer
        .train(Tiny::new(&device(), 13, 0.0), &data, None)
        .err()
        .unwrap();
    assert!(
        matches!(err, TrainError::NonFiniteLoss { step: 6 }),
        "{err}"
    );
    assert!(err.to_string().contains("step 6"));
    assert_eq!(
        checkpoint_dirs(dir.path()),
        vec!["checkpoint-2", "checkpoint-4"]
    );
    assert_eq!(
        read_log(dir.path()).len(),
        5,
        "one log line per finished step"
    );
}

#[test]
fn logs_follow_hf_fields_and_strategies() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let data = Sine::new(10); // 3 batches of 4/4/2 per epoch
    let eval = Sine::new(5);
    let args = TrainingArgs {
        num_train_epochs: 2.0,
        logging_steps: 2,
        eval_strategy: IntervalStrategy::Epoch,
        lr_scheduler_type: SchedulerKind::Linear,
        ..base_args()
    };
    let mut trainer = Trainer::new(args, dir.path(), device()).unwrap();
    let out = trainer
        .train(Tiny::new(&device(), 17, 0.0), &data, Some(&eval))
        .unwrap();
    let log = read_log(dir.path());
    let steps: Vec<(u64, bool)> = log
        .iter()
        .map(|e| (e.step, e.get("eval_loss").is_some()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (2, false),
            (3, true),
            (4, false),
            (6, false),
            (6, true),
            (6, false)
        ]
    );
    // Learning rate logged after the scheduler step, as HF: lr(step) = 1e-2 * (6 - step) / 6.
    assert!((log[0].get("learning_rate").unwrap() - 1e-2 * 4.0 / 6.0).abs() < 1e-15);
    assert!((log[0].epoch - 2.0 / 3.0).abs() < 1e-12);
    assert!(log[0].get("grad_norm").unwrap() > 0.0);
    let last = log.last().unwrap();
    assert_eq!(last.get("train_loss"), Some(out.metrics.train_loss));
    assert_eq!(out.metrics.final_eval_loss, log[4].get("eval_loss"));
    assert_eq!(out.state.log_history, log);
    assert_eq!(out.metrics.epoch, 2.0);
}

#[test]
fn invalid_settings_name_their_key() {
    let _g = lock();
    let check = |args: TrainingArgs, key: &str| match Trainer::new(args, "unused", device()) {
        Err(TrainError::InvalidArgs { key: k, .. }) => assert_eq!(k, key),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("accepted"),
    };
    check(
        TrainingArgs {
            gradient_accumulation_steps: 0,
            ..Default::default()
        },
        "gradient_accumulation_steps",
    );
    check(
        TrainingArgs {
            load_best_model_at_end: true,
            ..Default::default()
        },
        "eval_strategy",
    );
    check(
        TrainingArgs {
            load_best_model_at_end: true,
            eval_strategy: IntervalStrategy::Steps,
            eval_steps: Some(3),
            save_steps: 10,
            ..Default::default()
        },
        "save_steps",
    );
    check(
        TrainingArgs {
            metric_for_best_model: Some("mae".into()),
            ..Default::default()
        },
        "metric_for_best_model",
    );
    let data = Sine::new(8);
    let dir = tempfile::tempdir().unwrap();
    let args = TrainingArgs {
        loss: tsfm_models::LossKind::Quantile,
        ..base_args()
    };
    let err = Trainer::new(args, dir.path(), device()).unwrap().train(
        Tiny::new(&device(), 1, 0.0),
        &data,
        None,
    );
    assert!(matches!(
        err,
        Err(TrainError::UnsupportedLoss { model: "tiny", .. })
    ));
}

#[derive(Default)]
struct Collect(std::rc::Rc<std::cell::RefCell<Vec<tsfm_train::StepProgress>>>);

impl tsfm_train::TrainerCallback for Collect {
    fn on_step_end(&mut self, p: &tsfm_train::StepProgress) -> tsfm_train::Control {
        self.0.borrow_mut().push(p.clone());
        tsfm_train::Control::Continue
    }
}

#[test]
fn progress_callback_sees_every_step_and_metrics_json_round_trips() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let data = Sine::new(8);
    let args = TrainingArgs {
        max_steps: 4,
        warmup_steps: 2,
        learning_rate: 0.1,
        ..base_args()
    };
    let seen = Collect::default();
    let shared = seen.0.clone();
    let mut trainer = Trainer::new(args, dir.path(), device()).unwrap();
    trainer.add_callback(Box::new(seen));
    let out = trainer
        .train(Tiny::new(&device(), 3, 0.0), &data, None)
        .unwrap();
    let steps = shared.borrow();
    let got: Vec<(u64, f64, u64)> = steps
        .iter()
        .map(|p| (p.global_step, p.learning_rate, p.max_steps))
        .collect();
    // Linear with 2 warm-up steps over 4: the rate used by steps 1..4 is lr(0..3).
    assert_eq!(
        got,
        vec![(1, 0.0, 4), (2, 0.05, 4), (3, 0.1, 4), (4, 0.05, 4)]
    );
    assert!(
        steps
            .iter()
            .all(|p| p.loss > 0.0 && p.samples_per_second > 0.0)
    );
    assert_eq!(steps.last().unwrap().eta_seconds, 0.0);
    let path = dir.path().join("metrics.json");
    out.metrics.write_json(&path).unwrap();
    let back: tsfm_train::TrainMetrics =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(back, out.metrics);
    assert_eq!(back.trainable_params, back.total_params);
}
