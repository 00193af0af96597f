//! The summary of a run (`metrics.json`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::checkpoint::write_file_atomically;
use crate::error::TrainError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainMetrics {
    /// Mean loss over all optimizer steps of the run (HF `train_loss`).
    pub train_loss: f64,
    /// Last logged training loss and the lowest one.
    pub final_train_loss: Option<f64>,
    pub best_train_loss: Option<f64>,
    pub final_eval_loss: Option<f64>,
    pub best_eval_loss: Option<f64>,
    pub metric_for_best_model: String,
    pub best_metric: Option<f64>,
    pub best_global_step: Option<u64>,
    /// Relative to the run directory.
    pub best_model_checkpoint: Option<String>,
    pub train_runtime_seconds: f64,
    pub train_samples_per_second: f64,
    pub train_steps_per_second: f64,
    pub total_params: usize,
    pub trainable_params: usize,
    pub global_step: u64,
    pub max_steps: u64,
    pub epoch: f64,
    pub stopped_early: bool,
    /// Step the run resumed from, if it did.
    pub resumed_from_step: Option<u64>,
}

impl TrainMetrics {
    /// Write `metrics.json` (pretty JSON, atomically).
    pub fn write_json(&self, path: &Path) -> Result<(), TrainError> {
        let text = serde_json::to_string_pretty(self).expect("plain data serialises");
        write_file_atomically(path, text.as_bytes())
    }
}
