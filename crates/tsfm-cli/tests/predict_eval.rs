//! `tsfm predict` and `tsfm evaluate` beyond a bare checkpoint: trained runs through their
//! scaler and pipeline, zero-shot result folders, nocturnal output, flag checks, model types
//! this build does not run yet, several channels, a Chronos-Bolt checkpoint.
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{repo, stderr, stdout, tsfm};

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `(header, rows)` of a CSV without quoted cells.
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    (header, rows)
}

fn num(cell: &str) -> f64 {
    cell.parse().unwrap()
}

/// Five-minute timestamps from 2024-01-01 08:00.
fn timestamp(i: usize) -> String {
    let minutes = 8 * 60 + 5 * i;
    format!("2024-01-01T{:02}:{:02}:00", minutes / 60, minutes % 60)
}

/// `id,timestamp,value` rows of `(id, values)`; `None` is an empty cell.
fn write_series(path: &Path, header: &str, series: &[(&str, Vec<Vec<Option<f64>>>)]) {
    let mut text = format!("id,timestamp,{header}\n");
    for (id, rows) in series {
        for (i, row) in rows.iter().enumerate() {
            let cells: Vec<String> = row
                .iter()
                .map(|v| v.map(|v| v.to_string()).unwrap_or_default())
                .collect();
            text.push_str(&format!("{id},{},{}\n", timestamp(i), cells.join(",")));
        }
    }
    std::fs::write(path, text).unwrap();
}

fn one_channel(values: &[f64]) -> Vec<Vec<Option<f64>>> {
    values.iter().map(|&v| vec![Some(v)]).collect()
}

fn wave(n: usize, level: f64, amplitude: f64, period: f64) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let v = level + amplitude * (i as f64 / period).sin();
            (v * 1000.0).round() / 1000.0
        })
        .collect()
}

/// A copy of the tiny TTM checkpoint with `config.json` keys changed.
fn tiny_ttm_with(dir: &Path, changes: &[(&str, serde_json::Value)]) -> PathBuf {
    let src = repo().join("data/models/ttm-tiny");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(src.join("model.safetensors"), dir.join("model.safetensors")).unwrap();
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    for (key, value) in changes {
        config[*key] = value.clone();
    }
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    dir.to_path_buf()
}

/// An experiment on the bundled demo data with a 32 -> 16 TTM, everything under `tmp`.
fn write_config(tmp: &Path, model: &Path, experiment: &str) -> PathBuf {
    let repo = repo();
    let yaml = format!(
        "defaults: [models/ttm_default, data/demo]\n\
         model:\n  model_path: {model}\n  params:\n    context_length: 32\n    prediction_length: 16\n\
         data:\n  raw_path: {raw}\n  cache_dir: {cache}\n  batch_size: 32\n\
         training:\n  num_epochs: null\n  max_steps: 6\n  eval_strategy: steps\n  eval_steps: 3\n  \
         save_strategy: steps\n  save_steps: 3\n  logging_steps: 3\n\
         evaluation:\n  nocturnal:\n    enabled: false\n\
         output:\n  save_dir: tsfm_results\n  experiment_name: {experiment}\n",
        model = model.display(),
        raw = repo.join("data/demo/brist1d/train.csv.gz").display(),
        cache = tmp.join("cache").display(),
    );
    let path = tmp.join(format!("{experiment}.yaml"));
    std::fs::write(&path, yaml).unwrap();
    path
}

/// `(offset, scale)` of the target of `id` in a saved scaler (per-series, else global).
fn affine(scaler: &serde_json::Value, id: &str) -> (f64, f64) {
    let a = scaler["per_series"]
        .get(id)
        .map(|s| &s[0])
        .unwrap_or(&scaler["global"][0]);
    (a["offset"].as_f64().unwrap(), a["scale"].as_f64().unwrap())
}

