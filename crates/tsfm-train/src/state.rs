//! `trainer_state.json`: HF's `TrainerState` fields plus what an exact resume needs.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// One line of the log history (and of `logs/train.jsonl`): HF's flat dictionaries, e.g.
/// `{"step": 10, "epoch": 0.5, "loss": 0.31, "learning_rate": 4e-5, "grad_norm": 1.2}` or
/// `{"step": 10, "epoch": 0.5, "eval_loss": 0.29, "eval_runtime": 0.1, ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub step: u64,
    pub epoch: f64,
    #[serde(flatten)]
    pub values: BTreeMap<String, f64>,
}

impl LogEntry {
    pub fn get(&self, key: &str) -> Option<f64> {
        self.values.get(key).copied()
    }
}

/// Where the data loader and the loss accumulators stood when the checkpoint was taken.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResumeState {
    /// Epoch being run (0-based).
    pub epoch_index: u64,
    /// Optimizer updates already done in that epoch.
    pub update_in_epoch: u64,
    /// Sum of the per-step losses since the last training log.
    pub loss_since_log: f64,
    pub steps_since_log: u64,
    /// Sum of all per-step losses (HF's final `train_loss` is its mean).
    pub total_loss: f64,
    pub samples_seen: u64,
    pub early_stopping_counter: u32,
    pub seed: u64,
    pub data_seed: u64,
    pub train_windows: usize,
    pub batch_size: usize,
    pub gradient_accumulation_steps: usize,
    /// Absent in checkpoints written before sharding existed: those ran one pass per batch.
    #[serde(default = "one")]
    pub batch_shards: usize,
}

fn one() -> usize {
    1
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    pub best_metric: Option<f64>,
    pub best_global_step: Option<u64>,
    /// Relative to the run directory, e.g. `checkpoints/checkpoint-40`.
    pub best_model_checkpoint: Option<String>,
    pub epoch: f64,
    pub global_step: u64,
    pub max_steps: u64,
    pub num_train_epochs: u64,
    pub logging_steps: u64,
    pub eval_steps: u64,
    pub save_steps: u64,
    pub train_batch_size: usize,
    pub should_training_stop: bool,
    pub log_history: Vec<LogEntry>,
    pub resume: ResumeState,
}

impl TrainerState {
    pub fn read(path: &Path) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| {
            TrainError::checkpoint(
                path,
                format!("line {} column {}: {e}", e.line(), e.column()),
            )
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plain data serialises")
    }
}
