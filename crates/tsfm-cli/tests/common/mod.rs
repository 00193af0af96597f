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

/// `tsfm train` of the demo shortened to seconds: ttm-tiny on glucose, 24 steps, an evaluation
/// and a checkpoint every 4, into `--run-dir run_dir` and a cache under the working folder.
pub fn demo_train_args(run_dir: &str) -> Vec<String> {
    let mut args: Vec<String> = vec!["train".into(), "--run-dir".into(), run_dir.into()];
    args.extend(demo_train_settings());
    args
}

/// The `--set` pairs of [`demo_train_args`].
pub fn demo_train_settings() -> Vec<String> {
    let mut kvs = demo_settings();
    kvs.extend(schedule(24, 4, 2));
    set_args(&kvs)
}

/// The demo's data and model cut down for tests, as `key=value`: ttm-tiny (it reads glucose
/// alone) at 32 -> 16 steps, batches of 32, the cache in `cache/` under the working folder
/// (relative: resolved against it and recorded absolute in the run).
pub fn demo_settings() -> Vec<String> {
    let repo = repo();
    vec![
        format!(
            "data.raw_path={}",
            repo.join("data/demo/brist1d/train.csv.gz").display()
        ),
        format!(
            "model.model_path={}",
            repo.join("data/models/ttm-tiny").display()
        ),
        "model.params.context_length=32".into(),
        "model.params.prediction_length=16".into(),
        "data.past_covariates=[]".into(),
        "data.batch_size=32".into(),
        "data.cache_dir=cache".into(),
    ]
}

/// A training schedule as `key=value`: `steps` steps, an evaluation and a checkpoint every
/// `every`, a log line every `log`.
pub fn schedule(steps: u32, every: u32, log: u32) -> Vec<String> {
    vec![
        format!("training.max_steps={steps}"),
        format!("training.eval_steps={every}"),
        format!("training.save_steps={every}"),
        format!("training.logging_steps={log}"),
    ]
}

/// `key=value` settings as `--set` arguments.
pub fn set_args(kvs: &[String]) -> Vec<String> {
    kvs.iter()
        .flat_map(|kv| ["--set".to_string(), kv.clone()])
        .collect()
}
