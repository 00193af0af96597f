//! Report file round trip and table rendering.

use tsfm_eval::{
    DataInfo, EvaluationReport, Evaluator, TableRow, WindowEval, render_markdown, render_text,
};

#[test]
fn report_round_trip_atomic() {
    let mut ev = Evaluator::new();
    ev.add(WindowEval {
        series_id: "s".into(),
        origin_ts: 0,
        interval_min: 5,
        context: vec![5.0, 6.0],
        truth: vec![5.0, f64::NAN],
        point: vec![5.5, 6.0],
        quantiles: None,
    });
    let report = EvaluationReport {
        model: "ttm".into(),
        experiment: "exp".into(),
        run_id: "r1".into(),
        timestamp: "2026-11-27T00:00:00Z".into(),
        data: DataInfo {
            dataset: "demo".into(),
            split: "test".into(),
            units: "mmol/L".into(),
            n_windows: 1,
        },
        metrics: ev.finish("mmol/L", &[5]),
        nocturnal_enabled: false,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eval.json");
    report.write_json(&path).unwrap();
    let back = EvaluationReport::read_json(&path).unwrap();
    assert_eq!(back.metrics.overall.n, 1);
    assert_eq!(back.metrics.overall.mae, Some(0.5));
    assert_eq!(back.model, "ttm");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("eval.json")]);
    let err = EvaluationReport::read_json(&dir.path().join("missing.json")).unwrap_err();
    assert!(err.to_string().contains("missing.json"));
}

#[test]
fn tables() {
    let rows = vec![
        TableRow::new("ttm")
            .with("rmse", Some(1.23456))
            .with("mae", Some(1.0)),
        TableRow::new("persistence")
            .with("rmse", Some(2.0))
            .with("mard", None),
    ];
    let text = render_text(&rows, "model");
    let expected = "model          rmse     mae  mard\n\
                    ---------------------------------\n\
                    ttm          1.2346  1.0000     —\n\
                    persistence  2.0000       —     —\n";
    assert_eq!(text, expected);
    let md = render_markdown(&rows, "model");
    assert_eq!(
        md,
        "| model | rmse | mae | mard |\n| --- | ---: | ---: | ---: |\n| ttm | 1.2346 | 1.0000 | — |\n| persistence | 2.0000 | — | — |\n"
    );
}
