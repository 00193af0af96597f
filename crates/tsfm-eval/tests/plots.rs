//! Plot writers: each writes a PNG of the documented size and an SVG with the expected text.

use std::fs;
use std::path::{Path, PathBuf};

use tsfm_eval::plots::{
    ForecastPlotWindow, PlotError, PlotFiles, calibration, clarke_grid, forecast_windows,
    loss_curves, metric_bars, rmse_by_horizon,
};

/// Fresh output dir under cargo's per-target temp dir (kept after the run for inspection).
fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("tsfm-eval-plots")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// Asserts the PNG signature and returns the IHDR (width, height).
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = fs::read(path).unwrap();
    assert!(
        bytes.len() > 1000,
        "{} is only {} bytes",
        path.display(),
        bytes.len()
    );
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (w, h)
}

fn svg_text(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap();
    assert!(
        text.starts_with("<svg"),
        "{} does not start with <svg",
        path.display()
    );
    assert!(text.trim_end().ends_with("</svg>"));
    text
}

fn assert_files(files: &PlotFiles, dir: &Path, stem: &str) {
    assert_eq!(files.png, dir.join(format!("{stem}.png")));
    assert_eq!(files.svg, dir.join(format!("{stem}.svg")));
    // Atomic writes leave no temp files behind.
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [format!("{stem}.png"), format!("{stem}.svg")]);
}

/// The trimmed content of every `<text>` element (plotters puts it on its own line).
fn svg_labels(svg: &str) -> Vec<String> {
    svg.split("</text>")
        .filter_map(|chunk| chunk.rfind("<text").map(|i| &chunk[i..]))
        .filter_map(|t| t.find('>').map(|j| t[j + 1..].trim().to_string()))
        .collect()
}

/// Each needle must be the exact text of some label.
fn assert_labels(svg: &str, needles: &[&str]) {
    let labels = svg_labels(svg);
    for n in needles {
        assert!(
            labels.iter().any(|l| l == n),
            "SVG has no label {n:?}; labels: {labels:?}"
        );
    }
}

/// A night window starting at 22:00 on 2024-03-01 (local naive seconds), 3 h context,
/// 1 h horizon at 5-min steps, dipping below 3.9 mmol/L.
fn window(title: &str, day: i64, gap: bool) -> ForecastPlotWindow {
    let start = 19_783 * 86_400 + day * 86_400 + 22 * 3600;
    let context_ts: Vec<i64> = (0..36).map(|i| start + i * 300).collect();
    let context: Vec<f64> = (0..36)
        .map(|i| {
            if gap && (10..14).contains(&i) {
                f64::NAN
            } else {
                6.5 - 0.06 * i as f64 + 0.3 * (i as f64 / 4.0).sin()
            }
        })
        .collect();
    let target_ts: Vec<i64> = (36..48).map(|i| start + i * 300).collect();
    let truth: Vec<f64> = (0..12).map(|h| 4.4 - 0.09 * h as f64).collect();
    let point: Vec<f64> = (0..12).map(|h| 4.5 - 0.05 * h as f64).collect();
    let band = |k: f64| {
        let lo = point
            .iter()
            .enumerate()
            .map(|(h, p)| p - k * (1.0 + h as f64).sqrt() * 0.15);
        let hi = point
            .iter()
            .enumerate()
            .map(|(h, p)| p + k * (1.0 + h as f64).sqrt() * 0.15);
        (lo.collect::<Vec<_>>(), hi.collect::<Vec<_>>())
    };
    let (lo80, hi80) = band(1.28);
    let (lo50, hi50) = band(0.67);
    ForecastPlotWindow {
        title: title.to_string(),
        context_ts,
        context,
        target_ts,
        truth,
        point,
        bands: vec![(0.25, 0.75, lo50, hi50), (0.1, 0.9, lo80, hi80)],
    }
}

#[test]
fn forecast_windows_grid_of_four() {
    let dir = out_dir("forecast4").join("nested");
    let windows: Vec<_> = (0..4)
        .map(|d| window(&format!("patient 559, night {}", d + 1), d, d == 1))
        .collect();
    let files = forecast_windows(&dir, "forecasts", &windows, "mmol/L").unwrap();
    assert_files(&files, &dir, "forecasts");
    // 2 x 2 panels of 500 x 340 plus a 70 px title/legend strip.
    assert_eq!(png_size(&files.png), (1000, 750));
    let svg = svg_text(&files.svg);
    assert_labels(
        &svg,
        &[
            "Forecasts vs. truth",
            "patient 559, night 1",
            "patient 559, night 2",
            "patient 559, night 4",
            "local time (HH:MM)",
            "glucose (mmol/L)",
            "hypo threshold 3.9 mmol/L",
            "10–90 % band",
            "25–75 % band",
            "forecast (point)",
            "truth",
            "context",
            "23:00",
            "00:00",
        ],
    );
}

#[test]
fn forecast_single_window_generic_units() {
    let dir = out_dir("forecast1");
    let mut w = window("load, 2024-03-02", 0, false);
    w.bands.clear();
    let files = forecast_windows(&dir, "one", &[w], "kW").unwrap();
    assert_eq!(png_size(&files.png), (1000, 620));
    let svg = svg_text(&files.svg);
    assert_labels(&svg, &["value (kW)", "load, 2024-03-02"]);
    assert!(!svg.contains("hypo threshold"));
    assert!(!svg.contains("% band"));
}

