//! Tracking against real services: a real `mlflow server` (installed by `scripts/services
//! mlflow`, started here on a free port with a sqlite store and a temp artifact folder) gets a
//! demo run's params, metric histories (equal to its logs/train.jsonl), manifest tags and
//! artifacts; a dead server neither fails nor slows training and `tsfm runs sync` sends the
//! run once; TensorBoard event files are read back by the `tensorboard` package and by the
//! Rust reader, which checks every CRC.
mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{demo_settings, schedule, set_args, stderr, stdout, tsfm};
use serde_json::Value;
use tsfm_track::mlflow::Client;

/// The venv `scripts/services mlflow` installs; a test that needs it fails without it.
fn services_bin(name: &str) -> PathBuf {
    let root = std::env::var_os("TSFM_SERVICES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/tsfm-services")
        });
    let bin = root.join("mlflow/bin").join(name);
    assert!(
        bin.is_file(),
        "{} not found: install the test services with `scripts/services mlflow` \
         (or point TSFM_SERVICES_DIR at where they are)",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real MLflow server on `port`, stopped (with its workers) when dropped.
struct Mlflow {
    child: Child,
    uri: String,
}

impl Mlflow {
    fn start(dir: &Path, port: u16) -> Mlflow {
        std::fs::create_dir_all(dir).unwrap();
        let log = std::fs::File::create(dir.join("server.log")).unwrap();
        let mut command = Command::new(services_bin("mlflow"));
        command
            .args([
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--workers",
                "1",
            ])
            .arg("--backend-store-uri")
            .arg(format!("sqlite:///{}", dir.join("mlflow.db").display()))
            .arg("--artifacts-destination")
            .arg(dir.join("artifacts"))
            .stdout(Stdio::null())
            .stderr(log);
        // Its own process group: the server's workers are stopped with it.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().unwrap();
        let mut server = Mlflow {
            child,
            uri: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        let client = Client::new(&server.uri, Duration::from_secs(1));
        let log = || std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        while client
            .get("experiments/search", &[("max_results", "1")])
            .is_err()
        {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("mlflow server exited ({status}): {}", log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(180),
                "mlflow server did not answer in 180 s: {}",
                log()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        server
    }

    fn client(&self) -> Client {
        Client::new(&self.uri, Duration::from_secs(5))
    }
}

impl Drop for Mlflow {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// The demo training of `cli.rs` (ttm-tiny, 12 steps), with `extra` overrides.
fn train(cwd: &Path, extra: &[String]) -> (std::process::Output, Duration) {
    let mut sets = [demo_settings(), schedule(12, 6, 3)].concat();
    sets.extend(extra.iter().cloned());
    let mut args = vec!["train".to_string()];
    args.extend(set_args(&sets));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let out = tsfm(&args, cwd);
    (out, started.elapsed())
}

fn run_dir(cwd: &Path) -> PathBuf {
    let experiment = cwd.join("tsfm_results/models/ttm/ttm_demo");
    experiment.join(std::fs::read_link(experiment.join("best_model")).unwrap())
}

/// Every (key -> [(step, value)]) of a run's logs/train.jsonl, `epoch` included.
fn train_log(run: &Path) -> BTreeMap<String, Vec<(u64, f64)>> {
    let mut out: BTreeMap<String, Vec<(u64, f64)>> = BTreeMap::new();
    for line in std::fs::read_to_string(run.join("logs/train.jsonl"))
        .unwrap()
        .lines()
    {
        let v: Value = serde_json::from_str(line).unwrap();
        let step = v["step"].as_u64().unwrap();
        for (k, x) in v.as_object().unwrap() {
            if k != "step" {
                out.entry(k.clone())
                    .or_default()
                    .push((step, x.as_f64().unwrap()));
            }
        }
    }
    for history in out.values_mut() {
        history.sort_by(|a, b| a.partial_cmp(b).unwrap());
    }
    out
}

fn mlflow_run_id(run: &Path) -> String {
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("logs/mlflow_state.json")).unwrap())
            .unwrap();
    state["run_id"].as_str().unwrap().to_string()
}

fn history(client: &Client, run_id: &str, key: &str) -> Vec<(u64, f64)> {
    let v = client
        .get(
            "metrics/get-history",
            &[
                ("run_id", run_id),
                ("metric_key", key),
                ("max_results", "10000"),
            ],
        )
        .unwrap();
    let mut out: Vec<(u64, f64)> = v["metrics"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| (m["step"].as_u64().unwrap(), m["value"].as_f64().unwrap()))
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

/// Every metric history of the MLflow run equals train.jsonl's, step for step.
fn assert_histories_match(client: &Client, run_id: &str, run: &Path) {
    let log = train_log(run);
    assert!(
        log.contains_key("loss") && log.contains_key("eval_loss") && log.contains_key("grad_norm")
    );
    assert_eq!(
        log["loss"].iter().map(|p| p.0).collect::<Vec<_>>(),
        [3, 6, 9, 12]
    );
    for (key, expected) in &log {
        assert_eq!(&history(client, run_id, key), expected, "metric {key}");
    }
}

/// Artifact paths (files, recursively) with their sizes.
fn artifacts(client: &Client, run_id: &str, path: &str, out: &mut BTreeMap<String, u64>) {
    let v = client
        .get("artifacts/list", &[("run_id", run_id), ("path", path)])
        .unwrap();
    for f in v["files"].as_array().cloned().unwrap_or_default() {
        let p = f["path"].as_str().unwrap().to_string();
        if f["is_dir"].as_bool().unwrap_or(false) {
            artifacts(client, run_id, &p, out);
        } else {
            out.insert(p, f["file_size"].as_u64().unwrap_or(0));
        }
    }
}

fn journal_len(run: &Path) -> usize {
    std::fs::read_to_string(run.join("logs/tracking.jsonl"))
        .unwrap()
        .lines()
        .count()
}

#[test]
fn mlflow_server_gets_params_metric_histories_tags_and_artifacts_of_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Mlflow::start(&tmp.path().join("mlflow"), free_port());
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let (out, _) = train(
        &work,
        &[
            format!("logging.mlflow.tracking_uri={}", server.uri),
            "logging.mlflow.experiment=glucose".into(),
            "logging.mlflow.tags.team=t1d".into(),
            "logging.mlflow.log_model=true".into(),
            "logging.tensorboard=true".into(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("MLflow"), "{}", stderr(&out));
    let run = run_dir(&work);
    let o = tsfm(&["evaluate", "--run", run.to_str().unwrap()], &work);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("MLflow"), "{}", stderr(&o));

    let client = server.client();
    let run_id = mlflow_run_id(&run);
    let got = client.get("runs/get", &[("run_id", &run_id)]).unwrap();
    let pairs = |what: &str| -> BTreeMap<String, String> {
        got["run"]["data"][what]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["key"].as_str().unwrap().into(),
                    p["value"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let params = pairs("params");
    assert_eq!(params["training.max_steps"], "12");
    // ttm_demo.yaml sets 3e-3.
    assert_eq!(params["training.learning_rate"], "0.003");
    assert_eq!(params["model.model_type"], "ttm");
    assert_eq!(params["data.past_covariates"], "[]");
    assert_eq!(params["logging.mlflow.experiment"], "glucose");
    let tags = pairs("tags");
    let run_name = run.file_name().unwrap().to_str().unwrap();
    assert_eq!(tags["tsfm.run_id"], run_name);
    assert_eq!(tags["mlflow.runName"], run_name);
    assert_eq!(tags["team"], "t1d");
    assert_eq!(tags["tsfm.model"], "ttm");
    assert_eq!(got["run"]["info"]["status"], "FINISHED");
    let experiment = client
        .get("experiments/get-by-name", &[("experiment_name", "glucose")])
        .unwrap();
    assert_eq!(
        got["run"]["info"]["experiment_id"],
        experiment["experiment"]["experiment_id"]
    );

    assert_histories_match(&client, &run_id, &run);
    let metrics: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    let test_rmse = metrics["test"]["overall"]["rmse"].as_f64().unwrap();
    assert_eq!(
        history(&client, &run_id, "test.overall.rmse")[0],
        (12, test_rmse)
    );

    let mut files = BTreeMap::new();
    artifacts(&client, &run_id, "", &mut files);
    for (name, local) in [
        ("config.yaml", "config.yaml"),
        ("metrics.json", "metrics.json"),
        ("run.json", "run.json"),
        ("logs/train.jsonl", "logs/train.jsonl"),
        ("model/model.safetensors", "model/model.safetensors"),
        ("evaluation_report.json", "evaluation_report.json"),
        ("plots/test/clarke_grid.png", "plots/test/clarke_grid.png"),
    ] {
        let size = std::fs::metadata(run.join(local)).unwrap().len();
        assert_eq!(files.get(name), Some(&size), "artifact {name} in {files:?}");
    }

    // Everything went while training: a sync has nothing left to send.
    let o = tsfm(&["runs", "sync", run.to_str().unwrap()], &work);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(": sent 0 record(s) to http://127.0.0.1:"),
        "{}",
        stdout(&o)
    );

    check_tensorboard(&run);
}

/// The event files of the run: the Rust reader (every CRC checked, `file_version` first) and
/// the `tensorboard` package's EventAccumulator agree with train.jsonl.
fn check_tensorboard(run: &Path) {
    let logs = run.join("logs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("events.out.tfevents.")
        })
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        2,
        "one file for training, one for the evaluation: {files:?}"
    );
    let mut scalars: BTreeMap<String, Vec<(u64, f32)>> = BTreeMap::new();
    let mut images = Vec::new();
    for file in &files {
        let events = tsfm_track::tensorboard::read_events(file).unwrap();
        assert_eq!(events[0].file_version.as_deref(), Some("brain.Event:2"));
        for e in &events[1..] {
            for v in &e.summary.as_ref().unwrap().value {
                if let Some(x) = v.simple_value {
                    scalars
                        .entry(v.tag.clone())
                        .or_default()
                        .push((e.step as u64, x));
                }
                if let Some(image) = &v.image {
                    images.push((v.tag.clone(), e.step, image.width, image.height));
                }
            }
        }
    }
    let log = train_log(run);
    let as_f32 = |h: &Vec<(u64, f64)>| -> Vec<(u64, f32)> {
        let mut v: Vec<(u64, f32)> = h.iter().map(|&(s, x)| (s, x as f32)).collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v
    };
    for (key, expected) in &log {
        let mut got = scalars[key].clone();
        got.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(
            got,
            as_f32(expected),
            "TensorBoard scalar {key} (Rust reader)"
        );
    }
    assert!(
        images
            .iter()
            .any(|(tag, step, w, h)| tag == "plots/clarke_grid" && *step == 12 && *w > 0 && *h > 0),
        "{images:?}"
    );

    // The tensorboard package's own loader.
    let script = r#"
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "images": 0})
acc.Reload()
tags = acc.Tags()
print(json.dumps({
  "scalars": {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]},
  "images": {t: [[e.step, e.width, e.height, len(e.encoded_image_string)] for e in acc.Images(t)] for t in tags["images"]},
}))
"#;
    let out = Command::new(services_bin("python"))
        .args(["-c", script])
        .arg(&logs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (key, expected) in &log {
        let mut got: Vec<(u64, f32)> = read["scalars"][key]
            .as_array()
            .unwrap_or_else(|| panic!("tensorboard has no scalar {key}: {read}"))
            .iter()
            .map(|p| (p[0].as_u64().unwrap(), p[1].as_f64().unwrap() as f32))
            .collect();
        got.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(
            got,
            as_f32(expected),
            "TensorBoard scalar {key} (tensorboard package)"
        );
    }
    let clarke = &read["images"]["plots/clarke_grid"][0];
    let png = std::fs::metadata(run.join("plots/test/clarke_grid.png"))
        .unwrap()
        .len();
    assert_eq!(clarke[0], 12);
    assert_eq!(clarke[3].as_u64(), Some(png), "{read}");
}

#[test]
fn a_dead_server_neither_fails_nor_slows_training_and_runs_sync_sends_the_run_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (plain_dir, dead_dir) = (tmp.path().join("plain"), tmp.path().join("dead"));
    std::fs::create_dir_all(&plain_dir).unwrap();
    std::fs::create_dir_all(&dead_dir).unwrap();
    // Untracked first: it also warms the OS file cache for both.
    let (plain, plain_time) = train(&plain_dir, &[]);
    assert!(plain.status.success(), "{}", stderr(&plain));
    let port = free_port();
    let uri = format!("http://127.0.0.1:{port}");
    let (out, dead_time) = train(&dead_dir, &[format!("logging.mlflow.tracking_uri={uri}")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("MLflow: not everything was sent")
            && stderr(&out).contains("tsfm runs sync"),
        "{}",
        stderr(&out)
    );
    eprintln!("untracked training: {plain_time:?}; tracked to a dead server: {dead_time:?}");
    // Same speed class: no request waits on the training thread.
    assert!(
        dead_time.as_secs_f64() < plain_time.as_secs_f64() * 1.5 + 2.0,
        "tracked to a dead server: {dead_time:?}, untracked: {plain_time:?}"
    );
    let run = run_dir(&dead_dir);
    let records = journal_len(&run);

    let o = tsfm(&["runs", "sync"], &dead_dir);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("not sent: MLflow server http://127.0.0.1:"),
        "{}",
        stderr(&o)
    );

    let server = Mlflow::start(&tmp.path().join("mlflow"), port);
    let o = tsfm(&["runs", "sync"], &dead_dir);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!(": sent {records} record(s) to {uri}")),
        "{}",
        stdout(&o)
    );
    let client = server.client();
    let run_id = mlflow_run_id(&run);
    assert_histories_match(&client, &run_id, &run);
    let got = client.get("runs/get", &[("run_id", &run_id)]).unwrap();
    assert_eq!(got["run"]["info"]["status"], "FINISHED");
    let mut files = BTreeMap::new();
    artifacts(&client, &run_id, "", &mut files);
    assert!(
        files.contains_key("metrics.json") && files.contains_key("logs/train.jsonl"),
        "{files:?}"
    );
    assert!(
        !files.keys().any(|f| f.starts_with("model/")),
        "log_model is off: {files:?}"
    );

    // Again: nothing is sent twice.
    let o = tsfm(&["runs", "sync", run.to_str().unwrap()], &dead_dir);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(": sent 0 record(s)"), "{}", stdout(&o));
    assert_histories_match(&client, &run_id, &run);
    let search = client
        .get(
            "experiments/get-by-name",
            &[("experiment_name", "ttm_demo")],
        )
        .unwrap();
    assert!(search["experiment"]["experiment_id"].is_string());
}

#[test]
fn a_tracked_run_needs_a_server_address_before_it_trains() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tsfm"))
        .args([
            "train",
            "--dry-run",
            "--set",
            "logging.mlflow.experiment=glucose",
        ])
        .env_remove("MLFLOW_TRACKING_URI")
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "logging.mlflow: no tracking server: set logging.mlflow.tracking_uri (e.g. \
             http://login-node:5000) or the MLFLOW_TRACKING_URI environment variable"
        ),
        "{}",
        stderr(&out)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_tsfm"))
        .args([
            "train",
            "--dry-run",
            "--set",
            "logging.mlflow.experiment=glucose",
        ])
        .env("MLFLOW_TRACKING_URI", "file:///tmp/mlruns")
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("MLFLOW_TRACKING_URI: `file:///tmp/mlruns` is not an http:// address"),
        "{}",
        stderr(&out)
    );
}
