//! The `tsfm` binary as a user runs it: output, files and exit codes.
use std::path::{Path, PathBuf};

mod common;
use common::{demo_settings, repo, schedule, set_args, stderr, stdout, tsfm};

#[test]
fn config_show_prints_the_merged_config_with_overrides() {
    let out = tsfm(
        &[
            "config",
            "show",
            "--config",
            "configs/experiments/ttm_demo.yaml",
            "--set",
            "training.learning_rate=5e-5",
            "--batch-size",
            "16",
        ],
        &repo(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let yaml: yaml_serde::Value = yaml_serde::from_str(&stdout(&out)).unwrap();
    assert_eq!(yaml["training"]["learning_rate"].as_f64(), Some(5e-5));
    assert_eq!(yaml["data"]["batch_size"].as_u64(), Some(16));
    assert_eq!(yaml["model"]["model_type"].as_str(), Some("ttm"));
    assert_eq!(yaml["output"]["experiment_name"].as_str(), Some("ttm_demo"));
}

#[test]
fn the_embedded_default_resolves_from_any_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tsfm(&["config", "validate"], tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("config OK: experiment `ttm_demo`"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_config_with_three_mistakes_lists_all_three_and_exits_2() {
    let out = tsfm(
        &[
            "config",
            "validate",
            "--set",
            "training.learnin_rate=1",
            "--set",
            "data.batch_size=-3",
            "--set",
            "model.device=gpu",
        ],
        &repo(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: 3 problems in the configuration:\n\
         \x20 --set: data.batch_size: expected a non-negative integer, got `-3`\n\
         \x20 --set: model.device: expected `auto`, `cpu`, `cuda` or `cuda:N`, got the string `gpu`\n\
         \x20 --set: training.learnin_rate: unknown key; did you mean `learning_rate`?\n"
    );
}

#[test]
fn train_validate_config_stops_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tsfm(&["train", "--validate-config"], tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("config OK"));
    assert!(!tmp.path().join("tsfm_results").exists());
}

#[test]
fn runs_list_on_an_empty_tree_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tsfm(&["runs", "list"], tmp.path());
    assert!(out.status.success());
    assert_eq!(stdout(&out), "no runs under tsfm_results/models\n");
    let out = tsfm(&["runs", "show", "nope"], tmp.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("error: no run matches \"nope\""));
}

/// Two series, 40 five-minute steps; `a` has one missing value.
fn write_input(dir: &Path) -> PathBuf {
    let mut text = String::from("id,timestamp,value\n");
    for (id, offset) in [("a", 6.0f64), ("b", 9.0)] {
        for i in 0..40 {
            let minutes = 8 * 60 + 5 * i;
            let value = if id == "a" && i == 10 {
                String::new()
            } else {
                format!("{:.3}", offset + (i as f64 / 6.0).sin())
            };
            text.push_str(&format!(
                "{id},2024-01-01T{:02}:{:02}:00,{value}\n",
                minutes / 60,
                minutes % 60
            ));
        }
    }
    let path = dir.join("input.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn predict_writes_the_documented_csv_and_matches_tsfm_public() {
    let tmp = tempfile::tempdir().unwrap();
    let input = write_input(tmp.path());
    let output = tmp.path().join("out.csv");
    let model = repo().join("data/models/ttm-tiny");
    let out = tsfm(
        &[
            "predict",
            "--model-path",
            model.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&output).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "id,timestamp,step,point");
    assert_eq!(lines.len(), 1 + 2 * 16);
    assert!(lines[1].starts_with("a,2024-01-01T11:20:00,1,"));
    assert!(lines[16].starts_with("a,2024-01-01T12:35:00,16,"));
    // Series `b` (the last 32 values) through tsfm_public 0.3.11's
    // TinyTimeMixerForPrediction.from_pretrained("data/models/ttm-tiny"): first 4 steps.
    let expected = [
        9.357879638671875,
        9.202134132385254,
        8.946111679077148,
        8.728222846984863,
    ];
    for (step, want) in expected.iter().enumerate() {
        let cells: Vec<&str> = lines[17 + step].split(',').collect();
        assert_eq!(cells[0], "b");
        assert_eq!(cells[2], (step + 1).to_string());
        let got: f64 = cells[3].parse().unwrap();
        assert!(
            (got - want).abs() < 1e-4,
            "step {}: {got} vs {want}",
            step + 1
        );
    }
}

#[test]
fn predict_refuses_what_the_model_cannot_do_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let input = write_input(tmp.path());
    let model = repo().join("data/models/ttm-tiny");
    let out = tsfm(
        &[
            "predict",
            "--model-path",
            model.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            "o.csv",
            "--horizon",
            "99",
        ],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: --horizon 99: this ttm checkpoint forecasts 1 to 16 steps\n"
    );

    let out = tsfm(
        &[
            "predict",
            "--model-path",
            "no/such-model",
            "--input",
            input.to_str().unwrap(),
            "--output",
            "o.csv",
        ],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    let bad = tmp.path().join("bad.csv");
    std::fs::write(
        &bad,
        "id,timestamp,value\na,2024-01-01T00:00:00,abc\na,2024-01-01T00:05:00,5.5\n",
    )
    .unwrap();
    let out = tsfm(
        &[
            "predict",
            "--model-path",
            model.to_str().unwrap(),
            "--input",
            bad.to_str().unwrap(),
            "--output",
            "o.csv",
        ],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.csv:2: column `value` holds text (`abc`...)"),
        "{}",
        stderr(&out)
    );
}

/// A short real training run on the bundled demo data, everything under a temp dir.
#[test]
fn train_writes_the_full_run_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = vec!["train".into()];
    args.extend(set_args(&[demo_settings(), schedule(12, 6, 3)].concat()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = tsfm(&args, tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    assert!(printed.contains("test split RMSE (mmol/L, "), "{printed}");
    assert!(printed.contains("60min: model "), "{printed}");

    let experiment = tmp.path().join("tsfm_results/models/ttm/ttm_demo");
    let best = std::fs::read_link(experiment.join("best_model")).unwrap();
    let run = experiment.join(&best);
    for file in [
        "config.yaml",
        "run.json",
        "metrics.json",
        "logs/train.jsonl",
        "model/config.json",
        "model/model.safetensors",
        "model/scaler.json",
        "checkpoints/checkpoint-12/trainer_state.json",
    ] {
        assert!(
            run.join(file).is_file(),
            "{file} missing in {}",
            run.display()
        );
    }
    // The run's config names its data by absolute path, so `--run` works from any directory.
    let run_config: yaml_serde::Value =
        yaml_serde::from_str(&std::fs::read_to_string(run.join("config.yaml")).unwrap()).unwrap();
    assert_eq!(
        run_config["data"]["cache_dir"].as_str(),
        Some(tmp.path().join("cache").to_str().unwrap())
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["status"], "completed");
    assert_eq!(manifest["seed"], 42);
    // 16 hex digits of the SHA-256 of each raw file (train.csv.gz, and activities.txt beside it).
    let fingerprint = manifest["data_fingerprint"].as_str().unwrap();
    assert!(
        fingerprint
            .split('-')
            .all(|p| p.len() == 16 && p.chars().all(|c| c.is_ascii_hexdigit())),
        "{fingerprint}"
    );
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["global_step"], 12);
    assert_eq!(metrics["total_params"], 11230);
    assert!(metrics["best_eval_loss"].as_f64().is_some());
    // The saved model loads again and forecasts.
    let input = write_input(tmp.path());
    let out = tsfm(
        &[
            "predict",
            "--model-path",
            run.join("model").to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            "p.csv",
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let history = std::fs::read_to_string(
        tmp.path()
            .join("tsfm_results/results/ttm/ttm_demo/run_history.csv"),
    )
    .unwrap();
    assert!(history.starts_with("timestamp,run_id,kind,model,experiment,seed,global_step,train_loss,best_eval_loss,rmse_30min"));
    assert_eq!(history.lines().count(), 2);
    let listed = tsfm(&["runs", "list"], tmp.path());
    assert!(stdout(&listed).contains(best.to_str().unwrap()));

    // Evaluate the run again from its saved model and scaler: the same test numbers.
    let run_id = format!("ttm/ttm_demo/{}", best.display());
    let out = tsfm(&["evaluate", "--run", &run_id], tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let evaluated = stdout(&out);
    let headline = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains("min: model"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(headline(&evaluated), headline(&printed));
    let results = tmp.path().join("tsfm_results/results/ttm/ttm_demo");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(results.join("evaluation_report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["data"]["units"], "mmol/L");
    assert_eq!(report["data"]["split"], "test");
    assert!(
        report["metrics"]["baselines"]["persistence"]["at_horizons"]["60min"]["rmse"].is_number()
    );
    assert!(report["metrics"]["glucose"].is_object());
    for plot in [
        "forecast_samples",
        "rmse_by_horizon",
        "clarke_grid",
        "loss_curves",
    ] {
        for ext in ["png", "svg"] {
            assert!(
                results.join(format!("plots/{plot}.{ext}")).is_file(),
                "{plot}.{ext}"
            );
        }
    }
    assert!(run.join("evaluation_report.json").is_file());

    let out = tsfm(&["compare", &run_id], tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.contains("baseline: persistence"), "{table}");
    assert!(table.contains("rmse_60min"), "{table}");
    for file in ["comparison.md", "rmse_by_horizon.png", "rmse_60min.svg"] {
        assert!(
            results.join("comparison_plots").join(file).is_file(),
            "{file}"
        );
    }
}

#[test]
fn train_dry_run_reports_model_data_and_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = repo();
    let out = tsfm(
        &[
            "train",
            "--dry-run",
            "--set",
            &format!(
                "data.raw_path={}",
                repo.join("data/demo/brist1d/train.csv.gz").display()
            ),
            "--set",
            &format!(
                "model.model_path={}",
                repo.join("data/models/ttm-tiny").display()
            ),
            "--set",
            "model.params.context_length=32",
            "--set",
            "model.params.prediction_length=16",
            // ttm-tiny reads glucose alone (the demo checkpoint also reads carbs and insulin).
            "--set",
            "data.past_covariates=[]",
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("11230 parameters, 11230 trainable"), "{text}");
    assert!(text.contains("steps:  1500 optimizer steps"), "{text}");
    assert!(text.contains("windows train "), "{text}");
    assert!(!tmp.path().join("tsfm_results").exists());
}

#[test]
fn a_checkpoint_shape_that_disagrees_with_the_config_is_a_user_error() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = repo();
    let out = tsfm(
        &[
            "train",
            "--dry-run",
            "--set",
            &format!(
                "model.model_path={}",
                repo.join("data/models/ttm-tiny").display()
            ),
            "--set",
            "model.params.context_length=64",
            "--set",
            "model.params.prediction_length=16",
        ],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("model.params.context_length: the config says 64 but the checkpoint"),
        "{}",
        stderr(&out)
    );
}

/// Names that become folders cannot leave the results tree, and a dry run refuses them too.
#[test]
fn experiment_names_cannot_escape_the_results_folder() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, why) in [
        ("../../evil", "it starts with '.'"),
        (".hidden", "it starts with '.'"),
        ("best_model", "`best_model` is reserved"),
    ] {
        for dry in [true, false] {
            let set = format!("output.experiment_name={name}");
            let mut args = vec!["train", "--set", &set, "--set", "training.max_steps=1"];
            if dry {
                args.push("--dry-run");
            }
            let out = tsfm(&args, tmp.path());
            assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
            assert!(
                stderr(&out).contains(&format!("invalid experiment name \"{name}\": {why}")),
                "{}",
                stderr(&out)
            );
        }
    }
    // Separators inside a name become `_`: one folder under the experiment's model.
    let out = tsfm(
        &[
            "train",
            "--dry-run",
            "--set",
            "output.experiment_name=a/../../b",
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!tmp.path().join("b").exists() && !tmp.path().parent().unwrap().join("b").exists());
}

/// `--run-dir` outside the results folder: the run trains there, `best_model` still lives with
/// the experiment's runs (linked by absolute path), and the point model is calibrated.
#[test]
fn train_into_a_run_dir_anywhere_links_best_model_and_calibrates() {
    let tmp = tempfile::tempdir().unwrap();
    let elsewhere = tmp.path().join("elsewhere/my-run");
    let mut args: Vec<String> = vec![
        "train".into(),
        "--run-dir".into(),
        elsewhere.display().to_string(),
    ];
    let mut kvs = demo_settings();
    kvs.extend([
        "training.max_steps=6".into(),
        "training.eval_steps=6".into(),
        "training.save_steps=6".into(),
        "output.save_metrics=false".into(),
    ]);
    args.extend(set_args(&kvs));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = tsfm(&args, tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let link = tmp
        .path()
        .join("tsfm_results/models/ttm/ttm_demo/best_model");
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        elsewhere.canonicalize().unwrap()
    );
    assert!(elsewhere.join("model/calibration.json").is_file());
    assert!(!elsewhere.join("metrics.json").exists());
    // The manifest keeps the best loss, so a later run is compared with it.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(elsewhere.join("run.json")).unwrap())
            .unwrap();
    assert!(manifest["best_eval_loss"].as_f64().is_some());
}

/// The embedded demo from an empty folder: its data and checkpoint come out of the binary.
#[test]
fn the_demo_runs_from_an_empty_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("user-cache");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tsfm"))
        .args(["train", "--dry-run"])
        .current_dir(tmp.path())
        .env("TSFM_CACHE_DIR", &cache)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("model:  ttm from "), "{printed}");
    assert!(
        printed.contains("ttm-demo (context 96, horizon 12)"),
        "{printed}"
    );
    assert!(printed.contains("data:   `demo_brist1d`: "), "{printed}");
}

/// `-vv` / `--debug` / `logging.level: debug` show the libraries' debug logs; by default only
/// warnings and the results are printed.
#[test]
fn verbosity_flags_and_logging_level_show_debug_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = repo();
    let raw = format!(
        "data.raw_path={}",
        repo.join("data/demo/brist1d/train.csv.gz").display()
    );
    let model = format!(
        "model.model_path={}",
        repo.join("data/models/ttm-tiny").display()
    );
    let dry_run = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--dry-run",
            "--set",
            &raw,
            "--set",
            &model,
            "--set",
            "model.params.context_length=32",
            "--set",
            "model.params.prediction_length=16",
            "--set",
            "data.past_covariates=[]",
        ];
        args.extend_from_slice(extra);
        let out = tsfm(&args, tmp.path());
        assert!(out.status.success(), "{}", stderr(&out));
        stderr(&out)
    };
    let loaded = "loaded ttm checkpoint";
    let quiet = dry_run(&["--set", "logging.level=warn"]);
    assert!(!quiet.contains(loaded), "{quiet}");
    for flags in [
        &["-vv"][..],
        &["--debug"],
        &["--set", "logging.level=debug"],
    ] {
        let text = dry_run(flags);
        assert!(
            text.contains("DEBUG") && text.contains(loaded),
            "{flags:?}: {text}"
        );
    }
    // A flag wins over the config.
    let text = dry_run(&["-v", "--set", "logging.level=debug"]);
    assert!(!text.contains(loaded), "{text}");
}

/// `tsfm train --resume` verifies checkpoints: a damaged newest one is skipped with a warning
/// naming it (the run resumes from the one before), and with none whole it exits 2.
#[test]
fn resume_skips_a_damaged_checkpoint_and_exits_2_when_none_is_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = vec!["train".into(), "--run-dir".into(), "run".into()];
    let mut kvs = demo_settings();
    kvs.extend([
        "training.max_steps=12".into(),
        "training.eval_steps=6".into(),
        "training.save_steps=6".into(),
    ]);
    args.extend(set_args(&kvs));
    let run = |extra: &[&str]| {
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        all.extend_from_slice(extra);
        tsfm(&all, tmp.path())
    };
    let out = run(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ckpts = tmp.path().join("run/checkpoints");
    let damage = |step: u64| {
        let path = ckpts.join(format!("checkpoint-{step}/model.bpk"));
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    };
    damage(12);
    let out = run(&["--resume"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning: ") && err.contains("checkpoint-12 is damaged (model.bpk has "),
        "{err}"
    );
    // The resumed run wrote checkpoint-12 again, whole; damage both now.
    damage(12);
    damage(6);
    let out = run(&["--resume"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("every checkpoint is damaged"),
        "{}",
        stderr(&out)
    );
}

/// `training.batch_shards` reaches the trainer: the checkpoint records it, and a resume with
/// another shard count is refused by key.
#[test]
fn batch_shards_reach_the_trainer_and_bind_the_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let train = |extra: &[&str]| {
        let mut args: Vec<String> = vec!["train".into(), "--run-dir".into(), "run".into()];
        let mut kvs = [demo_settings(), schedule(4, 4, 2)].concat();
        kvs.push("training.batch_shards=3".into());
        args.extend(set_args(&kvs));
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        tsfm(&args, tmp.path())
    };
    let out = train(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            tmp.path()
                .join("run/checkpoints/checkpoint-4/trainer_state.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(state["resume"]["batch_shards"], 3);
    let out = train(&["--resume", "--set", "training.batch_shards=2"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("was written with batch_shards = 3 but this run has 2"),
        "{}",
        stderr(&out)
    );
}
