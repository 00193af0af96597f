//! Progress reporting and early stopping.

use serde::{Deserialize, Serialize};

use crate::state::LogEntry;

/// What a progress display needs after each optimizer step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepProgress {
    pub global_step: u64,
    pub max_steps: u64,
    /// Fractional epoch, as HF logs it.
    pub epoch: f64,
    /// Loss of this step (mean over its micro-batches).
    pub loss: f64,
    /// Learning rate this step used.
    pub learning_rate: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    pub samples_per_second: f64,
    /// Estimated seconds left at the current speed.
    pub eta_seconds: f64,
}

/// Whether training continues after a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// Stop after this step, as HF `control.should_training_stop` (a checkpoint due at this
    /// step is still written).
    Stop,
}

/// Hooks the CLI (progress bar) or tests attach to a run. Every method has a no-op default.
pub trait TrainerCallback {
    fn on_train_begin(&mut self, max_steps: u64, num_epochs: u64) {
        let _ = (max_steps, num_epochs);
    }
    fn on_step_end(&mut self, progress: &StepProgress) -> Control {
        let _ = progress;
        Control::Continue
    }
    /// A training or evaluation log line (the same entry that goes to `train.jsonl`).
    fn on_log(&mut self, entry: &LogEntry) {
        let _ = entry;
    }
    fn on_save(&mut self, step: u64, dir: &std::path::Path) {
        let _ = (step, dir);
    }
    /// Something the user should know that does not stop the run (e.g. a damaged checkpoint
    /// skipped when resuming).
    fn on_warning(&mut self, message: &str) {
        let _ = message;
    }
    fn on_train_end(&mut self) {}
}

/// HF `EarlyStoppingCallback`: counts evaluations that do not improve on the best metric by
/// more than `threshold`; at `patience` such evaluations in a row the run stops.
#[derive(Debug, Clone, PartialEq)]
pub struct EarlyStopping {
    pub patience: u32,
    pub threshold: f64,
    pub greater_is_better: bool,
    pub counter: u32,
}

impl EarlyStopping {
    pub fn new(patience: u32, threshold: f64, greater_is_better: bool) -> Self {
        Self {
            patience,
            threshold,
            greater_is_better,
            counter: 0,
        }
    }

    /// Feed the metric of an evaluation and the best metric before it; returns whether to stop.
    pub fn check(&mut self, metric: f64, best_before: Option<f64>) -> bool {
        let improved = match best_before {
            None => true,
            Some(best) => {
                let better = if self.greater_is_better {
                    metric > best
                } else {
                    metric < best
                };
                better && (metric - best).abs() > self.threshold
            }
        };
        if improved {
            self.counter = 0;
        } else {
            self.counter += 1;
        }
        self.counter >= self.patience
    }
}
