//! The summary of a run (`metrics.json`).

use serde::{Deserialize, Serialize};

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
