//! A LoRA run end to end: `tsfm train` with `finetune_mode: lora`, saved merged or as a PEFT
//! adapter folder; `evaluate --run` and `predict --run` load either and agree.
use std::path::{Path, PathBuf};

mod common;
use common::{repo, stderr, stdout, tsfm};

/// The bundled demo on the 32 -> 16 tiny TTM, trained with LoRA for a few steps.
fn write_config(tmp: &Path, experiment: &str, save: &str) -> PathBuf {
    let repo = repo();
    let yaml = format!(
        "defaults: [models/ttm_default, data/demo]\n\
         model:\n  model_path: {model}\n  params:\n    context_length: 32\n    prediction_length: 16\n\
         data:\n  raw_path: {raw}\n  cache_dir: {cache}\n  batch_size: 32\n\
         training:\n  num_epochs: null\n  max_steps: 6\n  learning_rate: 0.01\n  \
         eval_strategy: steps\n  eval_steps: 3\n  save_strategy: steps\n  save_steps: 3\n  \
         logging_steps: 3\n  finetune_mode: lora\n  lora:\n    rank: 4\n    alpha: 8\n    \
         target_modules: [fc1, fc2]\n    save: {save}\n\
         evaluation:\n  nocturnal:\n    enabled: false\n\
         output:\n  save_dir: tsfm_results\n  experiment_name: {experiment}\n",
        model = repo.join("data/models/ttm-tiny").display(),
        raw = repo.join("data/demo/brist1d/train.csv.gz").display(),
        cache = tmp.join("cache").display(),
    );
    let path = tmp.join(format!("{experiment}.yaml"));
    std::fs::write(&path, yaml).unwrap();
    path
}

/// `model/experiment/run-id` of the experiment's best run.
fn best_run(tmp: &Path, experiment: &str) -> String {
    let dir = tmp.join("tsfm_results/models/ttm").join(experiment);
    let id = std::fs::read_link(dir.join("best_model")).unwrap();
    format!("ttm/{experiment}/{}", id.display())
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every number in `a` and `b` (same structure) within `tol` of each other.
fn assert_numbers_close(a: &serde_json::Value, b: &serde_json::Value, tol: f64, at: &str) {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{at}: {x} vs {y}");
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{at}"
            );
            for (k, v) in x {
                assert_numbers_close(v, &y[k], tol, &format!("{at}.{k}"));
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}");
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                assert_numbers_close(v, w, tol, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}

#[test]
fn a_lora_run_saved_as_an_adapter_evaluates_and_predicts_as_the_merged_run() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    for (experiment, save) in [("lora_merged", "merged"), ("lora_adapter", "adapter")] {
        let config = write_config(t, experiment, save);
        let out = tsfm(&["train", "--config", config.to_str().unwrap()], t);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let merged = best_run(t, "lora_merged");
    let adapter = best_run(t, "lora_adapter");
    let model_dir = |run: &str| t.join("tsfm_results/models").join(run).join("model");
    assert_eq!(
        files(&model_dir(&adapter)),
        [
            "adapter_config.json",
            "adapter_model.safetensors",
            "calibration.json",
            "scaler.json"
        ]
    );
    assert!(model_dir(&merged).join("model.safetensors").is_file());

    let mut reports = Vec::new();
    for run in [&merged, &adapter] {
        let out = tsfm(&["evaluate", "--run", run], t);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).contains("overall: rmse "), "{}", stdout(&out));
        let path = t
            .join("tsfm_results/models")
            .join(run)
            .join("evaluation_report.json");
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        reports.push(report["metrics"].clone());
    }
    assert_numbers_close(&reports[0], &reports[1], 1e-4, "metrics");

    let mut input = String::from("id,timestamp,bg\n");
    for i in 0..40 {
        let minutes = 8 * 60 + 5 * i;
        let bg = 7.0 + 2.0 * (i as f64 / 5.0).sin();
        input.push_str(&format!(
            "p1,2024-01-01T{:02}:{:02}:00,{bg:.3}\n",
            minutes / 60,
            minutes % 60
        ));
    }
    std::fs::write(t.join("input.csv"), input).unwrap();
    let mut forecasts = Vec::new();
    for (run, output) in [(&merged, "merged.csv"), (&adapter, "adapter.csv")] {
        let out = tsfm(
            &[
                "predict",
                "--run",
                run,
                "--input",
                "input.csv",
                "--output",
                output,
            ],
            t,
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let text = std::fs::read_to_string(t.join(output)).unwrap();
        let points: Vec<f64> = text
            .lines()
            .skip(1)
            .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(points.len(), 16);
        forecasts.push(points);
    }
    for (a, b) in forecasts[0].iter().zip(&forecasts[1]) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
}
