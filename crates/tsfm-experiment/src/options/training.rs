//! `training:` (+ batch sizes from `data:`/`evaluation:`) -> `tsfm_train::TrainingArgs`.
use tsfm_config::{
    Config, FinetuneMode, LoraTargets, Loss, OptimizerType, Resume, SchedulerType, Strategy,
    TrainingConfig,
};
use tsfm_models::LoadOptions;
use tsfm_models::lora::{LoraConfig, TargetModules};
use tsfm_train::{
    IntervalStrategy, OptimizerKind, ResumeFrom, SaveStrategy, SchedulerKind, TrainingArgs,
};

use crate::error::Result;

/// `steps_per_epoch` converts the per-epoch `gamma` of the exponential schedule into the
/// trainer's per-step decay.
pub fn training_args(config: &Config, steps_per_epoch: u64) -> Result<TrainingArgs> {
    let t = &config.training;
    let lr_scheduler_type = scheduler_kind(t);
    let finetune_mode = finetune_mode(t.finetune_mode);
    let loss = loss_kind(t);
    let metric = match t.metric_for_best_model.as_str() {
        "loss" | "eval_loss" => "eval_loss".to_string(),
        other => other.to_string(),
    };
    Ok(TrainingArgs {
        num_train_epochs: t.num_epochs.unwrap_or(0) as f64,
        max_steps: t.max_steps.map(|s| s as i64).unwrap_or(-1),
        per_device_train_batch_size: config.data.batch_size as usize,
        per_device_eval_batch_size: config.evaluation.eval_batch_size as usize,
        gradient_accumulation_steps: t.gradient_accumulation_steps as usize,
        batch_shards: t.batch_shards as usize,
        optimizer: match t.optimizer.kind {
            OptimizerType::Adamw => OptimizerKind::Adamw,
            OptimizerType::Adam => OptimizerKind::Adam,
            OptimizerType::Sgd => OptimizerKind::Sgd,
        },
        learning_rate: t.learning_rate,
        weight_decay: t.weight_decay,
        adam_beta1: t.optimizer.betas[0],
        adam_beta2: t.optimizer.betas[1],
        adam_epsilon: t.optimizer.eps,
        sgd_momentum: t.optimizer.momentum,
        max_grad_norm: t.max_grad_norm,
        lr_scheduler_type,
        warmup_steps: t.warmup_steps,
        warmup_ratio: t.warmup_ratio,
        lr_gamma: t
            .lr_scheduler
            .gamma
            .powf(1.0 / steps_per_epoch.max(1) as f64),
        one_cycle_pct_start: t.lr_scheduler.pct_start,
        // OneCycleLR ends at initial / final_div_factor = lr / (div_factor * final_div_factor).
        one_cycle_final_div_factor: if t.lr_scheduler.min_lr_ratio > 0.0 {
            1.0 / (TrainingArgs::default().one_cycle_div_factor * t.lr_scheduler.min_lr_ratio)
        } else {
            TrainingArgs::default().one_cycle_final_div_factor
        },
        cosine_num_cycles: t.lr_scheduler.num_cycles,
        min_lr_ratio: if t.lr_scheduler.kind == SchedulerType::OneCycle {
            0.0
        } else {
            t.lr_scheduler.min_lr_ratio
        },
        loss,
        finetune_mode,
        logging_steps: t.logging_steps,
        eval_strategy: interval(t.eval_strategy),
        eval_steps: t.eval_steps,
        save_strategy: match t.save_strategy {
            Strategy::No => SaveStrategy::No,
            Strategy::Steps => SaveStrategy::Steps,
            Strategy::Epoch => SaveStrategy::Epoch,
        },
        save_steps: t.save_steps,
        save_total_limit: t.save_total_limit.map(|l| l as usize),
        load_best_model_at_end: t.load_best_model_at_end,
        metric_for_best_model: Some(metric),
        greater_is_better: t.greater_is_better,
        early_stopping_patience: t
            .early_stopping
            .enabled
            .then_some(t.early_stopping.patience as u32),
        early_stopping_threshold: t.early_stopping.threshold,
        seed: t.seed,
        data_seed: None,
        resume_from_checkpoint: match &t.resume_from_checkpoint {
            Resume::No => None,
            Resume::Latest => Some(ResumeFrom::Latest(true)),
            Resume::Path(p) => Some(ResumeFrom::Path(p.into())),
        },
        ..TrainingArgs::default()
    })
}

fn interval(s: Strategy) -> IntervalStrategy {
    match s {
        Strategy::No => IntervalStrategy::No,
        Strategy::Steps => IntervalStrategy::Steps,
        Strategy::Epoch => IntervalStrategy::Epoch,
    }
}

/// A constant schedule with warmup is its own kind in the trainer (HF's naming).
fn scheduler_kind(t: &TrainingConfig) -> SchedulerKind {
    match t.lr_scheduler.kind {
        SchedulerType::Constant if t.warmup_steps > 0 || t.warmup_ratio > 0.0 => {
            SchedulerKind::ConstantWithWarmup
        }
        SchedulerType::Constant => SchedulerKind::Constant,
        SchedulerType::Linear => SchedulerKind::Linear,
        SchedulerType::Cosine => SchedulerKind::Cosine,
        SchedulerType::Exponential => SchedulerKind::Exponential,
        SchedulerType::OneCycle => SchedulerKind::OneCycle,
    }
}

fn finetune_mode(mode: FinetuneMode) -> tsfm_models::FinetuneMode {
    match mode {
        FinetuneMode::Full => tsfm_models::FinetuneMode::Full,
        FinetuneMode::FrozenBackbone => tsfm_models::FinetuneMode::FrozenBackbone,
        FinetuneMode::HeadOnly => tsfm_models::FinetuneMode::HeadOnly,
        FinetuneMode::Lora => tsfm_models::FinetuneMode::Lora,
    }
}

/// How the model to train is loaded: with LoRA adapters (`training.lora`, seeded by
/// `training.seed`) when `finetune_mode` is `lora`. (TimesFM's forecast settings come from
/// `model.params` whoever loads the model: [`crate::model::load_model_with`].)
pub fn load_options(config: &Config) -> LoadOptions {
    let t = &config.training;
    let lora = (t.finetune_mode == FinetuneMode::Lora).then(|| LoraConfig {
        rank: t.lora.rank as usize,
        alpha: t.lora.alpha,
        dropout: t.lora.dropout,
        target_modules: match &t.lora.target_modules {
            LoraTargets::Names(names) if names.is_empty() => TargetModules::Default,
            LoraTargets::Names(names) => TargetModules::Names(names.clone()),
            LoraTargets::Pattern(p) => TargetModules::Pattern(p.clone()),
        },
        use_rslora: t.lora.use_rslora,
        seed: t.seed,
    });
    LoadOptions {
        lora,
        timesfm: None,
    }
}

fn loss_kind(t: &TrainingConfig) -> tsfm_models::LossKind {
    match t.loss {
        Loss::Mse => tsfm_models::LossKind::Mse,
        Loss::Mae => tsfm_models::LossKind::Mae,
        Loss::Huber => tsfm_models::LossKind::Huber {
            delta: t.huber_delta as f32,
        },
        Loss::Quantile => tsfm_models::LossKind::Quantile,
        Loss::Native => tsfm_models::LossKind::Native,
    }
}