/// The trained-run path against a hand-made one: scale the input with the run's scaler,
/// forecast with the bare checkpoint, scale back. The checkpoint does no scaling of its own
/// (`scaling: false`), so a wrong or missing scaler changes the numbers.
#[test]
fn predict_with_a_trained_run_applies_its_scaler_and_matches_manual_scaling() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let base = tiny_ttm_with(&t.join("ttm-noscale"), &[("scaling", false.into())]);
    let config = write_config(t, &base, "pe_demo");
    let out = tsfm(&["train", "--config", path_str(&config)], t);
    assert!(out.status.success(), "{}", stderr(&out));

    let experiment = t.join("tsfm_results/models/ttm/pe_demo");
    let run_id = std::fs::read_link(experiment.join("best_model")).unwrap();
    let model_dir = experiment.join(&run_id).join("model");
    let scaler: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model_dir.join("scaler.json")).unwrap())
            .unwrap();
    // A patient the run was trained on (its own scaling) and an unseen one (global scaling).
    let known = scaler["per_series"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    // In id order, as the output lists series.
    let mut series = [
        (known.as_str(), wave(40, 7.0, 2.0, 5.0)),
        ("new-patient", wave(40, 10.0, 1.5, 3.0)),
    ];
    series.sort_by(|a, b| a.0.cmp(b.0));
    let input = t.join("input.csv");
    let rows: Vec<(&str, Vec<Vec<Option<f64>>>)> =
        series.iter().map(|(id, v)| (*id, one_channel(v))).collect();
    write_series(&input, "value", &rows);

    let out = tsfm(
        &[
            "predict",
            "--config",
            path_str(&config),
            "--input",
            path_str(&input),
            "--output",
            "by_config.csv",
        ],
        t,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "note: series new-patient not in the run's training data: scaled with its global statistics"
        ),
        "{}",
        stderr(&out)
    );
    let (header, by_config) = read_csv(&t.join("by_config.csv"));
    assert_eq!(header, ["id", "timestamp", "step", "point"]);
    assert_eq!(by_config.len(), 2 * 16);
    for (k, row) in by_config.iter().enumerate() {
        let (s, step) = (k / 16, k % 16 + 1);
        assert_eq!(row[0], series[s].0);
        // The last input row is 08:00 + 39 * 5 min = 11:15.
        assert_eq!(row[1], timestamp(39 + step));
        assert_eq!(row[2], step.to_string());
    }

    // By hand: scaled input -> bare checkpoint -> unscaled output.
    let scaled: Vec<(&str, Vec<Vec<Option<f64>>>)> = series
        .iter()
        .map(|(id, v)| {
            let (offset, scale) = affine(&scaler, id);
            let x: Vec<f64> = v.iter().map(|x| (x - offset) / scale).collect();
            (*id, one_channel(&x))
        })
        .collect();
    write_series(&t.join("scaled.csv"), "value", &scaled);
    let out = tsfm(
        &[
            "predict",
            "--model-path",
            path_str(&model_dir),
            "--input",
            "scaled.csv",
            "--output",
            "bare.csv",
        ],
        t,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("scaler.json that --model-path does not apply"));
    let (_, bare) = read_csv(&t.join("bare.csv"));
    for (a, b) in by_config.iter().zip(&bare) {
        let (offset, scale) = affine(&scaler, &a[0]);
        let manual = num(&b[3]) * scale + offset;
        assert!(
            (num(&a[3]) - manual).abs() < 1e-5,
            "{a:?}: {} vs {manual}",
            a[3]
        );
    }
    // The unscaled input through the bare checkpoint is a different forecast.
    let out = tsfm(
        &[
            "predict",
            "--model-path",
            path_str(&model_dir),
            "--input",
            "input.csv",
            "--output",
            "unscaled.csv",
        ],
        t,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, unscaled) = read_csv(&t.join("unscaled.csv"));
    let largest = by_config
        .iter()
        .zip(&unscaled)
        .map(|(a, b)| (num(&a[3]) - num(&b[3])).abs())
        .fold(0.0, f64::max);
    assert!(largest > 1e-2, "{largest}");

    // --run names the same model; --horizon keeps the first steps.
    let run = format!("ttm/pe_demo/{}", run_id.display());
    let out = tsfm(
        &[
            "predict",
            "--run",
            &run,
            "--input",
            "input.csv",
            "--output",
            "by_run.csv",
        ],
        t,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(t.join("by_run.csv")).unwrap(),
        std::fs::read_to_string(t.join("by_config.csv")).unwrap()
    );
    let out = tsfm(
        &[
            "predict",
            "--config",
            path_str(&config),
            "--input",
            "input.csv",
            "--output",
            "short.csv",
            "--horizon",
            "5",
        ],
        t,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, short) = read_csv(&t.join("short.csv"));
    let firsts: Vec<&Vec<String>> = by_config.iter().filter(|r| num(&r[2]) <= 5.0).collect();
    assert_eq!(short.iter().collect::<Vec<_>>(), firsts);

    // Calendar covariates reach the model as known-future inputs; this checkpoint has no
    // exogenous channels, so they leave the forecast as it was.
    let out = tsfm(
        &[
            "predict",
            "--config",
            path_str(&config),
            "--set",
            "data.features.calendar=true",
            "--input",
            "input.csv",
            "--output",
            "calendar.csv",
        ],
        t,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(t.join("calendar.csv")).unwrap(),
        std::fs::read_to_string(t.join("by_config.csv")).unwrap()
    );

    // The run's calibrated quantiles answer --quantiles; a one-row series cannot be put on a
    // grid and is named, not silently dropped.
    let mut with_lonely = rows.clone();
    with_lonely.push(("lonely", one_channel(&[6.0])));
    write_series(&t.join("lonely.csv"), "value", &with_lonely);
    let out = tsfm(
        &[
            "predict",
            "--run",
            &run,
            "--input",
            "lonely.csv",
            "--output",
            "quantiles.csv",
            "--quantiles",
            "0.1,0.9",
        ],
        t,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("series lonely have fewer than 2 rows"),
        "{}",
        stderr(&out)
    );
    let (header, quantiles) = read_csv(&t.join("quantiles.csv"));
    assert_eq!(header, ["id", "timestamp", "step", "point", "q0.1", "q0.9"]);
    assert_eq!(quantiles.len(), 2 * 16);
    for (q, p) in quantiles.iter().zip(&by_config) {
        assert_eq!(q[3], p[3], "the point forecast is unchanged");
        assert!(num(&q[4]) < num(&q[3]) && num(&q[3]) < num(&q[5]), "{q:?}");
    }

    // An experiment that was never trained has nothing to forecast with.
    let out = tsfm(
        &[
            "predict",
            "--config",
            path_str(&config),
            "--set",
            "output.experiment_name=untrained",
            "--input",
            "input.csv",
            "--output",
            "x.csv",
        ],
        t,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("experiment `untrained` has no trained model yet"),
        "{}",
        stderr(&out)
    );
}

