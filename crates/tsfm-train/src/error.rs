//! Errors a training run can end with.

use std::path::PathBuf;

use tsfm_models::ModelError;

/// Why a run stopped without finishing.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A `TrainingArgs` field holds a value the trainer cannot use.
    #[error("training argument `{key}`: {message}")]
    InvalidArgs { key: &'static str, message: String },
    /// The training loss became NaN or infinite; earlier checkpoints are left as they were.
    #[error(
        "the training loss is not finite at step {step}; the last good checkpoint is kept. \
         Lower the learning rate, enable gradient clipping (max_grad_norm) or check the data for NaN"
    )]
    NonFiniteLoss { step: u64 },
    /// The gradient norm became NaN or infinite before the optimizer step.
    #[error(
        "the gradient norm is not finite at step {step}; the last good checkpoint is kept. \
         Lower the learning rate or check the data for extreme values"
    )]
    NonFiniteGradNorm { step: u64 },
    /// The model cannot compute the configured loss.
    #[error("the {model} model does not support the `{loss}` loss; choose another `loss`")]
    UnsupportedLoss { model: &'static str, loss: String },
    /// The training data gives no batch.
    #[error(
        "the training data is empty or smaller than one batch ({windows} windows, batch size {batch_size})"
    )]
    EmptyData { windows: usize, batch_size: usize },
    /// A checkpoint could not be read or does not match the run.
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    /// `resume_from_checkpoint: true` found nothing to resume from.
    #[error("no complete checkpoint under {dir}; start without `resume_from_checkpoint`")]
    NoCheckpoint { dir: PathBuf },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl TrainError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn checkpoint(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        TrainError::Checkpoint {
            path: path.into(),
            message: message.into(),
        }
    }
}
