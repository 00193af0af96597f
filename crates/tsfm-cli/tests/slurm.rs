//! `tsfm sweep` against a real single-node Slurm (`scripts/services slurm` starts it): the
//! generated job-array script, refusal of an invalid task before anything is submitted, and a
//! 3-task array of short demo trainings where one task is cancelled mid-run, resumed from its
//! checkpoint, and all three runs are ranked by `tsfm compare`.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::{demo_settings, set_args, stderr, stdout, tsfm};

/// The demo experiment shortened (ttm-tiny on glucose, as the crash test trains it), as
/// `--set` flags for every task of a sweep.
fn demo_sets() -> Vec<String> {
    let mut kvs = demo_settings();
    kvs.push("training.logging_steps=2".into());
    set_args(&kvs)
}

fn sweep_args<'a>(spec: &'a str, sets: &'a [String], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["sweep", "experiments/ttm_demo", "--spec", spec];
    args.extend(sets.iter().map(String::as_str));
    args.extend_from_slice(extra);
    args
}

#[test]
fn dry_run_prints_the_job_array_script_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("lr.yaml"),
        "name: lr\n\
         set: {training.max_steps: 8}\n\
         grid:\n  training.learning_rate: [1.0e-4, 3.0e-4]\n  data.past_covariates: [[], [iob]]\n\
         slurm:\n  partition: gpu\n  account: lab\n  time: \"01:30:00\"\n  cpus_per_task: 4\n  \
         mem: 16G\n  gpus: 1\n  max_parallel: 2\n  sbatch: [--constraint=a100]\n  \
         setup: [module load cuda/12.4]\n",
    )
    .unwrap();
    let sets = demo_sets();
    let out = tsfm(&sweep_args("lr.yaml", &sets, &["--dry-run"]), tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let script = stdout(&out);
    let lines: Vec<&str> = script.lines().collect();
    let sbatch: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("#SBATCH"))
        .collect();
    let cwd = tmp.path().canonicalize().unwrap();
    let results = cwd.join("tsfm_results");
    let sweep_dir = lines
        .iter()
        .find_map(|l| l.strip_prefix("SWEEP="))
        .expect("SWEEP= line");
    assert!(
        sweep_dir.starts_with(&format!("{}/sweeps/lr/", results.display())),
        "{sweep_dir}"
    );
    assert_eq!(
        sbatch,
        [
            "#SBATCH --job-name=tsfm-lr".to_string(),
            "#SBATCH --array=0-3%2".into(),
            format!("#SBATCH --output={sweep_dir}/logs/task-%a_job-%A.out"),
            format!("#SBATCH --chdir={}", cwd.display()),
            "#SBATCH --partition=gpu".into(),
            "#SBATCH --account=lab".into(),
            "#SBATCH --time=01:30:00".into(),
            "#SBATCH --cpus-per-task=4".into(),
            "#SBATCH --mem=16G".into(),
            "#SBATCH --gres=gpu:1".into(),
            "#SBATCH --constraint=a100".into(),
        ]
    );
    assert_eq!(lines[0], "#!/bin/bash");
    assert!(lines.contains(&format!("TSFM={}", env!("CARGO_BIN_EXE_tsfm")).as_str()));
    assert!(lines.contains(&"CONFIG=(--config experiments/ttm_demo)"));
    assert!(lines.contains(&"module load cuda/12.4"));
    // Task 3: the last grid combination, after the command line's and the spec's `set`.
    let stamp = sweep_dir.rsplit('/').next().unwrap();
    let at = lines.iter().position(|l| *l == "  3)").expect("task 3");
    assert_eq!(
        lines[at + 1],
        format!(
            "    RUN_DIR={}/models/ttm/ttm_demo/{stamp}_lr-3",
            results.display()
        )
    );
    let set3 = lines[at + 2];
    assert!(
        set3.ends_with(
            "--set training.max_steps=8 --set training.learning_rate=0.0003 \
             --set 'data.past_covariates=[\"iob\"]')"
        ),
        "{set3}"
    );
    assert!(set3.starts_with("    SET=(--set data.raw_path="), "{set3}");
    assert!(script.contains(
        "\"$TSFM\" train \"${CONFIG[@]}\" --run-dir \"$RUN_DIR\" \"${SET[@]}\" \"${RESUME[@]}\""
    ));
    assert!(stderr(&out).contains("dry run: 4 task(s) checked; nothing written or submitted"));
    assert!(!tmp.path().join("tsfm_results").exists());
}

