//! What every end-to-end test of the `tsfm` binary needs: the repository root and a way to
//! run the binary and read its output.
// Each test binary includes this module and uses a subset of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (bundled demo data and checkpoints live under `data/`).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Run the built `tsfm` with `args` in `cwd`.
pub fn tsfm(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tsfm"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("tsfm runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
