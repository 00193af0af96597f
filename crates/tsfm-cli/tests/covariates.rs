//! A checkpoint that reads past covariates (the demo TTM: glucose + carbs + insulin in, glucose
//! out) through train -> evaluate -> predict, and the error when the config's covariates do not
//! match the checkpoint's channels.
use std::path::{Path, PathBuf};

mod common;
use common::{repo, stderr, tsfm};

/// The demo experiment shortened to a few steps, everything under `tmp`.
fn write_config(tmp: &Path, covariates: &str) -> PathBuf {
    let repo = repo();
    let yaml = format!(
        "defaults: [models/ttm_default, data/demo]\n\
         model:\n  model_path: {model}\n  params:\n    context_length: 96\n    prediction_length: 12\n\
         data:\n  raw_path: {raw}\n  cache_dir: cache\n  past_covariates: {covariates}\n\
         training:\n  num_epochs: null\n  max_steps: 4\n  eval_strategy: steps\n  eval_steps: 2\n  \
         save_strategy: steps\n  save_steps: 2\n  logging_steps: 2\n\
         evaluation:\n  nocturnal:\n    enabled: false\n\
         output:\n  save_dir: tsfm_results\n  experiment_name: covariates\n",
        model = repo.join("data/models/ttm-demo").display(),
        raw = repo.join("data/demo/brist1d/train.csv.gz").display(),
    );
    let path = tmp.join("covariates.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// 100 five-minute rows of one patient: glucose, carbs, insulin.
fn write_input(path: &Path, meal: f64) {
    let mut text = String::from("id,timestamp,bg,carbs,insulin\n");
    for i in 0..100 {
        let minutes = 5 * i;
        let bg = 6.0 + (i as f64 / 15.0).sin();
        let carbs = if i == 90 { meal } else { 0.0 };
        let insulin = if i == 90 { meal / 10.0 } else { 0.05 };
        text.push_str(&format!(
            "p01,2024-01-01T{:02}:{:02}:00,{bg:.3},{carbs},{insulin}\n",
            8 + minutes / 60,
            minutes % 60
        ));
    }
    std::fs::write(path, text).unwrap();
}

fn forecast(path: &Path) -> Vec<f64> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,timestamp,step,point"));
    lines
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn a_covariate_checkpoint_trains_evaluates_and_predicts_with_its_covariates() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), "[carbs, insulin]");
    let out = tsfm(&["train", "--config", config.to_str().unwrap()], tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let run = tmp
        .path()
        .join("tsfm_results/models/ttm/covariates/best_model");
    let run = run.canonicalize().unwrap();

    // The run records absolute paths: evaluate from another directory.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = tsfm(
        &["evaluate", "--run", run.to_str().unwrap()],
        elsewhere.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        tmp.path()
            .join("tsfm_results/results/ttm/covariates/evaluation_report.json")
            .is_file()
    );

    // The carbs and insulin columns reach the model: a meal changes the glucose forecast.
    let mut forecasts = Vec::new();
    for meal in [0.0, 80.0] {
        let input = tmp.path().join(format!("in_{meal}.csv"));
        let output = tmp.path().join(format!("out_{meal}.csv"));
        write_input(&input, meal);
        let out = tsfm(
            &[
                "predict",
                "--run",
                run.to_str().unwrap(),
                "--input",
                input.to_str().unwrap(),
                "--output",
                output.to_str().unwrap(),
            ],
            tmp.path(),
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let values = forecast(&output);
        assert_eq!(values.len(), 12);
        assert!(values.iter().all(|v| v.is_finite()));
        forecasts.push(values);
    }
    let largest_change = forecasts[0]
        .iter()
        .zip(&forecasts[1])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(largest_change > 1e-4, "{forecasts:?}");
}

#[test]
fn covariates_that_do_not_match_the_checkpoint_are_a_config_error() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), "[]");
    let out = tsfm(&["train", "--config", config.to_str().unwrap()], tmp.path());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(
        message.contains(
            "past_covariates has 0 channels, the TTM checkpoint expects 2 \
             (num_input_channels minus forecast channels); the data gives the target `bg` \
             plus past covariates []: set data.past_covariates to match the checkpoint"
        ),
        "{message}"
    );
    assert!(!message.contains("panicked"), "{message}");
    // Nothing was trained: no run directory.
    assert!(!tmp.path().join("tsfm_results/models").exists());
}