#[test]
fn an_invalid_task_or_spec_key_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("bad.yaml"),
        "grid:\n  training.learning_rate: [1.0e-4, -1]\n",
    )
    .unwrap();
    let sets = demo_sets();
    let out = tsfm(&sweep_args("bad.yaml", &sets, &["--submit"]), tmp.path());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("1 of 2 sweep tasks are invalid; nothing was written or submitted"),
        "{err}"
    );
    assert!(err.contains("sweep task 1 ("), "{err}");
    assert!(err.contains("training.learning_rate=-1)"), "{err}");
    assert!(
        err.contains("sweep task 1: training.learning_rate:"),
        "names the key and the task: {err}"
    );
    assert!(!tmp.path().join("tsfm_results").exists());

    let out = tsfm(&sweep_args("nope.yaml", &sets, &["--dry-run"]), tmp.path());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nope.yaml: cannot read the sweep spec"),
        "{}",
        stderr(&out)
    );

    std::fs::write(tmp.path().join("typo.yaml"), "slurm: {gpu: 1}\n").unwrap();
    let out = tsfm(&sweep_args("typo.yaml", &sets, &["--dry-run"]), tmp.path());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("slurm.gpu: unknown key (known here: partition, account,"),
        "{}",
        stderr(&out)
    );
}

