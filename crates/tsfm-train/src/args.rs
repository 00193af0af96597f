//! `TrainingArgs`: every knob of a run, named and defaulted like HuggingFace's
//! `TrainingArguments` so a config reads the same on both sides.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tsfm_models::{FinetuneMode, LossKind};

use crate::error::TrainError;

/// When to log, evaluate or save (HF `IntervalStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum IntervalStrategy {
    No,
    #[default]
    Steps,
    Epoch,
}

/// When to save a checkpoint (HF `SaveStrategy`: `best` saves only on a new best metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SaveStrategy {
    No,
    #[default]
    Steps,
    Epoch,
    Best,
}

/// Learning-rate schedule (HF `lr_scheduler_type` plus `exponential` and `one_cycle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SchedulerKind {
    /// The base rate throughout; warm-up is ignored, as in HF `constant`.
    Constant,
    ConstantWithWarmup,
    #[default]
    Linear,
    Cosine,
    /// Warm-up, then `lr * gamma^(step - warmup)`.
    Exponential,
    /// PyTorch `OneCycleLR` (cosine annealing, two phases); `learning_rate` is `max_lr`. The
    /// learning rate only: as `OneCycleLR(..., cycle_momentum=False)` (PyTorch's default would
    /// also cycle Adam's beta1 between 0.85 and 0.95; the optimizer keeps `betas` fixed).
    OneCycle,
}

/// Optimizer (PyTorch semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    #[default]
    Adamw,
    Adam,
    Sgd,
}

/// Finite and above zero (false for NaN).
fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// Finite and at least zero (false for NaN).
fn non_negative(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}

/// `resume_from_checkpoint`: `true` (the latest complete checkpoint of the run) or a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResumeFrom {
    Latest(bool),
    Path(PathBuf),
}

/// Everything a run needs besides the model and the data. Defaults are HF's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingArgs {
    pub num_train_epochs: f64,
    /// `> 0` overrides `num_train_epochs`, as in HF.
    pub max_steps: i64,
    pub per_device_train_batch_size: usize,
    pub per_device_eval_batch_size: usize,
    pub gradient_accumulation_steps: usize,
    /// Shards each micro-batch is split into, their passes run in parallel
    /// ([`crate::shards`]); 1 = one pass per micro-batch.
    pub batch_shards: usize,
    pub dataloader_drop_last: bool,

    pub optimizer: OptimizerKind,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub adam_beta1: f64,
    pub adam_beta2: f64,
    pub adam_epsilon: f64,
    pub sgd_momentum: f64,
    pub sgd_dampening: f64,
    pub sgd_nesterov: bool,
    /// Global L2 norm to clip gradients to; `0` disables clipping (the norm is still logged).
    pub max_grad_norm: f64,

    pub lr_scheduler_type: SchedulerKind,
    pub warmup_steps: u64,
    /// Used when `warmup_steps` is 0: `ceil(warmup_ratio * total_steps)`.
    pub warmup_ratio: f64,
    /// Decay per step of the `exponential` schedule.
    pub lr_gamma: f64,
    /// Share of the run spent increasing the rate in `one_cycle`.
    pub one_cycle_pct_start: f64,
    pub one_cycle_div_factor: f64,
    pub one_cycle_final_div_factor: f64,
    /// Cosine waves of the `cosine` schedule (HF `num_cycles`, default 0.5).
    pub cosine_num_cycles: f64,
    /// Floor of `linear`/`cosine` as a fraction of `learning_rate` (0: decay to zero, as HF).
    pub min_lr_ratio: f64,

    pub loss: LossKind,
    pub finetune_mode: FinetuneMode,

    pub logging_strategy: IntervalStrategy,
    pub logging_steps: u64,
    pub logging_first_step: bool,
    pub eval_strategy: IntervalStrategy,
    /// Defaults to `logging_steps` when unset, as in HF.
    pub eval_steps: Option<u64>,
    pub save_strategy: SaveStrategy,
    pub save_steps: u64,
    pub save_total_limit: Option<usize>,
    pub load_best_model_at_end: bool,
    pub metric_for_best_model: Option<String>,
    pub greater_is_better: Option<bool>,

    /// Evaluations without improvement before stopping; `None` disables early stopping.
    pub early_stopping_patience: Option<u32>,
    pub early_stopping_threshold: f64,

    /// Seed for dropout (and, through [`crate::set_seed`], model initialisation).
    pub seed: u64,
    /// Seed for the shuffled order of training windows; `seed` when unset.
    pub data_seed: Option<u64>,

    pub resume_from_checkpoint: Option<ResumeFrom>,
}

