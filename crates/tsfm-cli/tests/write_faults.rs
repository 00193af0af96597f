//! A full disk at every write site: the real binary (built with tsfm-io's `fault-injection`
//! feature by these tests) fails its N-th write and every later one with ENOSPC. Each command
//! must stop with exit 2, the path and a hint, never panic, leave no temporary files, and leave
//! the previous state whole: a training run resumes to the uninterrupted run's weights bit for
//! bit, a data cache is the old one (or absent), an evaluation report is the old one or absent.
//!
//! CI injects at the first write of every distinct site (the same file at another step is the
//! same site); `TSFM_FAULT_EVERY=1` injects at every single write (`scripts/fault-campaign`).
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{demo_train_args, repo, stderr, tsfm};

/// One write of a command, from `TSFM_FAULT_LOG`.
struct Write {
    n: u64,
    operation: String,
    path: String,
}

fn run(args: &[String], cwd: &Path, env: &[(&str, String)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tsfm"))
        .args(args)
        .current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("tsfm runs")
}

/// The writes `args` makes, in order (the command must succeed).
fn trace(args: &[String], cwd: &Path) -> Vec<Write> {
    let log = cwd.join("faults.log");
    let _ = std::fs::remove_file(&log);
    let out = run(args, cwd, &[("TSFM_FAULT_LOG", log.display().to_string())]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&log).expect("the fault log: is fault-injection on?");
    std::fs::remove_file(&log).unwrap();
    text.lines()
        .map(|line| {
            let mut parts = line.splitn(3, '\t');
            Write {
                n: parts.next().unwrap().parse().unwrap(),
                operation: parts.next().unwrap().to_string(),
                path: parts.next().unwrap().to_string(),
            }
        })
        .collect()
}

/// A write site: the operation and the path's file name with digits folded, so the optimizer
/// file of checkpoint-4 and of checkpoint-8 (or two series' cache files) are one site.
fn site(w: &Write) -> String {
    let name = Path::new(&w.path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let folded: String = name
        .chars()
        .map(|c| if c.is_ascii_digit() { 'N' } else { c })
        .collect();
    format!("{} {folded}", w.operation)
}

/// The writes to fail: the first of every site, or every write with `TSFM_FAULT_EVERY=1`.
fn fault_points(writes: &[Write]) -> Vec<(u64, String)> {
    let every = std::env::var("TSFM_FAULT_EVERY").is_ok_and(|v| v == "1");
    let mut seen = BTreeSet::new();
    writes
        .iter()
        .filter(|w| seen.insert(site(w)) || every)
        .map(|w| (w.n, format!("{} {}", w.operation, w.path)))
        .collect()
}

/// Exit 2 with the disk's error, the path and the hint; no panic.
fn assert_refused_cleanly(out: &Output, at: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "fault at {at}: {err}");
    assert!(
        err.contains("No space left on device"),
        "fault at {at}: {err}"
    );
    assert!(
        err.contains("hint: free some space"),
        "fault at {at}: {err}"
    );
    assert!(!err.contains("panicked"), "fault at {at}: {err}");
}

/// Every file under `dir` (relative path -> bytes), lock files (empty, kept on purpose) aside.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if !path.to_string_lossy().ends_with(".lock") {
                let rel = path.strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Hidden leftovers (temporary files or folders) anywhere under `dir`, lock files aside.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    snapshot(dir)
        .into_keys()
        .filter(|p| {
            p.components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
        })
        .collect()
}

fn has_checkpoint(run_dir: &Path) -> bool {
    std::fs::read_dir(run_dir.join("checkpoints")).is_ok_and(|mut d| {
        d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("checkpoint-")))
    })
}

#[test]
fn a_full_disk_at_any_training_write_loses_nothing_a_resume_cannot_restore() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    // The first run prepares the cache; the traced one, like the faulted ones, reads it.
    let out = run(&demo_train_args("reference"), cwd, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let want = std::fs::read(cwd.join("reference/model/model.safetensors")).unwrap();
    let writes = trace(&demo_train_args("traced"), cwd);
    let points = fault_points(&writes);
    assert!(points.len() >= 8, "only {} write sites", points.len());
    for (i, (n, at)) in points.iter().enumerate() {
        let dir = format!("faulted-{i}");
        let args = demo_train_args(&dir);
        let out = run(&args, cwd, &[("TSFM_FAULT_AT", n.to_string())]);
        assert_refused_cleanly(&out, at);
        let run_dir = cwd.join(&dir);
        assert_eq!(
            temporaries(&run_dir),
            Vec::<PathBuf>::new(),
            "fault at {at}"
        );
        // The disk has room again: resume from the newest checkpoint (or start over when the
        // fault came before the first one) and end where the uninterrupted run ended.
        let mut again = args.clone();
        if has_checkpoint(&run_dir) {
            again.push("--resume".into());
        }
        let out = run(&again, cwd, &[]);
        assert!(
            out.status.success(),
            "after fault at {at}: {}",
            stderr(&out)
        );
        let got = std::fs::read(run_dir.join("model/model.safetensors")).unwrap();
        assert!(got == want, "after fault at {at}: weights differ");
    }
    eprintln!(
        "{} write faults, every one resumed bit-identical",
        points.len()
    );
}

