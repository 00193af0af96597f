//! Fault injection for the reliability tests: with the `fault-injection` feature (enabled only
//! by test builds, never in a release binary), every write `tsfm` makes passes through
//! [`write_point`], which can fail it as a full disk would.
//!
//! Two environment variables drive it, so the real binary can be tested from outside:
//! - `TSFM_FAULT_LOG=FILE`: append one line per write, `{n}\t{operation}\t{path}`, to FILE
//!   (how a test lists the write sites of a command);
//! - `TSFM_FAULT_AT=N`: the N-th write (1-based) and every later one fail with `ENOSPC`, as on
//!   a disk that filled up: the error handling paths that write too (a failed run's manifest)
//!   meet the full disk as well.
//!
//! Without the feature [`write_point`] is an empty inline function.

use std::io;
use std::path::Path;

/// Called by every write of `tsfm` before it changes anything on disk under `path`.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn write_point(_operation: &str, _path: &Path) -> io::Result<()> {
    Ok(())
}

/// Called by every write of `tsfm` before it changes anything on disk under `path`.
#[cfg(feature = "fault-injection")]
pub fn write_point(operation: &str, path: &Path) -> io::Result<()> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let n = WRITES.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(log) = std::env::var_os("TSFM_FAULT_LOG") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        writeln!(file, "{n}\t{operation}\t{}", path.display())?;
    }
    let fail_from = std::env::var("TSFM_FAULT_AT")
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    match fail_from {
        Some(at) if n >= at => Err(io::Error::from_raw_os_error(ENOSPC)),
        _ => Ok(()),
    }
}

/// "No space left on device" (the same number on Linux and macOS).
#[cfg(feature = "fault-injection")]
const ENOSPC: i32 = 28;