/// Zero-shot evaluation writes under the config's experiment, or `zero_shot_<checkpoint>`;
/// night metrics are printed and compared only when the config enables them.
#[test]
fn zero_shot_evaluation_folders_and_nocturnal_output() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let repo = repo();
    let tiny = repo.join("data/models/ttm-tiny");
    // The config's own model is another checkpoint: --model-path replaces it.
    let other = tiny_ttm_with(&t.join("other"), &[]);
    let config = write_config(t, &other, "zs_exp");
    let out = tsfm(
        &[
            "evaluate",
            "--config",
            path_str(&config),
            "--model-path",
            path_str(&tiny),
        ],
        t,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    assert!(printed.contains("60min: model "), "{printed}");
    assert!(!printed.contains("night"), "{printed}");
    assert!(!printed.contains("nocturnal"), "{printed}");
    let results = t.join("tsfm_results/results/ttm");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(results.join("zs_exp/evaluation_report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["experiment"], "zs_exp");
    assert_eq!(report["run_id"], format!("zero-shot:{}", tiny.display()));
    assert_eq!(report["nocturnal_enabled"], false);
    let out = tsfm(&["compare", "--experiment", "zs_exp"], t);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("rmse_60min"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("night_rmse"), "{}", stdout(&out));

    let out = tsfm(
        &[
            "evaluate",
            "--config",
            path_str(&config),
            "--model-path",
            path_str(&tiny),
            "--set",
            "evaluation.nocturnal.enabled=true",
        ],
        t,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("night (00:00-06:00 targets) RMSE "),
        "{}",
        stdout(&out)
    );
    let out = tsfm(&["compare", "--experiment", "zs_exp"], t);
    assert!(stdout(&out).contains("night_rmse"), "{}", stdout(&out));

    // Prediction with --config and --model-path: the config's preprocessing around that
    // checkpoint. It has no scaler.json, so the model sees the file's units and the forecast
    // is the bare checkpoint's.
    let input = t.join("in.csv");
    write_series(
        &input,
        "value",
        &[
            ("a", one_channel(&wave(40, 6.0, 1.0, 6.0))),
            ("b", one_channel(&wave(30, 9.0, 2.0, 4.0))),
        ],
    );
    let out = tsfm(
        &[
            "predict",
            "--config",
            path_str(&config),
            "--model-path",
            path_str(&tiny),
            "--input",
            "in.csv",
            "--output",
            "with_config.csv",
        ],
        t,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("has no scaler.json"),
        "{}",
        stderr(&out)
    );
    let out = predict_tiny(&[], &input, t);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(t.join("with_config.csv")).unwrap(),
        std::fs::read_to_string(t.join("out.csv")).unwrap()
    );

    // No config: the embedded demo experiment's data, but its own results folder.
    let out = tsfm(
        &[
            "evaluate",
            "--model-path",
            path_str(&tiny),
            "--set",
            &format!(
                "data.raw_path={}",
                repo.join("data/demo/brist1d/train.csv.gz").display()
            ),
            "--set",
            &format!("data.cache_dir={}", t.join("cache").display()),
        ],
        t,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(results.join("zero_shot_ttm-tiny/evaluation_report.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(report["experiment"], "zero_shot_ttm-tiny");
    assert!(!results.join("ttm_demo").exists());
}

fn predict_tiny(args: &[&str], input: &Path, cwd: &Path) -> Output {
    let model = repo().join("data/models/ttm-tiny");
    let mut all = vec![
        "predict",
        "--model-path",
        path_str(&model),
        "--input",
        path_str(input),
        "--output",
        "out.csv",
    ];
    all.extend_from_slice(args);
    tsfm(&all, cwd)
}

#[test]
fn predict_flags_are_checked_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let input = t.join("in.csv");
    write_series(
        &input,
        "value",
        &[("a", one_channel(&wave(40, 6.0, 1.0, 6.0)))],
    );
    for (args, message) in [
        (
            vec!["--quantiles", "0.1,1.5"],
            "error: --quantiles: 1.5 is not a level between 0 and 1 (exclusive); write levels like 0.1,0.5,0.9\n",
        ),
        (
            vec!["--quantiles", "0.9,0.1"],
            "error: --quantiles: levels must be increasing without repeats, but 0.9 is followed by 0.1 in 0.9,0.1; write e.g. 0.1,0.5,0.9\n",
        ),
        (
            vec!["--decoding", "beam"],
            "error: --decoding: `beam` is neither `greedy` nor `sample`\n",
        ),
        (
            vec!["--num-samples", "0"],
            "error: --num-samples: 0 samples cannot make a forecast; give 1 or more\n",
        ),
        (
            vec!["--quantiles", "0.1,0.5,0.9"],
            "error: --quantiles: this ttm checkpoint gives point forecasts only and has no calibration.json, so no q<level> columns can be written; forecast with `--run RUN` (a run trained by tsfm keeps calibrated quantiles) or drop --quantiles\n",
        ),
        (
            vec!["--horizon", "17"],
            "error: --horizon 17: this ttm checkpoint forecasts 1 to 16 steps\n",
        ),
        (
            vec!["--batch-size", "0"],
            "error: --batch-size: `0` is not a positive integer\n",
        ),
    ] {
        let out = predict_tiny(&args, &input, t);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(stderr(&out), message, "{args:?}");
        assert!(!t.join("out.csv").exists());
    }
    // Sampling flags change nothing for TTM: a warning, and the forecast.
    let out = predict_tiny(&["--decoding", "sample", "--seed", "3"], &input, t);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with(
            "warning: --decoding, --seed only affect(s) sampling models (Chronos-T5); ttm forecasts deterministically, ignored\n"
        ),
        "{}",
        stderr(&out)
    );
    let (_, rows) = read_csv(&t.join("out.csv"));
    assert_eq!(rows.len(), 16);
    // A smaller horizon keeps the first steps of the same forecast.
    std::fs::rename(t.join("out.csv"), t.join("full.csv")).unwrap();
    let out = predict_tiny(&["--horizon", "4"], &input, t);
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, full) = read_csv(&t.join("full.csv"));
    let (_, four) = read_csv(&t.join("out.csv"));
    assert_eq!(four, full[..4].to_vec());
}

/// Shorter than the context (20 of 32): left-padded with zeros marked unobserved, the rule of
/// TinyTimeMixerForPrediction.forward.
#[test]
fn a_series_shorter_than_the_context_is_padded_as_the_model_does() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let values: Vec<f64> = (0..20)
        .map(|i| ((7.0 + 1.5 * (i as f64 / 4.0).sin()) * 1000.0).round() / 1000.0)
        .collect();
    let input = t.join("short.csv");
    write_series(&input, "value", &[("s", one_channel(&values))]);
    let out = predict_tiny(&[], &input, t);
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, rows) = read_csv(&t.join("out.csv"));
    assert_eq!(rows.len(), 16);
    assert_eq!(rows[0][1], timestamp(20));
    // tsfm_public 0.3.11: TinyTimeMixerForPrediction.from_pretrained("data/models/ttm-tiny")
    // (past_values = these 20 values, past_observed_mask = ones): first 4 steps.
    for (row, want) in rows.iter().zip([5.508544, 7.9881353, 7.4144187, 6.4525146]) {
        assert!((num(&row[3]) - want).abs() < 1e-4, "{row:?} vs {want}");
    }
    // One reading: the interval comes from the other series (said so), the rest is padding.
    let one = t.join("one.csv");
    std::fs::write(
        &one,
        "id,timestamp,value\nw,2024-01-01T00:00:00,5.5\nw,2024-01-01T00:05:00,5.6\nx,2024-01-01T00:00:00,5.5\n",
    )
    .unwrap();
    let out = predict_tiny(&[], &one, t);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: series x has one row; interval taken from the others"),
        "{}",
        stderr(&out)
    );
    let (_, rows) = read_csv(&t.join("out.csv"));
    assert_eq!(rows.len(), 32);
    assert_eq!(rows[16][..3], ["x", "2024-01-01T00:05:00", "1"]);
}

