//! One error type for the experiment layer; [`ExperimentError::is_user_error`] tells the binary
//! whether the user can fix it (exit 2) or it is internal (exit 1).
use std::path::{Path, PathBuf};

/// Everything that can stop a train, evaluate or predict.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// A problem in the config, the data or the arguments, with what to do about it.
    #[error("{0}")]
    User(String),
    #[error(transparent)]
    Config(#[from] tsfm_config::ConfigErrors),
    #[error(transparent)]
    Data(#[from] tsfm_data::error::DataError),
    #[error(transparent)]
    Preprocess(#[from] tsfm_data::PreprocessError),
    #[error(transparent)]
    Model(#[from] tsfm_models::ModelError),
    #[error(transparent)]
    Train(#[from] tsfm_train::TrainError),
    #[error(transparent)]
    Runs(#[from] tsfm_runs::RunsError),
    #[error(transparent)]
    Report(#[from] tsfm_eval::ReportError),
    #[error(transparent)]
    Plot(#[from] tsfm_eval::plots::PlotError),
    #[error(transparent)]
    Calibration(#[from] tsfm_eval::CalibrationError),
    #[error(transparent)]
    EvaluatorOptions(#[from] tsfm_eval::OptionsError),
    #[error(transparent)]
    Track(#[from] tsfm_track::TrackError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = ExperimentError> = std::result::Result<T, E>;

/// A problem the user can fix.
pub fn user(message: impl Into<String>) -> ExperimentError {
    ExperimentError::User(message.into())
}

/// An I/O error on `path`.
pub fn io(path: &Path, source: std::io::Error) -> ExperimentError {
    ExperimentError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl ExperimentError {
    /// Whether the user can fix this (config, data, arguments, checkpoint), as opposed to an
    /// internal failure.
    pub fn is_user_error(&self) -> bool {
        use tsfm_models::ModelError;
        use tsfm_train::TrainError;
        match self {
            ExperimentError::User(_)
            | ExperimentError::Config(_)
            | ExperimentError::Preprocess(_)
            | ExperimentError::EvaluatorOptions(_) => true,
            ExperimentError::Calibration(_) => false,
            ExperimentError::Data(e) => e.is_user_error(),
            ExperimentError::Runs(e) => e.is_user_error(),
            ExperimentError::Model(e) => {
                matches!(e, ModelError::Checkpoint { .. } | ModelError::Invalid(_))
            }
            ExperimentError::Train(e) => matches!(
                e,
                TrainError::InvalidArgs { .. }
                    | TrainError::NoCheckpoint { .. }
                    | TrainError::Checkpoint { .. }
                    | TrainError::UnsupportedLoss { .. }
            ),
            ExperimentError::Report(_) | ExperimentError::Plot(_) | ExperimentError::Io { .. } => {
                false
            }
            // Local journal and event files; a server problem never becomes an error here.
            ExperimentError::Track(_) => false,
        }
    }
}