/// Fails (never skips) when no Slurm answers.
fn require_slurm() {
    let ok = Command::new("sinfo")
        .args(["-h", "-o", "%a"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "these tests need a running Slurm (sinfo failed): start one with `scripts/services slurm`"
    );
}

fn sh(program: &str, args: &[&str]) -> String {
    match Command::new(program).args(args).output() {
        Ok(o) => format!("{}{}", stdout(&o), stderr(&o)),
        Err(e) => format!("{program}: {e}"),
    }
}

/// squeue, sacct, the sweep's status and every task log: what a timeout reports.
fn diagnostics(sweep: &Path, cwd: &Path) -> String {
    let mut out = format!(
        "squeue:\n{}\nsacct:\n{}\nsweep status:\n{}\n",
        sh("squeue", &["--states=all", "-r"]),
        sh("sacct", &["-X"]),
        stdout(&tsfm(
            &["sweep", "status", &sweep.display().to_string()],
            cwd
        ))
    );
    if let Ok(entries) = std::fs::read_dir(sweep.join("logs")) {
        for e in entries.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            out += &format!(
                "--- {}\n{}\n",
                e.path().display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
    out
}

/// Poll `done` every 200 ms for at most `limit`; on timeout fail with the diagnostics.
fn wait_for(what: &str, limit: Duration, sweep: &Path, cwd: &Path, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > limit {
            panic!(
                "timed out after {limit:?} waiting for {what}\n{}",
                diagnostics(sweep, cwd)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `task -> state` from `tsfm sweep status`.
fn states(sweep: &Path, cwd: &Path) -> Vec<String> {
    let out = tsfm(&["sweep", "status", &sweep.display().to_string()], cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .skip(2)
        .take_while(|l| !l.contains("task(s):"))
        .map(|l| {
            let cells: Vec<&str> = l.split("  ").filter(|c| !c.trim().is_empty()).collect();
            cells[1].trim().to_string()
        })
        .collect()
}

fn metrics(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap()
}

#[test]
fn a_cancelled_task_is_resumed_from_its_checkpoint_and_the_runs_are_ranked() {
    require_slurm();
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    // Task 0 is long enough to be cancelled mid-run after its first checkpoint; 1 and 2 are
    // short. One CPU each: two run at once on the 2-CPU test node.
    std::fs::write(
        cwd.join("three.yaml"),
        "name: three\n\
         set: {training.eval_steps: 20, training.save_steps: 20}\n\
         list:\n  - {training.max_steps: 600}\n  - {training.max_steps: 20}\n  \
         - {training.max_steps: 20, training.learning_rate: 3.0e-4}\n\
         slurm: {cpus_per_task: 1, mem: 2G, time: \"00:20:00\"}\n",
    )
    .unwrap();
    let sets = demo_sets();
    // Tasks that start together would each build the shared data cache: prepare it first, as
    // the README says (a dry run prepares the data and trains nothing).
    let mut warm = vec!["train", "--config", "experiments/ttm_demo", "--dry-run"];
    warm.extend(sets.iter().map(String::as_str));
    let out = tsfm(&warm, cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = tsfm(&sweep_args("three.yaml", &sets, &["--submit"]), cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let sweep = PathBuf::from(
        text.lines()
            .find_map(|l| l.strip_prefix("sweep:  "))
            .and_then(|l| l.split(" (").next())
            .expect("sweep folder"),
    );
    let job: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("submitted: job "))
        .and_then(|l| l.split(',').next())
        .and_then(|j| j.parse().ok())
        .expect("job id");
    let tasks: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(sweep.join("tasks.json")).unwrap()).unwrap();
    let runs: Vec<PathBuf> = tasks
        .iter()
        .map(|t| PathBuf::from(t["run_dir"].as_str().unwrap()))
        .collect();
    assert_eq!(runs.len(), 3);
    // Task 0 uninterrupted, outside Slurm and the sweep's results, meanwhile: the resumed task
    // must end with its weights.
    let mut reference = vec![
        "train",
        "--config",
        "experiments/ttm_demo",
        "--run-dir",
        "reference",
    ];
    reference.extend(sets.iter().map(String::as_str));
    reference.extend([
        "--set",
        "output.save_dir=reference_results",
        "--set",
        "training.eval_steps=20",
        "--set",
        "training.save_steps=20",
        "--set",
        "training.max_steps=600",
    ]);
    let reference = Command::new(env!("CARGO_BIN_EXE_tsfm"))
        .args(&reference)
        .current_dir(cwd)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();

    // Cancel task 0 once it has a checkpoint.
    let has_checkpoint = |run: &Path| {
        std::fs::read_dir(run.join("checkpoints")).is_ok_and(|mut d| {
            d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("checkpoint-")))
        })
    };
    wait_for(
        "task 0's first checkpoint",
        Duration::from_secs(300),
        &sweep,
        cwd,
        || has_checkpoint(&runs[0]),
    );
    let cancel = Command::new("scancel")
        .arg(format!("{job}_0"))
        .output()
        .unwrap();
    assert!(cancel.status.success(), "{}", stderr(&cancel));
    wait_for(
        "task 0 cancelled, tasks 1 and 2 completed",
        Duration::from_secs(300),
        &sweep,
        cwd,
        || states(&sweep, cwd) == ["cancelled", "completed", "completed"],
    );
    assert!(
        !runs[0].join("metrics.json").exists(),
        "task 0 finished before it was cancelled: make it longer"
    );

    let out = tsfm(&["sweep", "resume", &sweep.display().to_string()], cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    let resumed = stdout(&out);
    assert!(
        resumed.starts_with("task 0 (cancelled): resubmitted as job "),
        "{resumed}"
    );
    assert_eq!(resumed.matches("resubmitted").count(), 1, "{resumed}");
    wait_for(
        "all three tasks completed",
        Duration::from_secs(300),
        &sweep,
        cwd,
        || states(&sweep, cwd) == ["completed", "completed", "completed"],
    );

    // The resumed run continued from a checkpoint of the cancelled attempt and finished.
    let m0 = metrics(&runs[0]);
    let from = m0["resumed_from_step"].as_u64().expect("task 0 resumed");
    assert!(
        from >= 20 && from.is_multiple_of(20) && from < 600,
        "resumed from {from}"
    );
    assert_eq!(m0["global_step"], 600);
    let reference = reference.wait_with_output().unwrap();
    assert!(reference.status.success(), "{}", stderr(&reference));
    let weights = |dir: &Path| std::fs::read(dir.join("model/model.safetensors")).unwrap();
    assert!(
        weights(&runs[0]) == weights(&cwd.join("reference")),
        "the cancelled and resumed task's weights differ from an uninterrupted run's"
    );
    for run in &runs[1..] {
        let m = metrics(run);
        assert_eq!(m["global_step"], 20);
        assert!(m["resumed_from_step"].is_null());
    }
    let status = stdout(&tsfm(
        &["sweep", "status", &sweep.display().to_string()],
        cwd,
    ));
    assert!(
        status.contains(&format!("600/600 (resumed at {from})")),
        "{status}"
    );
    assert!(
        status.contains("3 task(s): 3 completed, 0 pending, 0 running, 0 to resume"),
        "{status}"
    );
    // Nothing left to resume.
    let out = tsfm(&["sweep", "resume", &sweep.display().to_string()], cwd);
    assert!(
        stdout(&out).contains("nothing to resume"),
        "{}",
        stdout(&out)
    );

    // `sweep status` ranks the runs by their best eval loss (lower first) and `tsfm compare`
    // shows them in that order.
    let mut order: Vec<(f64, usize)> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| (metrics(r)["best_metric"].as_f64().unwrap(), i))
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0));
    let want: Vec<String> = order.iter().map(|(_, i)| i.to_string()).collect();
    assert!(
        status.contains(&format!("finished, best first: task {}", want.join(", "))),
        "{status}"
    );
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("compare them: tsfm compare "))
        .expect("compare hint");
    let dirs: Vec<&str> = line.split(' ').collect();
    assert_eq!(dirs.len(), 3);
    let mut args = vec!["compare"];
    args.extend(&dirs);
    let out = tsfm(&args, cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    let at: Vec<usize> = order
        .iter()
        .map(|(_, i)| {
            let id = runs[*i].file_name().unwrap().to_string_lossy().into_owned();
            table
                .find(&format!("ttm/ttm_demo/{id}"))
                .unwrap_or_else(|| panic!("{id} missing: {table}"))
        })
        .collect();
    assert!(at.is_sorted(), "not best first: {table}");
    assert!(table.contains("baseline: persistence"), "{table}");
}

#[test]
fn a_failed_task_is_reported_with_its_exit_code_and_resubmitted() {
    require_slurm();
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    // Valid as a config, fails when the task reads its data (exit 2).
    std::fs::write(
        cwd.join("broken.yaml"),
        "name: broken\nset: {data.raw_path: missing.csv}\nslurm: {cpus_per_task: 1, mem: 1G}\n",
    )
    .unwrap();
    let sets = demo_sets();
    let out = tsfm(&sweep_args("broken.yaml", &sets, &["--submit"]), cwd);
    assert!(out.status.success(), "{}", stderr(&out));
    let sweep = PathBuf::from(
        stdout(&out)
            .lines()
            .find_map(|l| l.strip_prefix("sweep:  "))
            .and_then(|l| l.split(" (").next())
            .expect("sweep folder"),
    );
    wait_for(
        "the task to fail",
        Duration::from_secs(120),
        &sweep,
        cwd,
        || states(&sweep, cwd) == ["failed"],
    );
    assert_eq!(
        std::fs::read_to_string(sweep.join("status/0.exit")).unwrap(),
        "2\n"
    );
    let log = std::fs::read_dir(sweep.join("logs"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(log.contains("missing.csv"), "{log}");

    let out = tsfm(&["sweep", "resume", &sweep.display().to_string()], cwd);
    assert!(
        stdout(&out).starts_with("task 0 (failed): resubmitted as job "),
        "{}",
        stdout(&out)
    );
    // The second attempt fails the same way; its own log sits beside the first.
    wait_for(
        "the resubmitted task to fail",
        Duration::from_secs(120),
        &sweep,
        cwd,
        || {
            states(&sweep, cwd) == ["failed"]
                && std::fs::read_dir(sweep.join("logs")).unwrap().count() == 2
        },
    );
}
