//! Chronos-Bolt and Chronos-T5 through the binary: `predict` on a CSV gives the official
//! pipelines' numbers (the reference fixtures of `crates/tsfm-models/tests/data/`), and a Bolt
//! run trains, evaluates and is compared side by side with a TTM run.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{repo, stderr, stdout, tsfm};

fn fixture_dir(family: &str) -> PathBuf {
    repo().join("crates/tsfm-models/tests/data").join(family)
}

/// Every f32 tensor of a fixture file: name -> (shape, values).
fn tensors(path: &Path) -> HashMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .filter(|(_, t)| t.dtype() == safetensors::Dtype::F32)
        .map(|(name, t)| {
            let values = t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, (t.shape().to_vec(), values))
        })
        .collect()
}

/// The fixture's `[series, time]` context as a long CSV, 5-minute steps, NaN as empty cells.
fn write_context(path: &Path, context: &(Vec<usize>, Vec<f32>)) {
    let (shape, values) = context;
    let mut text = String::from("id,timestamp,value\n");
    for s in 0..shape[0] {
        for t in 0..shape[1] {
            let v = values[s * shape[1] + t];
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
}

/// One output row: id, step, the numeric cells after `step`.
type Row = (String, usize, Vec<f64>);

/// The CSV's header and rows.
fn read_output(path: &Path) -> (Vec<String>, Vec<Row>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            let values = cells[3..].iter().map(|c| c.parse().unwrap()).collect();
            (cells[0].to_string(), cells[2].parse().unwrap(), values)
        })
        .collect();
    (header, rows)
}

/// `actual` equals `expected` to the fixtures' tolerance: 1e-5 of the series' magnitude plus
/// 1e-4 relative (random-init models forecast far outside their input's range).
fn assert_close(what: &str, actual: f64, expected: f32, scale: f32) {
    let tol = 1e-5 * f64::from(scale.abs().max(1.0)) + 1e-4 * f64::from(expected.abs());
    assert!(
        (actual - f64::from(expected)).abs() <= tol,
        "{what}: {actual} vs {expected}"
    );
}

/// Largest |value| of series `s` in a `[series, time]` tensor (NaN skipped).
fn magnitude(context: &(Vec<usize>, Vec<f32>), s: usize) -> f32 {
    let len = context.0[1];
    context.1[s * len..(s + 1) * len]
        .iter()
        .filter(|v| !v.is_nan())
        .fold(0.0f32, |m, v| m.max(v.abs()))
}

/// `tsfm predict --model-path MODEL --input INPUT --output OUT EXTRA...` in `cwd`.
fn predict(model: &Path, input: &Path, out: &str, extra: &[&str], cwd: &Path) -> Output {
    let mut args = vec![
        "predict",
        "--model-path",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        out,
    ];
    args.extend_from_slice(extra);
    tsfm(&args, cwd)
}

