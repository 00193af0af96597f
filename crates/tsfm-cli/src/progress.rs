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
    fn on_warning(&mut self, message: &str) {
        let prefix = if self.terminal { "\n" } else { "" };
        eprintln!("{prefix}warning: {message}");
    }

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

/// The status line of `tsfm data prepare|inspect`: drawn over one line on a terminal, silent
/// otherwise (logs and pipes get only the final table, and errors stay one line).
pub struct DataProgress {
    terminal: bool,
    drawn: std::cell::Cell<bool>,
}

impl DataProgress {
    pub fn new() -> Self {
        DataProgress {
            terminal: std::io::stderr().is_terminal(),
            drawn: std::cell::Cell::new(false),
        }
    }

    /// The line an event draws (also used off a terminal by tests).
    pub fn line(event: &tsfm_data::ProgressEvent) -> String {
        use tsfm_data::ProgressEvent as E;
        let name = |p: &std::path::Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string())
        };
        let bar = |done: usize, total: usize| {
            let width = 30usize;
            let filled = (done * width)
                .checked_div(total)
                .unwrap_or(width)
                .min(width);
            format!("[{}{}]", "#".repeat(filled), "-".repeat(width - filled))
        };
        match event {
            E::Hashing {
                index,
                total,
                path,
                bytes,
            } => format!(
                "{} checking raw file {}/{total}: {} ({:.1} MB), then parsing",
                bar(*index, *total),
                index + 1,
                name(path),
                *bytes as f64 / 1e6
            ),
            E::Parsed { path } => format!("parsed {}", name(path)),
            E::WaitingForLock { path } => format!(
                "waiting for another tsfm using this cache to finish (lock {})",
                path.display()
            ),
            E::Written { index, total, id } => format!(
                "{} writing series {}/{total} ({id})",
                bar(index + 1, *total),
                index + 1
            ),
            E::Read { index, total, id } => format!(
                "{} reading series {}/{total} ({id})",
                bar(index + 1, *total),
                index + 1
            ),
        }
    }

    pub fn event(&self, event: tsfm_data::ProgressEvent) {
        if !self.terminal {
            // A wait can be long: say why nothing happens, in logs too.
            if matches!(event, tsfm_data::ProgressEvent::WaitingForLock { .. }) {
                eprintln!("{}", Self::line(&event));
            }
            return;
        }
        let mut err = std::io::stderr();
        // \x1b[2K clears the previous, possibly longer, line.
        let _ = write!(err, "\r\x1b[2K{}", Self::line(&event));
        let _ = err.flush();
        self.drawn.set(true);
    }

    /// Clears the line so the summary (or an error) starts on a clean line.
    pub fn finish(&self) {
        if self.drawn.get() {
            let mut err = std::io::stderr();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.drawn.set(false);
        }
    }
}

impl Default for DataProgress {
    fn default() -> Self {
        Self::new()
    }
}

/// Print a library event for the user (stderr: stdout carries results).
pub fn print_event(event: tsfm_experiment::Event) {
    use tsfm_experiment::Event;
    match event {
        Event::Warning(m) => eprintln!("warning: {m}"),
        Event::Note(m) => eprintln!("note: {m}"),
        Event::Info(m) => eprintln!("{m}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsfm_data::ProgressEvent as E;

    #[test]
    fn data_progress_lines() {
        assert_eq!(
            DataProgress::line(&E::Written {
                index: 2,
                total: 6,
                id: "21".into()
            }),
            format!(
                "[{}{}] writing series 3/6 (21)",
                "#".repeat(15),
                "-".repeat(15)
            )
        );
        assert_eq!(
            DataProgress::line(&E::Hashing {
                index: 0,
                total: 2,
                path: "/x/train.csv".into(),
                bytes: 2_500_000
            }),
            format!(
                "[{}] checking raw file 1/2: train.csv (2.5 MB), then parsing",
                "-".repeat(30)
            )
        );
        assert_eq!(
            DataProgress::line(&E::Parsed {
                path: "/x/HDeviceCGM.txt".into()
            }),
            "parsed HDeviceCGM.txt"
        );
        assert_eq!(
            DataProgress::line(&E::Read {
                index: 5,
                total: 6,
                id: "88".into()
            }),
            format!("[{}] reading series 6/6 (88)", "#".repeat(30))
        );
    }
}
