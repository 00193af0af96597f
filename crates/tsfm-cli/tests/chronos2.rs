//! Chronos-2 through the binary: the demo (glucose with two insulin covariates) trains,
//! evaluates with its own quantiles and is compared beside a TTM run; a run with a
//! known-future covariate trains and evaluates; the configurations only Chronos-2 accepts, or
//! that it refuses, exit 2 naming the key; the upstream BrisT1D experiment validates without
//! its hub checkpoint.
use std::path::Path;

mod common;
use common::{repo, stderr, stdout, tsfm};

/// `tsfm train --config EXPERIMENT --set ...` on the bundled demo data, shortened.
fn train(cwd: &Path, experiment: &str, model: &str, extra: &[&str]) -> std::process::Output {
    let repo = repo();
    let mut args: Vec<String> = vec!["train".into(), "--config".into(), experiment.into()];
    for kv in [
        format!(
            "data.raw_path={}",
            repo.join("data/demo/brist1d/train.csv.gz").display()
        ),
        format!("model.model_path={}", repo.join(model).display()),
        "training.max_steps=4".into(),
        "training.eval_steps=2".into(),
        "training.save_steps=2".into(),
        "data.batch_size=16".into(),
        "data.cache_dir=cache".into(),
    ]
    .iter()
    .map(String::as_str)
    .chain(extra.iter().copied())
    {
        args.push("--set".into());
        args.push(kv.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tsfm(&args, cwd)
}

fn report(cwd: &Path, experiment: &str) -> serde_json::Value {
    let path = cwd.join(format!(
        "tsfm_results/results/chronos2/{experiment}/evaluation_report.json"
    ));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_chronos2_demo_trains_evaluates_with_its_quantiles_and_is_compared() {
    let tmp = tempfile::tempdir().unwrap();
    let o = train(
        tmp.path(),
        "experiments/chronos2_demo",
        "data/models/chronos2-demo",
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let run = "tsfm_results/models/chronos2/chronos2_demo/best_model";
    // The saved model is a Chronos-2 checkpoint with the demo's shape (96 steps, 2 patches).
    let saved: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join(run).join("model/config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(saved["chronos_config"]["context_length"], 96);
    assert_eq!(saved["chronos_config"]["max_output_patches"], 2);

    let o = tsfm(&["evaluate", "--run", run], tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let report = report(tmp.path(), "chronos2_demo");
    // Chronos-2's own quantiles feed the probabilistic metrics (WQL, interval coverage); no
    // calibration is fitted for a quantile model.
    let probabilistic = &report["metrics"]["probabilistic"];
    assert!(probabilistic["wql"].as_f64().is_some(), "{probabilistic}");
    let coverage = probabilistic["intervals"][0]["coverage"].as_f64();
    assert!(
        coverage.is_some_and(|c| (0.0..=1.0).contains(&c)),
        "{probabilistic}"
    );
    assert!(!tmp.path().join(run).join("model/calibration.json").exists());

    let o = train(
        tmp.path(),
        "experiments/ttm_demo",
        "data/models/ttm-demo",
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tsfm(
        &[
            "evaluate",
            "--run",
            "tsfm_results/models/ttm/ttm_demo/best_model",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tsfm(&["compare"], tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stdout(&o);
    assert!(table.contains("chronos2/chronos2_demo"), "{table}");
    assert!(table.contains("ttm/ttm_demo"), "{table}");
}

#[test]
fn a_known_future_covariate_trains_and_evaluates() {
    let tmp = tempfile::tempdir().unwrap();
    // Insulin declared known ahead (a planned bolus), IOB from the past only.
    let o = train(
        tmp.path(),
        "experiments/chronos2_demo",
        "data/models/chronos2-demo",
        &[
            "data.past_covariates=[iob]",
            "data.future_covariates=[insulin]",
            "output.experiment_name=chronos2_known_future",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let run = "tsfm_results/models/chronos2/chronos2_known_future/best_model";
    let o = tsfm(&["evaluate", "--run", run], tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let rmse = &report(tmp.path(), "chronos2_known_future")["metrics"]["overall"]["rmse"];
    assert!(rmse.as_f64().is_some_and(f64::is_finite), "{rmse}");

    // predict --run reads the planned insulin from the horizon rows (12 = the run's horizon).
    let predict = |bolus: f64, horizon_rows: usize, insulin_there: bool| {
        let mut text = String::from("id,timestamp,bg,insulin\n");
        for t in 0..120 + horizon_rows {
            let stamp = format!("2024-01-01T{:02}:{:02}:00", t * 5 / 60, t * 5 % 60);
            let bg = if t < 120 {
                format!("{:.3}", 7.0 + (t as f64 / 9.0).sin())
            } else {
                String::new()
            };
            let insulin = match t {
                _ if t >= 120 && !insulin_there => String::new(),
                122 => bolus.to_string(),
                _ => "0.05".into(),
            };
            text.push_str(&format!("p1,{stamp},{bg},{insulin}\n"));
        }
        std::fs::write(tmp.path().join("in.csv"), text).unwrap();
        let o = tsfm(
            &[
                "predict", "--run", run, "--input", "in.csv", "--output", "out.csv",
            ],
            tmp.path(),
        );
        let forecast = std::fs::read_to_string(tmp.path().join("out.csv")).unwrap_or_default();
        let _ = std::fs::remove_file(tmp.path().join("out.csv"));
        (o, forecast)
    };
    let (o, none) = predict(0.05, 12, true);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(none.lines().count(), 13, "{none}");
    assert!(
        none.lines()
            .nth(1)
            .unwrap()
            .starts_with("p1,2024-01-01T10:00:00,1,"),
        "{none}"
    );
    let (o, bolus) = predict(8.0, 12, true);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(none, bolus, "the planned bolus did not reach the forecast");
    // Without its horizon values the known-future covariate is exit 2, naming it.
    let (o, _) = predict(0.05, 0, false);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the run reads `insulin` as known-future covariate(s): give 12 rows"),
        "{}",
        stderr(&o)
    );
}

/// A derived known-future covariate (IOB from insulin) needs no horizon rows: without them it
/// follows from the doses given (none planned); with planned insulin in horizon rows it moves.
#[test]
fn a_derived_known_future_covariate_follows_the_doses_given() {
    let tmp = tempfile::tempdir().unwrap();
    let o = train(
        tmp.path(),
        "experiments/chronos2_demo",
        "data/models/chronos2-demo",
        &[
            "data.past_covariates=[]",
            "data.future_covariates=[iob]",
            "output.experiment_name=chronos2_iob_ahead",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let run = "tsfm_results/models/chronos2/chronos2_iob_ahead/best_model";
    let predict = |rows: usize, bolus: f64| {
        let mut text = String::from("id,timestamp,bg,insulin\n");
        for t in 0..120 + rows {
            let stamp = format!("2024-01-01T{:02}:{:02}:00", t * 5 / 60, t * 5 % 60);
            let bg = if t < 120 {
                format!("{:.3}", 7.0 + (t as f64 / 9.0).sin())
            } else {
                String::new()
            };
            let insulin = if t == 121 { bolus } else { 0.05 };
            text.push_str(&format!("p1,{stamp},{bg},{insulin}\n"));
        }
        std::fs::write(tmp.path().join("in.csv"), text).unwrap();
        let o = tsfm(
            &[
                "predict", "--run", run, "--input", "in.csv", "--output", "out.csv",
            ],
            tmp.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read_to_string(tmp.path().join("out.csv")).unwrap()
    };
    let without_rows = predict(0, 0.0);
    assert_eq!(without_rows.lines().count(), 13, "{without_rows}");
    // Horizon rows with the basal only: the same IOB path as no rows at all but for the basal.
    let basal = predict(12, 0.05);
    let bolus = predict(12, 6.0);
    assert_eq!(basal.lines().count(), 13);
    assert_ne!(basal, bolus, "a planned bolus did not move the forecast");
}

#[test]
fn configurations_outside_the_family_exit_2_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    for (experiment, set, expected) in [
        (
            "experiments/ttm_demo",
            "data.future_covariates=[insulin]",
            "data.future_covariates: ttm cannot use known-future covariates; move them to \
             data.past_covariates",
        ),
        (
            "experiments/chronos2_demo",
            "data.features.calendar=true",
            "data.features.calendar: chronos2 has its own time encoding and reads no calendar \
             channels; set data.features.calendar: false",
        ),
    ] {
        let o = tsfm(&["train", "--config", experiment, "--set", set], tmp.path());
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(expected), "{}", stderr(&o));
    }
    assert!(!tmp.path().join("tsfm_results").exists());
}

#[test]
fn the_upstream_brist1d_experiment_validates_without_the_hub_model() {
    let tmp = tempfile::tempdir().unwrap();
    let o = tsfm(
        &[
            "config",
            "validate",
            "--config",
            "experiments/bris_t1d_chronos2",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("config OK: experiment `bris_t1d_chronos2`"),
        "{}",
        stdout(&o)
    );
}
