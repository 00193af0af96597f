//! tsfm-train: the generic [`Trainer`] for any [`tsfm_models::Forecaster`], with HuggingFace
//! `Trainer` semantics: PyTorch-exact optimizers, HF learning-rate schedules, global-norm
//! clipping, gradient accumulation, evaluation/saving/logging strategies, early stopping,
//! fine-tune modes, and checkpoints that resume bit for bit.
//!
//! ```text
//! let mut trainer = Trainer::new(args, run_dir, Device::flex())?;
//! trainer.add_callback(Box::new(progress_bar));
//! let out = trainer.train(model, &train_windows, Some(&val_windows))?;
//! out.metrics.write_json(&run_dir.join("metrics.json"))?;
//! out.model.save_pretrained(&run_dir.join("model"))?;
//! ```
//!
//! Semantics, and where they differ from HF on purpose:
//! - An epoch has `ceil(batches / gradient_accumulation_steps)` optimizer steps; the last one
//!   takes the micro-batches left over, each loss still divided by the accumulation steps (as
//!   HF's non-`num_items_in_batch` path). `max_steps > 0` overrides `num_train_epochs`.
//! - The logged `learning_rate` is the rate of the next step (HF logs after the scheduler
//!   step); [`StepProgress::learning_rate`] is the rate the step used. Losses are not rounded.
//! - `exponential` is `lr * gamma^(step - warmup)` after a linear warm-up.
//! - Weight decay skips biases and layer-norm weights, as HF's `get_decay_parameter_names`.
//! - `batch_shards` splits every micro-batch into shards whose forward and backward passes run
//!   in parallel ([`shards`]), weighted by their share of the series as in PyTorch's DDP; the
//!   result depends on the shard count, never on the thread count.
//! - Dropout masks come from a per-thread stream seeded for every shard from `(seed, step,
//!   micro-batch, shard)`, so there is no generator state to checkpoint and concurrent
//!   trainings in one process do not disturb each other.
//! - A checkpoint holds `model.bpk` (Burn record, exact), the model's own `save_pretrained`
//!   files, `optimizer.safetensors` (moments by module path), `scheduler.json`,
//!   `rng_state.json` and `trainer_state.json` (HF fields plus the data-loader position).
pub mod args;
pub mod callbacks;
pub mod checkpoint;
pub mod data;
pub mod error;
pub mod grads;
pub mod metrics;
pub mod optim;
pub mod schedule;
pub mod shards;
pub mod state;
pub mod trainer;

pub use args::{
    IntervalStrategy, OptimizerKind, ResumeFrom, SaveStrategy, SchedulerKind, TrainingArgs,
};
pub use callbacks::{Control, EarlyStopping, StepProgress, TrainerCallback};
pub use data::{WindowSource, epoch_order};
pub use error::TrainError;
pub use grads::GradStore;
pub use metrics::TrainMetrics;
pub use optim::{Optimizer, OptimizerConfig};
pub use schedule::LrSchedule;
pub use state::{LogEntry, TrainerState};
pub use trainer::{RunLength, TRAIN_LOG, TrainOutput, Trainer, set_seed};