impl Default for TrainingArgs {
    fn default() -> Self {
        Self {
            num_train_epochs: 3.0,
            max_steps: -1,
            per_device_train_batch_size: 8,
            per_device_eval_batch_size: 8,
            gradient_accumulation_steps: 1,
            batch_shards: 1,
            dataloader_drop_last: false,
            optimizer: OptimizerKind::Adamw,
            learning_rate: 5e-5,
            weight_decay: 0.0,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_epsilon: 1e-8,
            sgd_momentum: 0.0,
            sgd_dampening: 0.0,
            sgd_nesterov: false,
            max_grad_norm: 1.0,
            lr_scheduler_type: SchedulerKind::Linear,
            warmup_steps: 0,
            warmup_ratio: 0.0,
            lr_gamma: 0.999,
            one_cycle_pct_start: 0.3,
            one_cycle_div_factor: 25.0,
            one_cycle_final_div_factor: 1e4,
            cosine_num_cycles: 0.5,
            min_lr_ratio: 0.0,
            loss: LossKind::Mse,
            finetune_mode: FinetuneMode::Full,
            logging_strategy: IntervalStrategy::Steps,
            logging_steps: 500,
            logging_first_step: false,
            eval_strategy: IntervalStrategy::No,
            eval_steps: None,
            save_strategy: SaveStrategy::Steps,
            save_steps: 500,
            save_total_limit: None,
            load_best_model_at_end: false,
            metric_for_best_model: None,
            greater_is_better: None,
            early_stopping_patience: None,
            early_stopping_threshold: 0.0,
            seed: 42,
            data_seed: None,
            resume_from_checkpoint: None,
        }
    }
}

impl TrainingArgs {
    /// The metric that ranks checkpoints, with HF's `eval_` prefix added when missing.
    pub fn best_metric_name(&self) -> String {
        let name = self.metric_for_best_model.as_deref().unwrap_or("eval_loss");
        if name.starts_with("eval_") {
            name.to_string()
        } else {
            format!("eval_{name}")
        }
    }

    /// HF: `greater_is_better` defaults to false for a loss and true for any other metric.
    pub fn greater_is_better(&self) -> bool {
        self.greater_is_better
            .unwrap_or_else(|| !self.best_metric_name().ends_with("loss"))
    }

    pub fn eval_steps(&self) -> u64 {
        self.eval_steps.unwrap_or(self.logging_steps)
    }

    pub fn data_seed(&self) -> u64 {
        self.data_seed.unwrap_or(self.seed)
    }

    /// Check the arguments; the first problem found is returned with its key.
    pub fn validate(&self) -> Result<(), TrainError> {
        self.validate_batches()?;
        self.validate_optimizer()?;
        self.validate_schedule_and_loss()?;
        self.validate_intervals()?;
        self.validate_best_model()
    }

    /// Batch sizes, accumulation and run length.
    fn validate_batches(&self) -> Result<(), TrainError> {
        let bad =
            |key: &'static str, message: String| Err(TrainError::InvalidArgs { key, message });
        if self.per_device_train_batch_size == 0 {
            return bad("per_device_train_batch_size", "must be at least 1".into());
        }
        if self.per_device_eval_batch_size == 0 {
            return bad("per_device_eval_batch_size", "must be at least 1".into());
        }
        if self.gradient_accumulation_steps == 0 {
            return bad("gradient_accumulation_steps", "must be at least 1".into());
        }
        if self.batch_shards == 0 {
            return bad("batch_shards", "must be at least 1".into());
        }
        if self.max_steps <= 0
            && !(self.num_train_epochs > 0.0 && self.num_train_epochs.is_finite())
        {
            return bad(
                "num_train_epochs",
                format!(
                    "{} is not a positive number; set it or max_steps",
                    self.num_train_epochs
                ),
            );
        }
        Ok(())
    }

    /// Optimizer hyper-parameters and gradient clipping.
    fn validate_optimizer(&self) -> Result<(), TrainError> {
        let bad =
            |key: &'static str, message: String| Err(TrainError::InvalidArgs { key, message });
        if !(self.learning_rate >= 0.0 && self.learning_rate.is_finite()) {
            return bad(
                "learning_rate",
                format!("{} is not a finite rate >= 0", self.learning_rate),
            );
        }
        if !non_negative(self.weight_decay) {
            return bad("weight_decay", format!("{} is negative", self.weight_decay));
        }
        for (key, v) in [
            ("adam_beta1", self.adam_beta1),
            ("adam_beta2", self.adam_beta2),
        ] {
            if !(0.0..1.0).contains(&v) {
                return bad(key, format!("{v} is outside [0, 1)"));
            }
        }
        if !positive(self.adam_epsilon) {
            return bad(
                "adam_epsilon",
                format!("{} must be positive", self.adam_epsilon),
            );
        }
        if self.sgd_nesterov && (self.sgd_momentum <= 0.0 || self.sgd_dampening != 0.0) {
            return bad(
                "sgd_nesterov",
                "Nesterov momentum needs sgd_momentum > 0 and sgd_dampening = 0".into(),
            );
        }
        if !non_negative(self.max_grad_norm) {
            return bad(
                "max_grad_norm",
                format!("{} is negative", self.max_grad_norm),
            );
        }
        Ok(())
    }

