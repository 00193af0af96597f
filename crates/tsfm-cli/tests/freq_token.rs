//! A TTM checkpoint trained with a resolution prefix (`resolution_prefix_tuning`) reads a
//! frequency token: `tsfm predict` derives it from the input's sampling interval.
use std::path::{Path, PathBuf};

mod common;
use common::tsfm;

fn checkpoint() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tsfm-models/tests/data/ttm-variants/freq-token/model")
        .canonicalize()
        .unwrap()
}

/// 40 rows of two channels every `interval_min` minutes; returns the forecast column values.
fn predict(tmp: &Path, interval_min: usize) -> Vec<String> {
    let input = tmp.join(format!("in_{interval_min}.csv"));
    let output = tmp.join(format!("out_{interval_min}.csv"));
    let mut text = String::from("id,timestamp,a,b\n");
    for i in 0..40 {
        let minutes = i * interval_min;
        let (a, b) = ((i as f64 / 5.0).sin(), (i as f64 / 7.0).cos() * 2.0);
        text.push_str(&format!(
            "s1,2024-01-0{}T{:02}:{:02}:00,{a:.4},{b:.4}\n",
            1 + minutes / 1440,
            minutes % 1440 / 60,
            minutes % 60
        ));
    }
    std::fs::write(&input, text).unwrap();
    let out = tsfm(
        &[
            "predict",
            "--model-path",
            checkpoint().to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
        ],
        tmp,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&output).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,timestamp,step,a,b"));
    let rows: Vec<String> = lines.map(str::to_string).collect();
    assert_eq!(rows.len(), 8, "{text}");
    rows.into_iter()
        .map(|r| r.splitn(4, ',').nth(3).unwrap().to_string())
        .collect()
}

#[test]
fn the_sampling_interval_becomes_the_frequency_token() {
    let tmp = tempfile::tempdir().unwrap();
    // Same values, 5-minute (token 3) vs 15-minute (token 5) sampling: the prefix differs, so
    // does the forecast.
    let five = predict(tmp.path(), 5);
    let fifteen = predict(tmp.path(), 15);
    assert_ne!(five, fifteen);
}
