//! The training progress line: steps, loss, lr, samples/s and ETA.
use std::io::{IsTerminal, Write};

use tsfm_train::state::LogEntry;
use tsfm_train::{Control, StepProgress, TrainerCallback};

/// Redraws one line on a terminal; prints a line per logging step otherwise (CI logs).
pub struct ProgressLine {
    terminal: bool,
    logging_steps: u64,
}

impl ProgressLine {
    pub fn new(logging_steps: u64) -> Self {
        ProgressLine {
            terminal: std::io::stderr().is_terminal(),
            logging_steps: logging_steps.max(1),
        }
    }
}

fn eta(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

impl TrainerCallback for ProgressLine {
    fn on_step_end(&mut self, p: &StepProgress) -> Control {
        let width = 30usize;
        let done = if p.max_steps == 0 {
            0
        } else {
            (p.global_step as usize * width / p.max_steps as usize).min(width)
        };
        let line = format!(
            "[{}{}] step {}/{}  loss {:.4}  lr {:.2e}  {:.0} samples/s  ETA {}",
            "#".repeat(done),
            "-".repeat(width - done),
            p.global_step,
            p.max_steps,
            p.loss,
            p.learning_rate,
            p.samples_per_second,
            eta(p.eta_seconds)
        );
        let mut err = std::io::stderr();
        if self.terminal {
            let _ = write!(err, "\r{line}");
            let _ = err.flush();
        } else if p.global_step.is_multiple_of(self.logging_steps) || p.global_step == p.max_steps {
            let _ = writeln!(err, "{line}");
        }
        Control::Continue
    }

    fn on_log(&mut self, entry: &LogEntry) {
        if let Some(eval_loss) = entry.get("eval_loss") {
            let prefix = if self.terminal { "\n" } else { "" };
            eprintln!(
                "{prefix}eval at step {}: eval_loss {eval_loss:.5}",
                entry.step
            );
        }
    }

    fn on_train_end(&mut self) {
        if self.terminal {
            eprintln!();
        }
    }
}
