//! Experiment tracking for a run, with no knowledge of configs or models: the caller says what
//! to record (params, metrics at steps, tags, artifact files, the end), this crate keeps it.
//!
//! - [`journal`]: every event is first appended to the run's `logs/tracking.jsonl`, so nothing
//!   is lost when a tracking server is down.
//! - [`mlflow`]: the journal replayed to an MLflow server through its REST API, in the
//!   background during training ([`mlflow::Sender`]) or later (`tsfm runs sync`), never twice:
//!   what was sent is recorded beside the journal.
//! - [`tensorboard`]: TensorBoard event files (scalars, images) under the run's `logs/`.
pub mod error;
pub mod flatten;
pub mod journal;
pub mod mlflow;
pub mod tensorboard;

pub use error::{Result, TrackError};
pub use journal::{Journal, Record};