#[test]
fn bolt_predict_matches_the_pipeline_quantiles_and_rollout() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture_dir("chronos-bolt");
    let context = &tensors(&dir.join("inputs.safetensors"))["context"];
    let expected = tensors(&dir.join("outputs.safetensors"));
    let input = tmp.path().join("in.csv");
    write_context(&input, context);
    let model = dir.join("model");
    let run = |out: &str, extra: &[&str]| {
        let o = predict(&model, &input, out, extra, tmp.path());
        assert!(o.status.success(), "{}", stderr(&o));
        read_output(&tmp.path().join(out))
    };

    // predict_quantiles(context, [0.1, 0.5, 0.9]): (quantiles [4, 16, 3], mean [4, 16]).
    let (header, rows) = run("q.csv", &["--quantiles", "0.1,0.5,0.9"]);
    assert_eq!(
        header,
        ["id", "timestamp", "step", "point", "q0.1", "q0.5", "q0.9"]
    );
    let (q, mean) = (
        &expected["predict_quantiles_q"].1,
        &expected["predict_quantiles_mean"].1,
    );
    assert_eq!(rows.len(), 4 * 16);
    for (id, step, values) in &rows {
        let s: usize = id[1..].parse().unwrap();
        let (h, scale) = (step - 1, magnitude(context, s));
        assert_close("point", values[0], mean[s * 16 + h], scale);
        for l in 0..3 {
            assert_close("quantile", values[1 + l], q[(s * 16 + h) * 3 + l], scale);
        }
    }

    // predict(context, 2H): the median path of the rollout ([4, 9, 32], level 0.5 = index 4).
    let (_, rows) = run("rollout.csv", &["--horizon", "32"]);
    let rollout = &expected["pipeline_predict_2h"].1;
    assert_eq!(rows.len(), 4 * 32);
    for (id, step, values) in &rows {
        let s: usize = id[1..].parse().unwrap();
        let want = rollout[(s * 9 + 4) * 32 + step - 1];
        assert_close("rollout", values[0], want, magnitude(context, s));
    }

    // Beyond the rollout limit (the context length): exit 2 naming the limit.
    let o = predict(&model, &input, "x.csv", &["--horizon", "65"], tmp.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--horizon 65: this chronos_bolt checkpoint forecasts 1 to 64 steps"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn t5_greedy_predict_matches_generate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture_dir("chronos-t5");
    let context = &tensors(&dir.join("inputs.safetensors"))["context"];
    let greedy = &tensors(&dir.join("outputs.safetensors"))["greedy_values"].1;
    let input = tmp.path().join("in.csv");
    write_context(&input, context);
    let model = dir.join("model");
    let o = predict(
        &model,
        &input,
        "g.csv",
        &["--decoding", "greedy"],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (header, rows) = read_output(&tmp.path().join("g.csv"));
    assert_eq!(header, ["id", "timestamp", "step", "point"]);
    assert_eq!(rows.len(), 4 * 8);
    for (id, step, values) in &rows {
        let s: usize = id[1..].parse().unwrap();
        assert_close(
            "greedy",
            values[0],
            greedy[s * 8 + step - 1],
            magnitude(context, s),
        );
    }

    // Sampled: the same seed gives the same file, another seed another one.
    let sample = |out: &str, seed: &str| {
        let o = predict(
            &model,
            &input,
            out,
            &[
                "--num-samples",
                "8",
                "--seed",
                seed,
                "--quantiles",
                "0.1,0.9",
            ],
            tmp.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read_to_string(tmp.path().join(out)).unwrap()
    };
    let a = sample("a.csv", "7");
    assert_eq!(a, sample("b.csv", "7"));
    assert_ne!(a, sample("c.csv", "8"));
    assert!(a.starts_with("id,timestamp,step,point,q0.1,q0.9\n"), "{a}");
}

/// A Bolt run and a TTM run on the demo data, evaluated, then `tsfm compare` lists both.
#[test]
fn bolt_and_ttm_runs_train_evaluate_and_compare_side_by_side() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = repo();
    let raw = repo.join("data/demo/brist1d/train.csv.gz");
    let train = |config: &str, model: PathBuf, context: u32| {
        let mut args: Vec<String> = vec!["train".into(), "--config".into(), config.into()];
        for kv in [
            format!("data.raw_path={}", raw.display()),
            format!("model.model_path={}", model.display()),
            format!("model.params.context_length={context}"),
            "model.params.prediction_length=16".into(),
            "data.past_covariates=[]".into(),
            "training.max_steps=4".into(),
            "training.eval_steps=4".into(),
            "training.save_steps=4".into(),
            "training.early_stopping.enabled=false".into(),
            "data.batch_size=32".into(),
            "data.cache_dir=cache".into(),
        ] {
            args.push("--set".into());
            args.push(kv);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = tsfm(&args, tmp.path());
        assert!(o.status.success(), "{}", stderr(&o));
    };
    train(
        repo.join("configs/experiments/chronos_bolt_demo.yaml")
            .to_str()
            .unwrap(),
        fixture_dir("chronos-bolt").join("model"),
        64,
    );
    train(
        repo.join("configs/experiments/ttm_demo.yaml")
            .to_str()
            .unwrap(),
        repo.join("data/models/ttm-tiny"),
        32,
    );
    for run in [
        "tsfm_results/models/chronos_bolt/chronos_bolt_demo/best_model",
        "tsfm_results/models/ttm/ttm_demo/best_model",
    ] {
        let o = tsfm(&["evaluate", "--run", run], tmp.path());
        assert!(o.status.success(), "{run}: {}", stderr(&o));
    }
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            tmp.path()
                .join("tsfm_results/results/chronos_bolt/chronos_bolt_demo/evaluation_report.json"),
        )
        .unwrap(),
    )
    .unwrap();
    // Bolt's own quantiles (0.1 ... 0.9) give the 80 % interval and WQL without calibration;
    // the 90 % interval needs levels it does not have.
    let probabilistic = &report["metrics"]["probabilistic"];
    let interval = |nominal: f64| {
        probabilistic["central_intervals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["nominal"].as_f64() == Some(nominal))
            .unwrap()["coverage"]
            .clone()
    };
    assert!(interval(0.8).as_f64().is_some(), "{probabilistic}");
    assert!(interval(0.9).is_null(), "{probabilistic}");
    assert!(probabilistic["wql"].as_f64().is_some(), "{probabilistic}");
    assert_eq!(probabilistic["levels"].as_array().unwrap().len(), 9);
    assert!(
        !tmp.path()
            .join("tsfm_results/models/chronos_bolt/chronos_bolt_demo/best_model/model/calibration.json")
            .exists()
    );
    let o = tsfm(&["compare"], tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stdout(&o);
    assert!(table.contains("chronos_bolt/chronos_bolt_demo"), "{table}");
    assert!(table.contains("ttm/ttm_demo"), "{table}");
}
