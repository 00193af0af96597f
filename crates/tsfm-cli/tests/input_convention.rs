//! The one input convention of `tsfm predict` through the binary, for every model family:
//! `id,timestamp,<target>,<covariates...>`, rows after a series' last target reading are the
//! horizon, a covariate filled there is known-future. Chronos-2 uses covariates (its forecasts
//! equal the official pipeline's grouped call); every other family refuses them by name.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod common;
use common::{repo, stderr, tsfm};

fn fixture(family: &str) -> PathBuf {
    repo().join("crates/tsfm-models/tests/data").join(family)
}

/// Every f32 tensor of a fixture file: name -> values.
fn tensors(path: &Path) -> HashMap<String, Vec<f32>> {
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
            (name, values)
        })
        .collect()
}

/// An int64 tensor of a fixture file.
fn int_tensor(path: &Path, name: &str) -> Vec<i64> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensor(name)
        .unwrap()
        .data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn cell(v: Option<f32>) -> String {
    v.filter(|v| v.is_finite())
        .map_or(String::new(), |v| v.to_string())
}

fn timestamp(t: usize) -> String {
    format!("2024-01-01T{:02}:{:02}:00", t * 5 / 60, t * 5 % 60)
}

/// The Chronos-2 fixture's two grouped tasks as a long CSV: `target, pc, kc` histories, then
/// `horizon` rows with the target and `pc` empty and `kc`'s known future filled (`kc_future:
/// false` leaves it empty too).
fn write_grouped(path: &Path, horizon: usize, kc_future: bool) {
    let inputs = tensors(&fixture("chronos2/inputs.safetensors"));
    let mut text = String::from("id,timestamp,target,pc,kc\n");
    for task in 0..2 {
        let target = &inputs[&format!("grouped_target_{task}")];
        let pc = &inputs[&format!("grouped_past_pc_{task}")];
        let kc = &inputs[&format!("grouped_past_kc_{task}")];
        let future = &inputs[&format!("grouped_future_kc_{task}")];
        for t in 0..target.len() {
            text.push_str(&format!(
                "task{task},{},{},{},{}\n",
                timestamp(t),
                cell(Some(target[t])),
                cell(Some(pc[t])),
                cell(Some(kc[t]))
            ));
        }
        for (h, &known) in future.iter().take(horizon).enumerate() {
            text.push_str(&format!(
                "task{task},{},,,{}\n",
                timestamp(target.len() + h),
                cell(kc_future.then_some(known))
            ));
        }
    }
    std::fs::write(path, text).unwrap();
}

/// Output rows: id -> per step, the numeric cells after `step`.
fn read_output(path: &Path) -> (Vec<String>, HashMap<String, Vec<Vec<f64>>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let mut rows: HashMap<String, Vec<Vec<f64>>> = HashMap::new();
    for l in lines {
        let cells: Vec<&str> = l.split(',').collect();
        rows.entry(cells[0].to_string())
            .or_default()
            .push(cells[3..].iter().map(|c| c.parse().unwrap()).collect());
    }
    (header, rows)
}

const LEVELS: &str = "0.01,0.05,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.95,0.99";

/// `tsfm predict --model-path MODEL --input INPUT --output OUTPUT EXTRA...` in `cwd`.
fn predict(
    cwd: &Path,
    model: &Path,
    input: &Path,
    output: &Path,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "predict",
        "--model-path",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    tsfm(&args, cwd)
}

/// One task's output rows (point, then the 13 levels) against the package's `[tasks, 13, h]`
/// quantiles, to the fixtures' tolerance (1e-5 of the history's magnitude + 1e-4 relative).
fn assert_levels(what: &str, rows: &[Vec<f64>], want: &[f32], task: usize, history: &[f32]) {
    let h = rows.len();
    let scale = history.iter().fold(1f32, |m, v| m.max(v.abs()));
    for (t, row) in rows.iter().enumerate() {
        for q in 0..13 {
            let e = want[(task * 13 + q) * h + t];
            let tol = 1e-5 * f64::from(scale) + 1e-4 * f64::from(e.abs());
            assert!(
                (row[1 + q] - f64::from(e)).abs() <= tol,
                "{what} task {task} step {t} level {q}: {} vs {e}",
                row[1 + q]
            );
        }
    }
}

