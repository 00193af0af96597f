//! TimesFM 2.5 through the binary: `predict` on a CSV of variable-length series with missing
//! values gives the official `forecast()` numbers under the README example's settings, the
//! package's dataclass flags and a long autoregressive horizon (the fixtures of
//! `crates/tsfm-models/tests/data/timesfm/forecast-options`); its flags are refused for other
//! families; the TimesFM demo trains, evaluates, predicts from its run and is compared.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod common;
use common::{repo, stderr, stdout, tsfm};

fn data(set: &str) -> PathBuf {
    repo()
        .join("crates/tsfm-models/tests/data/timesfm")
        .join(set)
}

/// Every f32 tensor of a fixture file.
fn tensors(path: &Path) -> HashMap<String, Vec<f32>> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, t)| {
            let v = t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, v)
        })
        .collect()
}

/// The fixture's six series as a long CSV, 5-minute steps, NaN as empty cells.
fn write_series(path: &Path) -> Vec<Vec<f32>> {
    let inputs = tensors(&data("forecast-options").join("inputs.safetensors"));
    let series: Vec<Vec<f32>> = (0..6)
        .map(|i| inputs[&format!("input_{i}")].clone())
        .collect();
    let mut text = String::from("id,timestamp,value\n");
    for (s, values) in series.iter().enumerate() {
        for (t, v) in values.iter().enumerate() {
            let cell = if v.is_nan() {
                String::new()
            } else {
                v.to_string()
            };
            text.push_str(&format!(
                "s{s},2024-01-01T{:02}:{:02}:00,{cell}\n",
                t * 5 / 60,
                t * 5 % 60
            ));
        }
    }
    std::fs::write(path, text).unwrap();
    series
}

/// `tsfm predict --model-path MODEL --input in.csv --output o.csv EXTRA...` in `cwd`.
fn predict_in(cwd: &Path, model: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "predict",
        "--model-path",
        model.to_str().unwrap(),
        "--input",
        "in.csv",
        "--output",
        "o.csv",
    ];
    args.extend_from_slice(extra);
    tsfm(&args, cwd)
}

const LEVELS: &str = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9";

/// `tsfm predict` with the fixture model and `extra` flags, compared with the package's
/// `point_<case>` / `quantiles_<case>` (channel 0 of the package's quantiles is its mean).
fn check_predict(case: &str, horizon: usize, extra: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.csv");
    let series = write_series(&input);
    let model = data("model");
    let h = horizon.to_string();
    let mut args = vec![
        "predict",
        "--model-path",
        model.to_str().unwrap(),
        "--input",
        "in.csv",
        "--output",
        "out.csv",
    ];
    args.extend(["--horizon", &h, "--quantiles", LEVELS]);
    args.extend_from_slice(extra);
    let o = tsfm(&args, tmp.path());
    assert!(o.status.success(), "{case}: {}", stderr(&o));
    let expected = tensors(&data("forecast-options").join("outputs.safetensors"));
    let (point, quantiles) = (
        &expected[&format!("point_{case}")],
        &expected[&format!("quantiles_{case}")],
    );
    let text = std::fs::read_to_string(tmp.path().join("out.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!(
            "id,timestamp,step,point,{}",
            LEVELS
                .split(',')
                .map(|l| format!("q{l}"))
                .collect::<Vec<_>>()
                .join(",")
        )
    );
    let mut rows = 0;
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let s: usize = cells[0][1..].parse().unwrap();
        let step: usize = cells[2].parse().unwrap();
        let scale = series[s]
            .iter()
            .filter(|v| v.is_finite())
            .fold(1f32, |m, v| m.max(v.abs()));
        let close = |what: &str, got: &str, want: f32| {
            let got: f64 = got.parse().unwrap();
            let tol = 1e-5 * f64::from(scale) + 1e-4 * f64::from(want.abs());
            assert!(
                (got - f64::from(want)).abs() <= tol,
                "{case} {what} s{s} step {step}: {got} vs {want}"
            );
        };
        let at = s * horizon + step - 1;
        close("point", cells[3], point[at]);
        for l in 0..9 {
            close("quantile", cells[4 + l], quantiles[at * 10 + 1 + l]);
        }
        rows += 1;
    }
    assert_eq!(rows, 6 * horizon, "{case}");
}