    /// Learning-rate schedule and loss parameters.
    fn validate_schedule_and_loss(&self) -> Result<(), TrainError> {
        let bad =
            |key: &'static str, message: String| Err(TrainError::InvalidArgs { key, message });
        if !(0.0..=1.0).contains(&self.warmup_ratio) {
            return bad(
                "warmup_ratio",
                format!("{} is outside [0, 1]", self.warmup_ratio),
            );
        }
        if !(self.lr_gamma > 0.0 && self.lr_gamma <= 1.0) {
            return bad("lr_gamma", format!("{} is outside (0, 1]", self.lr_gamma));
        }
        if !(self.one_cycle_pct_start > 0.0 && self.one_cycle_pct_start < 1.0) {
            return bad(
                "one_cycle_pct_start",
                format!("{} is outside (0, 1)", self.one_cycle_pct_start),
            );
        }
        if !positive(self.one_cycle_div_factor) || !positive(self.one_cycle_final_div_factor) {
            return bad(
                "one_cycle_div_factor",
                "div factors must be positive".into(),
            );
        }
        if let LossKind::Huber { delta } = self.loss
            && !positive(delta as f64)
        {
            return bad("loss", format!("huber delta {delta} must be positive"));
        }
        Ok(())
    }

    /// Logging, evaluation and save intervals.
    fn validate_intervals(&self) -> Result<(), TrainError> {
        let bad =
            |key: &'static str, message: String| Err(TrainError::InvalidArgs { key, message });
        if self.logging_strategy == IntervalStrategy::Steps && self.logging_steps == 0 {
            return bad(
                "logging_steps",
                "must be at least 1 with logging_strategy: steps".into(),
            );
        }
        if self.eval_strategy == IntervalStrategy::Steps && self.eval_steps() == 0 {
            return bad(
                "eval_steps",
                "must be at least 1 with eval_strategy: steps".into(),
            );
        }
        if self.save_strategy == SaveStrategy::Steps && self.save_steps == 0 {
            return bad(
                "save_steps",
                "must be at least 1 with save_strategy: steps".into(),
            );
        }
        if self.save_total_limit == Some(0) {
            return bad(
                "save_total_limit",
                "0 would delete every checkpoint; use save_strategy: no".into(),
            );
        }
        Ok(())
    }

    /// Best-model tracking, early stopping and resuming.
    fn validate_best_model(&self) -> Result<(), TrainError> {
        let bad =
            |key: &'static str, message: String| Err(TrainError::InvalidArgs { key, message });
        let name = self.best_metric_name();
        if name != "eval_loss" {
            return bad(
                "metric_for_best_model",
                format!("`{name}` is not computed by the trainer; use eval_loss"),
            );
        }
        let needs_eval = self.load_best_model_at_end
            || self.early_stopping_patience.is_some()
            || self.save_strategy == SaveStrategy::Best;
        if needs_eval && self.eval_strategy == IntervalStrategy::No {
            return bad(
                "eval_strategy",
                "load_best_model_at_end, early stopping and save_strategy: best need an eval_strategy".into(),
            );
        }
        if self.early_stopping_patience == Some(0) {
            return bad("early_stopping_patience", "must be at least 1".into());
        }
        // HF: the best model can only be reloaded if a checkpoint exists at every evaluation.
        if self.load_best_model_at_end && self.save_strategy != SaveStrategy::Best {
            let same = matches!(
                (self.eval_strategy, self.save_strategy),
                (IntervalStrategy::Steps, SaveStrategy::Steps)
                    | (IntervalStrategy::Epoch, SaveStrategy::Epoch)
            );
            if !same {
                return bad(
                    "save_strategy",
                    "load_best_model_at_end needs save_strategy equal to eval_strategy (or best)"
                        .into(),
                );
            }
            if self.save_strategy == SaveStrategy::Steps
                && !self.save_steps.is_multiple_of(self.eval_steps())
            {
                return bad(
                    "save_steps",
                    format!(
                        "load_best_model_at_end needs save_steps ({}) to be a multiple of eval_steps ({})",
                        self.save_steps,
                        self.eval_steps()
                    ),
                );
            }
        }
        if let Some(ResumeFrom::Path(p)) = &self.resume_from_checkpoint
            && p.as_os_str().is_empty()
        {
            return bad("resume_from_checkpoint", "empty path".into());
        }
        Ok(())
    }
}
