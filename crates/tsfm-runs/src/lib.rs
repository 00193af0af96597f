//! The `tsfm_results/` layout: run directories, the run manifest, the `best_model` link,
//! the run history and the run registry behind `tsfm runs list|show`.
//!
//! ```text
//! {save_dir}/models/{model}/{experiment}/{YYYY-MM-DD_HH-MM-SS}/   one training run
//! {save_dir}/models/{model}/{experiment}/best_model -> {timestamp}  relative symlink
//! {save_dir}/results/{model}/{experiment}/run_history.csv          one row per run
//! {save_dir}/models/{model}/production_vN/                        a promoted, frozen run
//! ```
pub mod atomic;
pub mod checksums;
pub mod error;
pub mod history;
pub mod layout;
pub mod manifest;
pub mod production;
pub mod registry;

pub use atomic::{write_atomic, write_json_atomic};
pub use error::RunsError;
pub use history::{append_run_history, read_run_history};
pub use layout::{RunDir, RunLayout, refuse_link, sanitize_name};
pub use manifest::{RunManifest, RunStatus};
pub use production::{
    ProductionSummary, Promotion, is_production, list_productions, open_production, promote,
    resolve_production,
};
pub use registry::{RunSummary, find_run, list_runs};
