//! Several `tsfm` processes on one results tree or one cache at the same time: runs of one
//! experiment started together get their own folders, all their rows in `run_history.csv`, and
//! a `best_model` link that ends at the best of them; a `data prepare` waits for another one
//! holding the cache instead of racing it.
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::{demo_train_settings, repo, stderr};

fn tsfm_cmd(args: &[String], cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tsfm"));
    cmd.args(args).current_dir(cwd);
    cmd
}

#[test]
fn runs_of_one_experiment_started_together_keep_every_row_and_link_the_best() {
    let tmp = tempfile::tempdir().unwrap();
    let seeds = [1, 2, 3];
    let children: Vec<_> = seeds
        .iter()
        .map(|seed| {
            let mut args = vec!["train".to_string()];
            args.extend(demo_train_settings());
            args.extend(["--set".into(), format!("training.seed={seed}")]);
            tsfm_cmd(&args, tmp.path())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }

    let models = tmp.path().join("tsfm_results/models");
    let experiment = std::fs::read_dir(&models)
        .unwrap()
        .flat_map(|m| std::fs::read_dir(m.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .next()
        .unwrap();
    let mut runs: Vec<(f64, String)> = std::fs::read_dir(&experiment)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| {
            e.file_type().unwrap().is_dir() && !e.file_name().to_string_lossy().starts_with('.')
        })
        .map(|e| {
            let manifest: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.path().join("run.json")).unwrap()).unwrap();
            let loss = manifest["best_eval_loss"].as_f64().unwrap();
            (loss, e.file_name().to_string_lossy().into_owned())
        })
        .collect();
    assert_eq!(runs.len(), 3, "{runs:?}");
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let best = std::fs::read_link(experiment.join("best_model")).unwrap();
    let best_loss = runs.iter().find(|r| Path::new(&r.1) == best).unwrap().0;
    assert_eq!(
        best_loss, runs[0].0,
        "best_model -> {best:?}, runs {runs:?}"
    );

    let results = tmp.path().join("tsfm_results/results");
    let history = std::fs::read_dir(&results)
        .unwrap()
        .flat_map(|m| std::fs::read_dir(m.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path().join("run_history.csv"))
        .next()
        .unwrap();
    let mut reader = csv::Reader::from_path(&history).unwrap();
    let run_id = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "run_id")
        .unwrap();
    let mut ids: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[run_id].to_string())
        .collect();
    ids.sort();
    let mut want: Vec<String> = runs.into_iter().map(|r| r.1).collect();
    want.sort();
    assert_eq!(ids, want);
}

#[test]
fn a_data_prepare_waits_while_another_process_holds_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "data",
        "prepare",
        "--dataset",
        "demo",
        "--source",
        "bris_t1d",
        "--cache-dir",
        "cache",
        "--raw",
    ]
    .map(String::from)
    .into_iter()
    .chain([repo()
        .join("data/demo/brist1d/train.csv.gz")
        .display()
        .to_string()])
    .collect();
    // This test holds the lock as another `tsfm` preparing the same dataset would.
    let lock_path = tmp.path().join("cache/demo/.lock");
    std::fs::create_dir_all(lock_path.parent().unwrap()).unwrap();
    let lock = std::fs::File::create(&lock_path).unwrap();
    lock.lock().unwrap();
    let mut child = tsfm_cmd(&args, tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(child.try_wait().unwrap().is_none(), "it did not wait");
    assert!(!tmp.path().join("cache/demo/processed").exists());
    lock.unlock().unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
    assert!(
        err.contains("waiting for another tsfm using this cache to finish (lock ")
            && err.contains(".lock)"),
        "{err}"
    );
    assert!(
        tmp.path()
            .join("cache/demo/processed/manifest.json")
            .is_file()
    );
}
