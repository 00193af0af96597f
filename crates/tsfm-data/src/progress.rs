//! Progress of long data work (`prepare`, reading a cache), reported through a plain callback
//! so that front ends draw it as they like (the CLI draws a bar on a terminal) and this crate
//! stays free of terminal code.

use std::path::PathBuf;

/// One step of a prepare or cache read, in the order they happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressEvent {
    /// Hashing raw file `index` (0-based) of `total` for the manifest, `bytes` long.
    Hashing {
        index: usize,
        total: usize,
        path: PathBuf,
        bytes: u64,
    },
    /// The source finished parsing one raw file.
    Parsed { path: PathBuf },
    /// Series `index` (0-based) of `total` written to the cache.
    Written {
        index: usize,
        total: usize,
        id: String,
    },
    /// Another process holds the cache's lock (it is preparing the same dataset); this one
    /// waits for it to finish.
    WaitingForLock { path: PathBuf },
    /// Series `index` (0-based) of `total` read back from the cache.
    Read {
        index: usize,
        total: usize,
        id: String,
    },
}

/// A progress callback. `&|_| {}` ignores progress.
pub type Progress<'a> = &'a dyn Fn(ProgressEvent);

/// Ignores every event.
pub fn ignore(_: ProgressEvent) {}
