//! MLflow over its REST API: a small client, the replay of a run's journal to a server
//! (`sync`, idempotent), and a background sender that replays while a run trains.
mod client;
mod sender;
mod sync;

pub use client::{Client, Limits, RunInfo};
pub use sender::Sender;
pub use sync::{STATE_FILE, SyncOptions, SyncReport, SyncState, sync};