#[test]
fn predict_matches_the_official_forecast_with_the_readme_settings() {
    check_predict("readme", 24, &["--max-context", "64"]);
}

#[test]
fn predict_matches_the_package_dataclass_flags() {
    let off = [
        "--normalize-inputs",
        "false",
        "--use-continuous-quantile-head",
        "false",
        "--fix-quantile-crossing",
        "false",
    ];
    let mut args = vec!["--max-context", "64"];
    args.extend(off);
    check_predict("dataclass", 24, &args);
}

#[test]
fn predict_rolls_out_long_horizons_autoregressively() {
    check_predict(
        "long",
        70,
        &[
            "--max-context",
            "64",
            "--use-continuous-quantile-head",
            "false",
            "--max-horizon",
            "80",
        ],
    );
}

#[test]
fn timesfm_flags_are_checked_and_refused_for_other_families() {
    let tmp = tempfile::tempdir().unwrap();
    write_series(&tmp.path().join("in.csv"));
    let run = |model: &Path, extra: &[&str]| predict_in(tmp.path(), model, extra);
    let bolt = repo().join("crates/tsfm-models/tests/data/chronos-bolt/model");
    let o = run(
        &bolt,
        &["--max-context", "64", "--force-flip-invariance", "false"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "error: --max-context, --force-flip-invariance: TimesFM settings, but this is a chronos_bolt checkpoint; drop them\n"
    );
    // The continuous quantile head of the fixture covers 32 steps.
    let o = run(&data("model"), &["--horizon", "40"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--horizon 40: this timesfm checkpoint forecasts 1 to 32 steps"),
        "{}",
        stderr(&o)
    );
    let o = run(&data("model"), &["--normalize-inputs", "maybe"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--normalize-inputs"), "{}", stderr(&o));
}

#[test]
fn the_timesfm_demo_trains_evaluates_predicts_and_compares() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = repo();
    let raw = repo.join("data/demo/brist1d/train.csv.gz");
    let mut args: Vec<String> = vec![
        "train".into(),
        "--config".into(),
        "experiments/timesfm_demo".into(),
    ];
    for kv in [
        format!("data.raw_path={}", raw.display()),
        format!(
            "model.model_path={}",
            repo.join("data/models/timesfm-demo").display()
        ),
        "training.max_steps=6".into(),
        "training.eval_steps=3".into(),
        "training.save_steps=3".into(),
        "data.batch_size=32".into(),
        "data.cache_dir=cache".into(),
    ] {
        args.push("--set".into());
        args.push(kv);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = tsfm(&args, tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let run = "tsfm_results/models/timesfm/timesfm_demo/best_model";
    let o = tsfm(&["evaluate", "--run", run], tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            tmp.path()
                .join("tsfm_results/results/timesfm/timesfm_demo/evaluation_report.json"),
        )
        .unwrap(),
    )
    .unwrap();
    // TimesFM's own nine quantiles feed the probabilistic metrics; no calibration is fitted.
    let probabilistic = &report["metrics"]["probabilistic"];
    assert_eq!(
        probabilistic["levels"].as_array().unwrap().len(),
        9,
        "{probabilistic}"
    );
    assert!(probabilistic["wql"].as_f64().is_some(), "{probabilistic}");
    assert!(!tmp.path().join(run).join("model/calibration.json").exists());

    // The run forecasts a CSV through its preprocessing, with native quantiles.
    let mut csv = String::from("id,timestamp,glucose\n");
    for t in 0..100 {
        csv.push_str(&format!(
            "a,2024-01-01T{:02}:{:02}:00,{:.1}\n",
            t * 5 / 60,
            t * 5 % 60,
            7.0 + (t as f64 / 9.0).sin()
        ));
    }
    std::fs::write(tmp.path().join("in.csv"), csv).unwrap();
    let o = tsfm(
        &[
            "predict",
            "--run",
            run,
            "--input",
            "in.csv",
            "--output",
            "out.csv",
            "--quantiles",
            "0.1,0.9",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = std::fs::read_to_string(tmp.path().join("out.csv")).unwrap();
    assert_eq!(
        out.lines().next().unwrap(),
        "id,timestamp,step,point,q0.1,q0.9"
    );
    assert_eq!(out.lines().count(), 1 + 12);
    for line in out.lines().skip(1) {
        let v: Vec<f64> = line
            .split(',')
            .skip(3)
            .map(|c| c.parse().unwrap())
            .collect();
        assert!(
            v[1] <= v[0] && v[0] <= v[2],
            "quantiles around the point: {line}"
        );
    }
    let o = tsfm(&["compare"], tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("timesfm/timesfm_demo"),
        "{}",
        stdout(&o)
    );

    // LoRA on every linear layer, saved as a PEFT adapter that `predict --run` loads onto its
    // base checkpoint.
    let mut lora = args.clone();
    lora.extend([
        "--set",
        "training.finetune_mode=lora",
        "--set",
        "training.lora.save=adapter",
    ]);
    lora.extend(["--set", "output.experiment_name=timesfm_lora"]);
    let o = tsfm(&lora, tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let adapter = tmp
        .path()
        .join("tsfm_results/models/timesfm/timesfm_lora/best_model/model");
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(adapter.join("adapter_config.json")).unwrap(),
    )
    .unwrap();
    // 2 layers x (qkv_proj, out, ff0, ff1) + 3 residual blocks (tokenizer, both heads) x 3.
    assert_eq!(
        config["target_modules"].as_array().unwrap().len(),
        17,
        "{config}"
    );
    let run = "tsfm_results/models/timesfm/timesfm_lora/best_model";
    let o = tsfm(
        &[
            "predict", "--run", run, "--input", "in.csv", "--output", "lora.csv",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn hostile_series_exit_2_or_get_the_documented_forecast() {
    let tmp = tempfile::tempdir().unwrap();
    let model = data("model");
    let run = |csv: &str, extra: &[&str]| {
        std::fs::write(tmp.path().join("in.csv"), csv).unwrap();
        predict_in(tmp.path(), &model, extra)
    };
    // A series without any reading: the package fails inside numpy; tsfm names the series.
    let o = run(
        "id,timestamp,value\na,2024-01-01T00:00:00,\na,2024-01-01T00:05:00,\nb,2024-01-01T00:00:00,5\nb,2024-01-01T00:05:00,6\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "error: in.csv: series `a` has no `value` reading to forecast from (all 2 empty); give it readings or leave it out\n"
    );
    // Fewer readings than one patch (8): padded and masked in front, as the package does.
    let o = run(
        "id,timestamp,value\nb,2024-01-01T00:00:00,5\nb,2024-01-01T00:05:00,6\n",
        &["--horizon", "4"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // infer_is_positive only clamps series that are never negative: a negative series keeps
    // negative forecasts; the same series shifted above 0 gets none below 0.
    let wave = |offset: f64| {
        let mut csv = String::from("id,timestamp,value\n");
        for t in 0..40 {
            csv.push_str(&format!(
                "c,2024-01-01T{:02}:{:02}:00,{}\n",
                t * 5 / 60,
                t * 5 % 60,
                offset + (t as f64 / 3.0).sin()
            ));
        }
        csv
    };
    let lows = |csv: String| -> f64 {
        let o = run(&csv, &["--quantiles", "0.1"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = std::fs::read_to_string(tmp.path().join("o.csv")).unwrap();
        out.lines()
            .skip(1)
            .map(|l| l.rsplit(',').next().unwrap().parse::<f64>().unwrap())
            .fold(f64::INFINITY, f64::min)
    };
    assert!(lows(wave(-0.5)) < 0.0);
    assert!(lows(wave(1.0)) >= 0.0);
}
