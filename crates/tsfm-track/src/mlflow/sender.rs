//! Sends a run's journal to MLflow from a background thread while the run trains. The
//! training thread only appends to the journal and nudges; it never waits on the network.
//! After a failure the sender rests for a while (a server that is down is not asked again at
//! every logged step); what it could not send stays in the journal for `tsfm runs sync`.
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::sync::{SyncOptions, sync};

enum Message {
    Nudge,
    Finish,
}

pub struct Sender {
    tx: mpsc::Sender<Message>,
    done: Receiver<Option<String>>,
    thread: Option<JoinHandle<()>>,
}

impl Sender {
    /// Starts the thread for the run at `run_dir`; after a failure it waits `retry_after`
    /// before trying again.
    pub fn start(run_dir: PathBuf, options: SyncOptions, retry_after: Duration) -> Sender {
        let (tx, rx) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("tsfm-mlflow".into())
            .spawn(move || {
                let outcome = run(&run_dir, &options, retry_after, rx);
                let _ = done_tx.send(outcome);
            })
            .expect("the OS starts a thread");
        Sender {
            tx,
            done,
            thread: Some(thread),
        }
    }

    /// New records are in the journal.
    pub fn nudge(&self) {
        let _ = self.tx.send(Message::Nudge);
    }

    /// One last send (skipped when the server failed within `retry_after`), waiting at most
    /// `wait`. Returns why something is left unsent, or `None` when the server has everything.
    pub fn finish(mut self, wait: Duration) -> Option<String> {
        let _ = self.tx.send(Message::Finish);
        match self.done.recv_timeout(wait) {
            Ok(outcome) => {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
                outcome
            }
            // The thread keeps going until the process ends; the state file records how far
            // it got.
            Err(_) => Some(format!("still sending after {} s", wait.as_secs())),
        }
    }
}

/// The thread: a sync per batch of nudges; returns the last failure, if the last attempt failed.
fn run(
    run_dir: &std::path::Path,
    options: &SyncOptions,
    retry_after: Duration,
    rx: Receiver<Message>,
) -> Option<String> {
    let mut failed_at: Option<Instant> = None;
    let mut last_error: Option<String> = None;
    let attempt = |failed_at: &mut Option<Instant>, last_error: &mut Option<String>| match sync(
        run_dir, options,
    ) {
        Ok(report) => {
            *failed_at = None;
            *last_error = (!report.refused.is_empty()).then(|| {
                format!(
                    "the server refused {} record(s): {}",
                    report.refused.len(),
                    report.refused[0].message
                )
            });
        }
        Err(e) => {
            *failed_at = Some(Instant::now());
            *last_error = Some(e.to_string());
        }
    };
    loop {
        let message = match failed_at {
            // Resting: wake up when the rest is over, or earlier for Finish.
            Some(t) => match rx.recv_timeout(retry_after.saturating_sub(t.elapsed())) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => Message::Nudge,
                Err(RecvTimeoutError::Disconnected) => Message::Finish,
            },
            None => rx.recv().unwrap_or(Message::Finish),
        };
        let mut finish = matches!(message, Message::Finish);
        // Nudges that came in meanwhile are served by this one sync.
        while let Ok(m) = rx.try_recv() {
            finish |= matches!(m, Message::Finish);
        }
        let resting = failed_at.is_some_and(|t| t.elapsed() < retry_after);
        if !resting {
            attempt(&mut failed_at, &mut last_error);
        }
        if finish {
            return last_error;
        }
    }
}
