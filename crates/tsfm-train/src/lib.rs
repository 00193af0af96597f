//! tsfm-train: the generic [`Trainer`] for any [`tsfm_models::Forecaster`], with HuggingFace
//! `Trainer` semantics: PyTorch-exact optimizers, HF learning-rate schedules, global-norm
//! clipping, gradient accumulation, evaluation/saving/logging strategies, early stopping,
//! fine-tune modes, and checkpoints that resume bit for bit.
pub mod args;
pub mod callbacks;
pub mod checkpoint;
pub mod data;
pub mod error;
pub mod grads;
pub mod metrics;
pub mod optim;
pub mod schedule;
pub mod state;
pub mod trainer;

pub use args::{
    FinetuneSpec, IntervalStrategy, LossSpec, OptimizerKind, ResumeFrom, SaveStrategy,
    SchedulerKind, TrainingArgs,
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