#[test]
fn chronos2_reads_past_only_and_known_future_covariates_as_the_official_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.csv");
    let output = tmp.path().join("out.csv");
    let model = fixture("chronos2/model");
    let expected = tensors(&fixture("chronos2/outputs.safetensors"));
    let inputs = tensors(&fixture("chronos2/inputs.safetensors"));
    for h in [24usize, 40] {
        write_grouped(&input, h, true);
        let out = predict(
            tmp.path(),
            &model,
            &input,
            &output,
            &["--target", "target", "--quantiles", LEVELS],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let (header, rows) = read_output(&output);
        assert_eq!(header[3], "point");
        assert_eq!(header.len(), 4 + 13);
        // `[2, 13, h]`: the pipeline's quantiles of each task's target.
        let want = &expected[&format!("grouped_predict_h{h}")];
        for task in 0..2 {
            let rows = &rows[&format!("task{task}")];
            assert_eq!(rows.len(), h);
            let history = &inputs[&format!("grouped_target_{task}")];
            assert_levels(&format!("h{h}"), rows, want, task, history);
            for row in rows {
                assert_eq!(row[0], row[1 + 6], "point = the median");
            }
        }
    }
    // The same file without `kc`'s future: `kc` is past-only, and the forecast changes.
    write_grouped(&input, 24, false);
    let past_only = tmp.path().join("past_only.csv");
    let out = predict(
        tmp.path(),
        &model,
        &input,
        &past_only,
        &["--target", "target"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, rows) = read_output(&past_only);
    assert_eq!(rows["task0"].len(), 24);
    let want = &expected["grouped_predict_h24"];
    assert!(
        (rows["task0"][0][0] - f64::from(want[6 * 24])).abs() > 1e-4,
        "a past-only kc gave the known-future forecast"
    );
    // --horizon must agree with the horizon rows.
    let out = predict(
        tmp.path(),
        &model,
        &input,
        &past_only,
        &["--target", "target", "--horizon", "12"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--horizon 12: the input gives 24 horizon row(s)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_known_future_covariate_with_holes_is_refused_naming_column_and_series() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.csv");
    write_grouped(&input, 24, true);
    // Empty one `kc` cell in task1's horizon.
    let text = std::fs::read_to_string(&input).unwrap();
    let hole = format!("task1,{},,,", timestamp(40 + 5));
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let at = lines.iter().position(|l| l.starts_with(&hole)).unwrap();
    lines[at] = hole;
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = tsfm(
        &[
            "predict",
            "--model-path",
            fixture("chronos2/model").to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            "out.csv",
            "--target",
            "target",
        ],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("known-future covariate `kc` has holes in the horizon of series `task1` (first at 2024-01-01 03:45"),
        "{err}"
    );
    assert!(!tmp.path().join("out.csv").exists());
}

/// A long CSV of one series `value` + covariate `cov`, then `horizon` rows with `value` empty.
fn write_with_covariate(path: &Path, len: usize, horizon: usize, covariate: bool) {
    let mut text = String::from(if covariate {
        "id,timestamp,value,cov\n"
    } else {
        "id,timestamp,value\n"
    });
    for t in 0..len + horizon {
        let v = if t < len {
            format!("{:.3}", 5.0 + (t as f64 / 7.0).sin())
        } else {
            String::new()
        };
        text.push_str(&format!("s1,{},{v}", timestamp(t)));
        if covariate {
            text.push_str(&format!(",{}", (t % 3) as f64));
        }
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// Every family but Chronos-2: a covariate column beside `--target` is refused, naming the
/// column and the model; horizon rows set the horizon and give the forecast of the history.
#[test]
fn every_other_family_refuses_covariates_by_name_and_reads_horizon_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let checkpoints = [
        ("ttm", repo().join("data/models/ttm-tiny")),
        ("chronos_bolt", fixture("chronos-bolt/model")),
        ("chronos", fixture("chronos-t5/model")),
        ("timesfm", fixture("timesfm/model")),
    ];
    let with_cov = tmp.path().join("cov.csv");
    write_with_covariate(&with_cov, 100, 0, true);
    let with_rows = tmp.path().join("rows.csv");
    write_with_covariate(&with_rows, 100, 6, false);
    let plain = tmp.path().join("plain.csv");
    write_with_covariate(&plain, 100, 0, false);
    for (family, model) in &checkpoints {
        let model = model.to_str().unwrap();
        let run = |input: &Path, output: &str, extra: &[&str]| {
            let mut args = vec![
                "predict",
                "--model-path",
                model,
                "--input",
                input.to_str().unwrap(),
                "--output",
                output,
            ];
            args.extend_from_slice(extra);
            tsfm(&args, tmp.path())
        };
        let out = run(&with_cov, "refused.csv", &["--target", "value"]);
        assert_eq!(out.status.code(), Some(2), "{family}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("covariate column(s) `cov` beside the target `value`")
                && err.contains(&format!("a {family} checkpoint cannot use covariates")),
            "{family}: {err}"
        );
        // Six horizon rows = --horizon 6 on the history alone.
        let seeded: &[&str] = if *family == "chronos" {
            &["--decoding", "greedy"]
        } else {
            &[]
        };
        let out = run(&with_rows, "rows.out.csv", seeded);
        assert!(out.status.success(), "{family}: {}", stderr(&out));
        let mut extra = seeded.to_vec();
        extra.extend_from_slice(&["--horizon", "6"]);
        let out = run(&plain, "plain.out.csv", &extra);
        assert!(out.status.success(), "{family}: {}", stderr(&out));
        let read = |f: &str| std::fs::read_to_string(tmp.path().join(f)).unwrap();
        assert_eq!(read("rows.out.csv"), read("plain.out.csv"), "{family}");
        assert_eq!(read("rows.out.csv").lines().count(), 7, "{family}");
        let out = run(&with_rows, "x.csv", &["--horizon", "3"]);
        assert_eq!(out.status.code(), Some(2), "{family}");
        assert!(
            stderr(&out).contains("--horizon 3: the input gives 6 horizon row(s)"),
            "{family}: {}",
            stderr(&out)
        );
    }
    // A TTM checkpoint that reads covariates through its channels: --model-path refuses it.
    let out = tsfm(
        &[
            "predict",
            "--model-path",
            repo().join("data/models/ttm-demo").to_str().unwrap(),
            "--input",
            with_cov.to_str().unwrap(),
            "--output",
            "x.csv",
            "--target",
            "value",
        ],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot use covariates"),
        "{}",
        stderr(&out)
    );
}

/// A text covariate (`activity`: none/meal/exercise/sleep, known over the horizon; `sleep`
/// never occurs in the past) is encoded as the package's preprocessing does (target encoding
/// per series) and forecast as `pipe.predict` with the strings.
#[test]
fn chronos2_encodes_a_categorical_covariate_as_the_package() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs_path = fixture("chronos2/inputs.safetensors");
    let inputs = tensors(&inputs_path);
    let names = ["none", "meal", "exercise", "sleep"];
    let mut text = String::from("id,timestamp,target,activity\n");
    for task in 0..2 {
        let target = &inputs[&format!("categorical_target_{task}")];
        let past = int_tensor(&inputs_path, &format!("categorical_codes_past_{task}"));
        let future = int_tensor(&inputs_path, &format!("categorical_codes_future_{task}"));
        for (t, (&y, &a)) in target.iter().zip(&past).enumerate() {
            text.push_str(&format!(
                "task{task},{},{},{}\n",
                timestamp(t),
                cell(Some(y)),
                names[a as usize]
            ));
        }
        for (h, &a) in future.iter().enumerate() {
            text.push_str(&format!(
                "task{task},{},,{}\n",
                timestamp(target.len() + h),
                names[a as usize]
            ));
        }
    }
    let input = tmp.path().join("in.csv");
    std::fs::write(&input, text).unwrap();
    let output = tmp.path().join("out.csv");
    let model = fixture("chronos2/model");
    let out = predict(
        tmp.path(),
        &model,
        &input,
        &output,
        &["--target", "target", "--quantiles", LEVELS],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, rows) = read_output(&output);
    let want = &tensors(&fixture("chronos2/outputs.safetensors"))["categorical_predict"];
    for task in 0..2 {
        let rows = &rows[&format!("task{task}")];
        assert_eq!(rows.len(), 16);
        let history = &inputs[&format!("categorical_target_{task}")];
        assert_levels("categorical", rows, want, task, history);
    }
    // The text column as the target: refused by name.
    let out = predict(
        tmp.path(),
        &model,
        &input,
        &output,
        &["--target", "activity"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "in.csv:2: column `activity` holds text (`none`...), so it cannot be forecast"
        ),
        "{}",
        stderr(&out)
    );
}