#[test]
fn checkpoints_of_other_model_types_exit_2_with_their_type() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let input = t.join("in.csv");
    write_series(
        &input,
        "value",
        &[("a", one_channel(&wave(40, 6.0, 1.0, 6.0)))],
    );
    // Every family detection recognises is built now (Chronos-2 was the last); a model type
    // outside them is named in the error, for predict and evaluate alike.
    let unknown = t.join("llama");
    std::fs::create_dir_all(&unknown).unwrap();
    std::fs::write(unknown.join("config.json"), r#"{"model_type": "llama"}"#).unwrap();
    let out = tsfm(
        &[
            "predict",
            "--model-path",
            path_str(&unknown),
            "--input",
            "in.csv",
            "--output",
            "o.csv",
        ],
        t,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("model_type `llama` is not supported"),
        "{}",
        stderr(&out)
    );
    let out = tsfm(&["evaluate", "--model-path", path_str(&unknown)], t);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("model_type `llama` is not supported"),
        "{}",
        stderr(&out)
    );
}

/// `id,timestamp,a,b`: one output column per channel. The one-channel checkpoint forecasts
/// each on its own; a two-channel copy (channel-independent weights) takes both together and
/// must agree; three columns do not fit two channels.
#[test]
fn several_channels_get_one_column_each() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let a = wave(40, 6.0, 1.0, 6.0);
    let b = wave(40, 120.0, 30.0, 4.0);
    let rows: Vec<Vec<Option<f64>>> = a
        .iter()
        .zip(&b)
        .map(|(&x, &y)| vec![Some(x), Some(y)])
        .collect();
    let input = t.join("ab.csv");
    write_series(&input, "a,b", &[("s1", rows.clone())]);
    let out = predict_tiny(&[], &input, t);
    assert!(out.status.success(), "{}", stderr(&out));
    let (header, both) = read_csv(&t.join("out.csv"));
    assert_eq!(header, ["id", "timestamp", "step", "a", "b"]);
    assert_eq!(both.len(), 16);
    std::fs::rename(t.join("out.csv"), t.join("both.csv")).unwrap();
    for (column, values) in [(3, &a), (4, &b)] {
        let single = t.join("single.csv");
        write_series(&single, "value", &[("s1", one_channel(values))]);
        let out = predict_tiny(&[], &single, t);
        assert!(out.status.success(), "{}", stderr(&out));
        let (_, alone) = read_csv(&t.join("out.csv"));
        for (x, y) in both.iter().zip(&alone) {
            assert_eq!(x[column], y[3]);
        }
    }

    let two = tiny_ttm_with(&t.join("ttm-2ch"), &[("num_input_channels", 2.into())]);
    let out = tsfm(
        &[
            "predict",
            "--model-path",
            path_str(&two),
            "--input",
            "ab.csv",
            "--output",
            "joint.csv",
        ],
        t,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (header, joint) = read_csv(&t.join("joint.csv"));
    assert_eq!(header, ["id", "timestamp", "step", "a", "b"]);
    for (x, y) in both.iter().zip(&joint) {
        for c in [3, 4] {
            assert!((num(&x[c]) - num(&y[c])).abs() < 1e-4, "{x:?} vs {y:?}");
        }
    }
    let abc: Vec<Vec<Option<f64>>> = rows.iter().map(|r| vec![r[0], r[1], Some(1.0)]).collect();
    write_series(&t.join("abc.csv"), "a,b,c", &[("s1", abc)]);
    let out = tsfm(
        &[
            "predict",
            "--model-path",
            path_str(&two),
            "--input",
            "abc.csv",
            "--output",
            "o.csv",
        ],
        t,
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "error: {}: this checkpoint forecasts 2 channels together, but the input has 3 (a, b, c); give exactly 2 value columns\n",
            two.display()
        )
    );
}

