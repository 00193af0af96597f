//! Fuzzing `tsfm` on stable Rust: what hostile input (a corrupt raw file, config, checkpoint or
//! predict input) must never do is panic, hang or exhaust memory; refusing it with a message is
//! the expected outcome.
//!
//! - [`targets`]: one harness per parser or loader, calling the library functions `tsfm` calls.
//! - [`mutate`]: seeded mutations of corpus inputs.
//! - `corpus/{target}/`: committed inputs (valid seeds, past findings); `tests/corpus.rs` runs
//!   each through its target, plus a few hundred seeded mutations, as ordinary tests.
//! - `tsfm-fuzz` (the binary): long campaigns over every target, saving any crashing input.
pub mod mutate;
pub mod targets;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

pub use targets::{TARGETS, Workspace};

/// What a target did with one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// Refused with this message (the message must say something).
    Refused(String),
    /// A panic, with its message: always a bug.
    Panicked(String),
}

/// Runs target `name` on `bytes`, catching a panic.
pub fn check(name: &str, ws: &Workspace, bytes: &[u8]) -> Verdict {
    match catch_unwind(AssertUnwindSafe(|| targets::run(name, ws, bytes))) {
        Ok(Ok(())) => Verdict::Accepted,
        Ok(Err(message)) if message.trim().is_empty() => {
            Verdict::Panicked("refused with an empty message".into())
        }
        Ok(Err(message)) => Verdict::Refused(message),
        Err(payload) => Verdict::Panicked(
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic without a message".into()),
        ),
    }
}

/// The crate's folder (the corpus lives here).
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The repository's `data/models` (the bundled checkpoints the model targets load).
pub fn bundled_models() -> PathBuf {
    crate_dir().join("../../data/models")
}

/// The committed inputs of `target`, sorted by file name.
pub fn corpus(target: &str) -> std::io::Result<Vec<(PathBuf, Vec<u8>)>> {
    read_dir_files(&crate_dir().join("corpus").join(target))
}

fn read_dir_files(dir: &Path) -> std::io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| std::fs::read(&p).map(|b| (p, b)))
        .collect()
}
