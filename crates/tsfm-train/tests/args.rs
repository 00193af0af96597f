//! `TrainingArgs` as the lead's config mapping sees it: serde names, defaults, validation.

use std::path::PathBuf;

use tsfm_models::LossKind;
use tsfm_train::{IntervalStrategy, ResumeFrom, SaveStrategy, SchedulerKind, TrainingArgs};

#[test]
fn defaults_are_hf_training_arguments() {
    let a = TrainingArgs::default();
    assert_eq!(a.learning_rate, 5e-5);
    assert_eq!(
        (a.adam_beta1, a.adam_beta2, a.adam_epsilon, a.weight_decay),
        (0.9, 0.999, 1e-8, 0.0)
    );
    assert_eq!(
        (a.max_grad_norm, a.num_train_epochs, a.max_steps),
        (1.0, 3.0, -1)
    );
    assert_eq!(
        (a.logging_steps, a.save_steps, a.eval_steps()),
        (500, 500, 500)
    );
    assert_eq!(a.lr_scheduler_type, SchedulerKind::Linear);
    assert_eq!(
        (a.best_metric_name(), a.greater_is_better()),
        ("eval_loss".to_string(), false)
    );
    assert!(a.validate().is_ok());
}

#[test]
fn parses_from_json_with_defaults_and_both_resume_forms() {
    let a: TrainingArgs = serde_json::from_str(
        r#"{"learning_rate": 0.001, "eval_strategy": "epoch", "save_strategy": "best",
            "lr_scheduler_type": "one_cycle", "loss": {"kind": "huber", "delta": 0.5},
            "finetune_mode": "frozen_backbone", "resume_from_checkpoint": true}"#,
    )
    .unwrap();
    assert_eq!(a.learning_rate, 0.001);
    assert_eq!(
        (a.eval_strategy, a.save_strategy),
        (IntervalStrategy::Epoch, SaveStrategy::Best)
    );
    assert_eq!(a.loss, LossKind::Huber { delta: 0.5 });
    assert_eq!(a.resume_from_checkpoint, Some(ResumeFrom::Latest(true)));
    assert_eq!(a.per_device_train_batch_size, 8);
    let b: TrainingArgs = serde_json::from_str(
        r#"{"resume_from_checkpoint": "runs/x/checkpoints/checkpoint-5", "loss": {"kind": "mae"}}"#,
    )
    .unwrap();
    assert_eq!(
        b.resume_from_checkpoint,
        Some(ResumeFrom::Path(PathBuf::from(
            "runs/x/checkpoints/checkpoint-5"
        )))
    );
    assert_eq!(b.loss, LossKind::Mae);
    let err = serde_json::from_str::<TrainingArgs>(r#"{"learning_rte": 0.1}"#).unwrap_err();
    assert!(err.to_string().contains("learning_rte"), "{err}");
}

#[test]
fn greater_is_better_defaults_by_metric_name() {
    let a = TrainingArgs {
        metric_for_best_model: Some("loss".into()),
        ..Default::default()
    };
    assert_eq!(a.best_metric_name(), "eval_loss");
    let b = TrainingArgs {
        greater_is_better: Some(true),
        ..Default::default()
    };
    assert!(b.greater_is_better());
}