/// A Chronos-Bolt checkpoint's point forecast is the package's median: its numbers for the
/// reference fixture (`pipe.predict(context)` in `tsfm-models/tests/data/chronos-bolt`), here
/// from a long CSV.
#[test]
fn a_chronos_bolt_checkpoint_forecasts_the_packages_median() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let bolt = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tsfm-models/tests/data/chronos-bolt");
    let inputs =
        tsfm_models::checkpoint::load_safetensors(&bolt.join("inputs.safetensors")).unwrap();
    let outputs =
        tsfm_models::checkpoint::load_safetensors(&bolt.join("outputs.safetensors")).unwrap();
    // Series 0 and 1 of the fixture (no missing values), 64 steps each.
    let context = &inputs["context"].data;
    let series: Vec<(&str, Vec<Vec<Option<f64>>>)> = ["a", "b"]
        .iter()
        .enumerate()
        .map(|(s, id)| {
            let values: Vec<f64> = context[s * 64..(s + 1) * 64]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            (*id, one_channel(&values))
        })
        .collect();
    write_series(&t.join("in.csv"), "value", &series);
    let model = bolt.join("model");
    let out = tsfm(
        &[
            "predict",
            "--model-path",
            path_str(&model),
            "--input",
            "in.csv",
            "--output",
            "out.csv",
        ],
        t,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (header, rows) = read_csv(&t.join("out.csv"));
    assert_eq!(header, ["id", "timestamp", "step", "point"]);
    assert_eq!(rows.len(), 2 * 16);
    // `pipeline_predict` is `[series, 9 levels, 16 steps]`; the median is level 4.
    let expected = &outputs["pipeline_predict"].data;
    let scales = &outputs["scale"].data;
    for (i, row) in rows.iter().enumerate() {
        let (s, step) = (i / 16, i % 16);
        assert_eq!(row[0], ["a", "b"][s]);
        assert_eq!(row[1], timestamp(64 + step));
        let want = f64::from(expected[(s * 9 + 4) * 16 + step]);
        let tol = 1e-5 * f64::from(scales[s]).max(1.0) + 1e-4 * want.abs();
        assert!((num(&row[3]) - want).abs() <= tol, "{row:?} vs {want}");
    }
}