#[test]
fn forecast_rejects_mismatched_lengths_naming_the_file() {
    let dir = out_dir("forecast_bad");
    let mut w = window("bad", 0, false);
    w.point.pop();
    let err = forecast_windows(&dir, "bad", &[w], "mmol/L").unwrap_err();
    assert!(matches!(&err, PlotError::Input { path, .. } if *path == dir.join("bad.png")));
    let msg = err.to_string();
    assert!(
        msg.contains("target_ts has 12 values but truth has 12 and point has 11"),
        "{msg}"
    );
    assert!(msg.contains("bad.png"), "{msg}");
    let err = forecast_windows(&dir, "none", &[], "mmol/L").unwrap_err();
    assert!(err.to_string().contains("no forecast windows"));
    assert!(!dir.exists());
}

#[test]
fn loss_curves_writes_both_formats() {
    let dir = out_dir("loss");
    let train: Vec<(u64, f64)> = (0..200)
        .map(|s| (s * 10, 2.0 / (1.0 + s as f64 * 0.05) + 0.3))
        .collect();
    let eval: Vec<(u64, f64)> = (0..10)
        .map(|k| (k * 200, 2.2 / (1.0 + k as f64) + 0.4))
        .collect();
    let files = loss_curves(&dir, "loss", &train, &eval).unwrap();
    assert_files(&files, &dir, "loss");
    assert_eq!(png_size(&files.png), (1000, 600));
    let svg = svg_text(&files.svg);
    assert_labels(
        &svg,
        &[
            "Training and evaluation loss",
            "step",
            "loss",
            "train",
            "eval",
        ],
    );
}

#[test]
fn clarke_grid_draws_zones_and_counts_hidden_points() {
    let dir = out_dir("clarke");
    let mut reference = vec![];
    let mut predicted = vec![];
    for i in 0..400 {
        let x = 40.0 + (i as f64 * 0.77) % 260.0;
        reference.push(x);
        predicted.push(x * (0.7 + ((i * 37) % 60) as f64 / 100.0));
    }
    reference.extend([450.0, f64::NAN]);
    predicted.extend([200.0, 100.0]);
    let files = clarke_grid(&dir, "clarke", &reference, &predicted).unwrap();
    assert_files(&files, &dir, "clarke");
    assert_eq!(png_size(&files.png), (820, 820));
    let svg = svg_text(&files.svg);
    assert_labels(
        &svg,
        &[
            "reference glucose (mg/dL)",
            "predicted glucose (mg/dL)",
            "Clarke error grid (n = 400, 2 outside 0–400 or missing not shown)",
            "A",
            "B",
            "C",
            "D",
            "E",
        ],
    );
    let err = clarke_grid(&dir, "x", &[1.0], &[]).unwrap_err();
    assert!(
        err.to_string()
            .contains("1 reference values but 0 predicted")
    );
}

#[test]
fn rmse_by_horizon_one_line_per_model() {
    let dir = out_dir("rmse");
    let series = vec![
        (
            "ttm fine-tuned".to_string(),
            vec![(5.0, 6.0), (30.0, 18.0), (60.0, 31.0)],
        ),
        (
            "persistence".to_string(),
            vec![(5.0, 7.5), (30.0, 22.0), (60.0, 38.5)],
        ),
    ];
    let files = rmse_by_horizon(&dir, "rmse", &series, "mg/dL").unwrap();
    assert_eq!(png_size(&files.png), (1000, 600));
    let svg = svg_text(&files.svg);
    assert_labels(
        &svg,
        &[
            "RMSE (mg/dL)",
            "horizon (minutes)",
            "ttm fine-tuned",
            "persistence",
        ],
    );
}

#[test]
fn calibration_has_diagonal_and_series() {
    let dir = out_dir("calibration");
    let series = vec![
        (
            "chronos-bolt".to_string(),
            vec![(0.5, 0.42), (0.8, 0.71), (0.9, 0.83), (0.98, 0.95)],
        ),
        (
            "ttm + conformal".to_string(),
            vec![(0.5, 0.51), (0.8, 0.79), (0.9, 0.9), (0.98, 0.97)],
        ),
    ];
    let files = calibration(&dir, "calib", &series).unwrap();
    assert_eq!(png_size(&files.png), (800, 750));
    let svg = svg_text(&files.svg);
    assert_labels(
        &svg,
        &[
            "nominal coverage",
            "observed coverage",
            "ideal (observed = nominal)",
            "chronos-bolt",
        ],
    );
}

#[test]
fn metric_bars_labels_every_bar() {
    let dir = out_dir("bars");
    let bars = vec![
        ("chronos-bolt-small zero-shot".to_string(), 1.23456),
        ("ttm-r2 fine-tuned".to_string(), 0.98),
        ("persistence".to_string(), f64::NAN),
    ];
    let files = metric_bars(&dir, "rmse_bars", "RMSE 60 min (mmol/L)", &bars).unwrap();
    assert_eq!(png_size(&files.png), (1000, 600));
    let svg = svg_text(&files.svg);
    assert_labels(
        &svg,
        &[
            "RMSE 60 min (mmol/L)",
            "chronos-bolt-small zero-shot",
            "persistence",
            "1.235",
            "0.980",
            "n/a",
        ],
    );
    // Many bars grow the figure so labels do not overlap.
    let many: Vec<(String, f64)> = (0..12)
        .map(|i| (format!("model {i}"), i as f64 - 3.0))
        .collect();
    let files = metric_bars(&dir, "many", "MAE", &many).unwrap();
    assert_eq!(png_size(&files.png), (1000, 760));
}
