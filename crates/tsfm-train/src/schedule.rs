//! Learning-rate schedules, step for step the formulas of HF `get_scheduler`
//! (`transformers/optimization.py`) and PyTorch `OneCycleLR`.
//!
//! `lr(step)` is the rate the optimizer uses for update number `step + 1`, i.e. PyTorch's
//! `scheduler.get_last_lr()` after `step` calls to `scheduler.step()`.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use crate::args::{SchedulerKind, TrainingArgs};

/// A schedule fixed for the whole run; it has no state besides the step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    pub kind: SchedulerKind,
    pub base_lr: f64,
    pub warmup_steps: u64,
    pub total_steps: u64,
    pub gamma: f64,
    pub pct_start: f64,
    pub div_factor: f64,
    pub final_div_factor: f64,
    /// `cosine`: cosine waves over the decay (HF default 0.5: from 1 down to 0 once).
    #[serde(default = "half")]
    pub num_cycles: f64,
    /// `linear`/`cosine`: the floor as a fraction of the base rate (HF `cosine_with_min_lr`).
    #[serde(default)]
    pub min_lr_ratio: f64,
}

fn half() -> f64 {
    0.5
}

/// HF `get_warmup_steps`: explicit steps win, else `ceil(ratio * total)`.
pub fn warmup_steps(warmup_steps: u64, warmup_ratio: f64, total_steps: u64) -> u64 {
    if warmup_steps > 0 {
        warmup_steps
    } else {
        (warmup_ratio * total_steps as f64).ceil() as u64
    }
}

impl LrSchedule {
    pub fn from_args(args: &TrainingArgs, total_steps: u64) -> Self {
        Self {
            kind: args.lr_scheduler_type,
            base_lr: args.learning_rate,
            warmup_steps: warmup_steps(args.warmup_steps, args.warmup_ratio, total_steps),
            total_steps,
            gamma: args.lr_gamma,
            pct_start: args.one_cycle_pct_start,
            div_factor: args.one_cycle_div_factor,
            final_div_factor: args.one_cycle_final_div_factor,
            num_cycles: args.cosine_num_cycles,
            min_lr_ratio: args.min_lr_ratio,
        }
    }

    /// Learning rate after `step` scheduler steps.
    pub fn lr(&self, step: u64) -> f64 {
        match self.kind {
            SchedulerKind::OneCycle => self.one_cycle(step),
            _ => self.base_lr * self.lambda(step),
        }
    }

    /// The multiplier of `LambdaLR` for the warm-up based schedules.
    fn lambda(&self, step: u64) -> f64 {
        let s = step as f64;
        let w = self.warmup_steps as f64;
        let warm = |s: f64| s / w.max(1.0);
        match self.kind {
            SchedulerKind::Constant => 1.0,
            SchedulerKind::ConstantWithWarmup => {
                if step < self.warmup_steps {
                    warm(s)
                } else {
                    1.0
                }
            }
            SchedulerKind::Linear => {
                if step < self.warmup_steps {
                    warm(s)
                } else {
                    let t = self.total_steps as f64;
                    let decay = ((t - s) / (t - w).max(1.0)).max(0.0);
                    self.min_lr_ratio + (1.0 - self.min_lr_ratio) * decay
                }
            }
            SchedulerKind::Cosine => {
                if step < self.warmup_steps {
                    warm(s)
                } else {
                    let t = self.total_steps as f64;
                    let progress = (s - w) / (t - w).max(1.0);
                    // num_cycles = 0.5: one half cosine from 1 down to 0.
                    let decay =
                        (0.5 * (1.0 + (PI * self.num_cycles * 2.0 * progress).cos())).max(0.0);
                    self.min_lr_ratio + (1.0 - self.min_lr_ratio) * decay
                }
            }
            SchedulerKind::Exponential => {
                if step < self.warmup_steps {
                    warm(s)
                } else {
                    self.gamma.powf(s - w)
                }
            }
            SchedulerKind::OneCycle => unreachable!("one-cycle has no LambdaLR form"),
        }
    }

    /// PyTorch `OneCycleLR` with `anneal_strategy="cos"`, `three_phase=False`.
    fn one_cycle(&self, step: u64) -> f64 {
        let max_lr = self.base_lr;
        let initial = max_lr / self.div_factor;
        let min_lr = initial / self.final_div_factor;
        let total = self.total_steps as f64;
        let phases = [
            (self.pct_start * total - 1.0, initial, max_lr),
            (total - 1.0, max_lr, min_lr),
        ];
        let s = step as f64;
        let mut start = 0.0;
        for (i, &(end, from, to)) in phases.iter().enumerate() {
            if s <= end || i == phases.len() - 1 {
                let pct = (s - start) / (end - start);
                return to + (from - to) / 2.0 * ((PI * pct).cos() + 1.0);
            }
            start = end;
        }
        unreachable!("the last phase always matches")
    }
}