/// A run trained on glucose works in mmol/L: an input in mg/dL is refused unless `--unit`
/// states it, and then converted on reading, with the forecasts given back in mg/dL.
#[test]
fn a_glucose_run_refuses_mg_dl_input_unless_the_unit_is_stated() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let config = write_config(t, &repo().join("data/models/ttm-tiny"), "units");
    let out = tsfm(&["train", "--config", path_str(&config)], t);
    assert!(out.status.success(), "{}", stderr(&out));
    let mmol = wave(40, 7.0, 2.0, 5.0);
    let mg: Vec<f64> = mmol.iter().map(|v| v * 18.0182).collect();
    write_series(&t.join("mmol.csv"), "value", &[("p", one_channel(&mmol))]);
    write_series(&t.join("mgdl.csv"), "value", &[("p", one_channel(&mg))]);
    let predict = |input: &str, output: &str, extra: &[&str]| {
        let mut args = vec![
            "predict",
            "--config",
            path_str(&config),
            "--input",
            input,
            "--output",
            output,
        ];
        args.extend_from_slice(extra);
        tsfm(&args, t)
    };

    let out = predict("mgdl.csv", "refused.csv", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let mut sorted = mg.clone();
    sorted.sort_by(f64::total_cmp);
    let median = (sorted[19] + sorted[20]) / 2.0;
    let target = "bg";
    assert_eq!(
        stderr(&out).trim_end(),
        format!(
            "error: mgdl.csv: `{target}` has median {median:.1}, which looks like mg/dL, but \
             this run forecasts glucose in mmol/L; state the file's unit with --unit mg/dL \
             (values are converted on reading and the forecasts given back in that unit), or \
             convert the file"
        )
    );
    assert!(!t.join("refused.csv").exists());

    let out = predict("mmol.csv", "mmol_out.csv", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = predict("mgdl.csv", "mg_out.csv", &["--unit", "mg/dL"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, in_mmol) = read_csv(&t.join("mmol_out.csv"));
    let (_, in_mg) = read_csv(&t.join("mg_out.csv"));
    assert_eq!(in_mmol.len(), 16);
    for (a, b) in in_mmol.iter().zip(&in_mg) {
        let (a, b) = (num(&a[3]), num(&b[3]));
        assert!(
            (a * 18.0182 - b).abs() <= 1e-4 * b.abs(),
            "{a} mmol/L vs {b} mg/dL"
        );
    }

    let out = predict("mmol.csv", "x.csv", &["--unit", "mg/dL"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("which looks like mmol/L, but --unit mg/dL was given"),
        "{}",
        stderr(&out)
    );
    let out = predict("mmol.csv", "x.csv", &["--unit", "furlongs"]);
    assert_eq!(
        stderr(&out).trim_end(),
        "error: --unit: expected mg/dL or mmol/L, got `furlongs`"
    );
    let model = repo().join("data/models/ttm-tiny");
    let out = tsfm(
        &[
            "predict",
            "--model-path",
            path_str(&model),
            "--input",
            "mmol.csv",
            "--output",
            "x.csv",
            "--unit",
            "mmol/L",
        ],
        t,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--unit: a checkpoint forecasts in the input's own units"),
        "{}",
        stderr(&out)
    );
}