/// `data prepare` of the dataset `demo` from `raw`, a BrisT1D file or REPLACE-BG folder.
fn prepare_args(raw: &Path) -> Vec<String> {
    let source = if raw.is_dir() { "aleppo" } else { "bris_t1d" };
    ["data", "prepare", "--dataset", "demo", "--source", source]
        .into_iter()
        .map(String::from)
        .chain(["--raw".into(), raw.display().to_string()])
        .chain(["--cache-dir".into(), "cache".into()])
        .collect()
}

#[test]
fn a_full_disk_while_preparing_keeps_the_old_cache_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let demo = repo().join("data/demo");
    let old_raw = demo.join("brist1d/train.csv.gz");
    let new_raw = demo.join("aleppo/Data Tables");
    let cache = cwd.join("cache/demo");

    // Into an empty cache: a fault leaves no cache at all.
    let writes = trace(&prepare_args(&old_raw), cwd);
    std::fs::remove_dir_all(cwd.join("cache")).unwrap();
    for (n, at) in fault_points(&writes) {
        let out = run(
            &prepare_args(&old_raw),
            cwd,
            &[("TSFM_FAULT_AT", n.to_string())],
        );
        assert_refused_cleanly(&out, &at);
        assert_eq!(
            snapshot(&cwd.join("cache")),
            BTreeMap::new(),
            "fault at {at}"
        );
    }

    // Over a cache of other raw files: a fault leaves the old cache, byte for byte.
    let out = tsfm(
        &prepare_args(&old_raw)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        cwd,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let old = snapshot(&cache);
    let writes = trace(&prepare_args(&new_raw), cwd);
    let new = snapshot(&cache);
    assert_ne!(old, new);
    let points = fault_points(&writes);
    let out = run(&prepare_args(&old_raw), cwd, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    for (n, at) in &points {
        let out = run(
            &prepare_args(&new_raw),
            cwd,
            &[("TSFM_FAULT_AT", n.to_string())],
        );
        assert_refused_cleanly(&out, at);
        assert!(
            snapshot(&cache) == old,
            "fault at {at}: the old cache changed"
        );
        assert_eq!(
            temporaries(&cwd.join("cache")),
            Vec::<PathBuf>::new(),
            "fault at {at}"
        );
    }
    let out = run(&prepare_args(&new_raw), cwd, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(snapshot(&cache) == new);
    eprintln!(
        "{} write faults while preparing, old caches whole",
        points.len()
    );
}

#[test]
fn a_full_disk_while_evaluating_leaves_the_old_report_or_none() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let out = run(&demo_train_args("run"), cwd, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let evaluate: Vec<String> = ["evaluate", "--run", "run"].map(String::from).to_vec();
    let results = cwd.join("tsfm_results/results");
    let writes = trace(&evaluate, cwd);
    let mut before = snapshot(&results);
    let points = fault_points(&writes);
    for (n, at) in &points {
        let out = run(&evaluate, cwd, &[("TSFM_FAULT_AT", n.to_string())]);
        assert_refused_cleanly(&out, at);
        let after = snapshot(&results);
        assert_eq!(
            temporaries(&results),
            Vec::<PathBuf>::new(),
            "fault at {at}"
        );
        // Each file is the previous evaluation's or the new one's, whole: a report parses,
        // the history has whole rows only.
        for (path, bytes) in &after {
            let name = path.to_string_lossy();
            if name.ends_with(".json") {
                let parsed = serde_json::from_slice::<serde_json::Value>(bytes);
                assert!(parsed.is_ok(), "fault at {at}: {name} is not whole");
            }
            if name.ends_with("run_history.csv") {
                let old_rows = before[path].split(|&b| b == b'\n').count();
                let rows = bytes.split(|&b| b == b'\n').count();
                assert!(rows == old_rows || rows == old_rows + 1, "fault at {at}");
                assert!(bytes.ends_with(b"\n"), "fault at {at}: a cut row");
            }
        }
        assert!(
            before.keys().all(|p| after.contains_key(p)),
            "fault at {at}: a file of the previous evaluation disappeared"
        );
        before = after;
    }
    eprintln!(
        "{} write faults while evaluating, reports whole",
        points.len()
    );
}
