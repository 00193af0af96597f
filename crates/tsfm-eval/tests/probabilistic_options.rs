//! MACE, interpolated intervals, DILATE, evaluator options, metric selection and CSV output.

use tsfm_eval::csv_out::{predictions_csv, table_csv};
use tsfm_eval::metrics::dilate::dilate_terms;
use tsfm_eval::metrics::probabilistic::{QuantileAccumulator, interp_quantile};
use tsfm_eval::{
    Evaluator, EvaluatorOptions, METRIC_NAMES, QuantileForecast, TableRow, WindowEval,
    check_metric_names,
};

const NAN: f64 = f64::NAN;
const DAY0: i64 = 86_400 * 20;

fn close(a: Option<f64>, b: f64) {
    let a = a.expect("value present");
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

fn close_vec(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-12, "{a:?} vs {b:?}");
    }
}

fn window(origin_ts: i64, interval_min: u32, truth: Vec<f64>, point: Vec<f64>) -> WindowEval {
    WindowEval {
        series_id: "s".into(),
        origin_ts,
        interval_min,
        context: vec![1.0, 2.0],
        truth,
        point,
        quantiles: None,
    }
}

fn quantiles(levels: &[f64], values: Vec<Vec<f64>>) -> Option<QuantileForecast> {
    Some(QuantileForecast {
        levels: levels.to_vec(),
        values,
    })
}

#[test]
fn mace_and_interpolated_intervals() {
    let mut acc = QuantileAccumulator::new(&[0.1, 0.5, 0.9], None);
    acc.push(10.0, &[8.0, 9.0, 11.0]);
    acc.push(4.0, &[5.0, 6.0, 7.0]);
    let m = acc.finish();
    // Shares with y ≤ q: [1/2, 1/2, 2/2] against [0.1, 0.5, 0.9].
    close(m.mace, (0.4 + 0.0 + 0.1) / 3.0);
    let c = &m.central_intervals;
    assert_eq!(
        c.iter().map(|i| i.nominal).collect::<Vec<_>>(),
        [0.5, 0.8, 0.9, 0.95]
    );
    // 50 %: q(0.25) = q0.1 + 0.375·(q0.5 − q0.1), q(0.75) = q0.5 + 0.625·(q0.9 − q0.5):
    // [8.375, 10.25] holds 10; [5.375, 6.625] misses 4.
    close(c[0].coverage, 0.5);
    close(c[0].mean_width, (1.875 + 1.25) / 2.0);
    close(c[1].coverage, 0.5);
    close(c[1].mean_width, 2.5);
    assert_eq!((c[2].coverage, c[3].mean_width), (None, None));
    assert_eq!(interp_quantile(&[0.1, 0.9], &[1.0, 2.0], 0.05), None);
    close(interp_quantile(&[0.1, 0.9], &[2.0, 1.0], 0.3), 1.25);
}

/// Soft-DTW and TDI by enumerating every alignment path (the Gibbs distribution over paths).
fn brute_force_dilate(y: &[f64], p: &[f64], gamma: f64) -> (f64, f64) {
    let n = y.len();
    let mut paths: Vec<(f64, f64)> = Vec::new(); // (cost, Σ (i − j)²)
    let mut stack = vec![(0usize, 0usize, (y[0] - p[0]).powi(2), 0.0)];
    while let Some((i, j, cost, dist)) = stack.pop() {
        if (i, j) == (n - 1, n - 1) {
            paths.push((cost, dist));
            continue;
        }
        for (a, b) in [(i + 1, j), (i, j + 1), (i + 1, j + 1)] {
            if a < n && b < n {
                let d = (a as f64 - b as f64).powi(2);
                stack.push((a, b, cost + (y[a] - p[b]).powi(2), dist + d));
            }
        }
    }
    let m = paths.iter().map(|x| x.0).fold(f64::INFINITY, f64::min);
    let weights: Vec<f64> = paths.iter().map(|x| (-(x.0 - m) / gamma).exp()).collect();
    let z: f64 = weights.iter().sum();
    let shape = m - gamma * z.ln();
    let tdi = paths
        .iter()
        .zip(&weights)
        .map(|(x, w)| w / z * x.1)
        .sum::<f64>()
        / (n * n) as f64;
    (shape, tdi)
}

#[test]
fn dilate_matches_path_enumeration() {
    let cases: [(&[f64], &[f64], f64); 4] = [
        (&[0.0, 1.0], &[1.0, 0.0], 1.0),
        (&[0.0, 0.0, 1.0, 0.0], &[0.0, 1.0, 0.0, 0.0], 0.5),
        (&[5.0, 4.0, 3.5, 3.0], &[5.0, 4.5, 4.0, 3.0], 0.01),
        (&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0], 0.01),
    ];
    for (y, p, gamma) in cases {
        let t = dilate_terms(y, p, gamma).unwrap();
        let (shape, tdi) = brute_force_dilate(y, p, gamma);
        assert!(
            (t.shape - shape).abs() < 1e-9,
            "shape {} vs {shape}",
            t.shape
        );
        assert!(
            (t.temporal - tdi).abs() < 1e-9,
            "tdi {} vs {tdi}",
            t.temporal
        );
    }
    assert_eq!(dilate_terms(&[1.0, NAN], &[1.0, 2.0], 0.01), None);
    assert_eq!(dilate_terms(&[1.0], &[1.0, 2.0], 0.01), None);
}

fn anchors_evaluator(options: EvaluatorOptions) -> Evaluator {
    let mut ev = Evaluator::with_options(options).unwrap();
    // Targets every 2 h: 00:00 → 02, 04, 06, 08; 23:00 → 01, 03, 05, 07.
    ev.add(window(DAY0, 120, vec![1.0; 4], vec![2.0, 2.0, 4.0, 4.0]));
    ev.add(window(DAY0 + 23 * 3600, 120, vec![0.0; 4], vec![1.0; 4]));
    ev.add(window(DAY0 + 47 * 3600, 120, vec![0.0; 4], vec![2.0; 4]));
    ev
}

#[test]
fn context_end_and_horizon_hours_select_episodes() {
    let r = anchors_evaluator(EvaluatorOptions::default()).finish("x", &[]);
    let n = &r.nocturnal;
    assert_eq!(
        (n.midnight_episodes, n.episode.n, n.episode_night.n),
        (1, 4, 2)
    );
    close(n.episode.mae, 2.0);
    assert_eq!(n.context_end, "00:00");
    let late = EvaluatorOptions {
        context_end: "23:00".into(),
        ..Default::default()
    };
    let r = anchors_evaluator(late).finish("x", &[]);
    let n = &r.nocturnal;
    assert_eq!(
        (n.midnight_episodes, n.episode.n, n.episode_night.n),
        (2, 8, 6)
    );
    close(n.episode.mae, (4.0 + 8.0) / 8.0);
    close(n.episode_night.mae, (3.0 + 6.0) / 6.0);
    // 5 h holds two 2-h steps.
    let short = EvaluatorOptions {
        horizon_hours: 5.0,
        ..Default::default()
    };
    let n = anchors_evaluator(short).finish("x", &[]).nocturnal;
    assert_eq!((n.midnight_episodes, n.episode.n), (1, 2));
    close(n.episode.mae, 1.0);
    for bad in ["24:00", "7:00", "07:60", "noon", "07-00"] {
        let o = EvaluatorOptions {
            context_end: bad.into(),
            ..Default::default()
        };
        let err = Evaluator::with_options(o).unwrap_err().to_string();
        assert!(err.contains(&format!("`{bad}`")), "{err}");
    }
    let o = EvaluatorOptions {
        horizon_hours: 0.0,
        ..Default::default()
    };
    assert!(Evaluator::with_options(o).is_err());
}

fn quantile_window(levels: &[f64]) -> WindowEval {
    let mut w = window(DAY0 + 12 * 3600, 5, vec![10.0], vec![9.0]);
    w.quantiles = quantiles(levels, vec![vec![8.0], vec![9.0], vec![11.0]]);
    w
}

#[test]
fn evaluation_levels_resample_forecasts() {
    let with = |q: Option<Vec<f64>>| {
        let mut ev = Evaluator::with_options(EvaluatorOptions {
            quantiles: q,
            ..Default::default()
        })
        .unwrap();
        ev.add(quantile_window(&[0.1, 0.5, 0.9]));
        ev.finish("x", &[]).probabilistic.unwrap()
    };
    let own = with(None);
    assert_eq!(own.levels, vec![0.1, 0.5, 0.9]);
    close_vec(&own.quantile_loss, &[0.1 * 2.0, 0.5 * 1.0, 0.1 * 1.0]);
    // Read at 0.25/0.5/0.75: 8.375, 9, 10.25 → pinball 0.25·1.625, 0.5·1, 0.25·0.25.
    let inner = with(Some(vec![0.25, 0.5, 0.75]));
    assert_eq!(inner.levels, vec![0.25, 0.5, 0.75]);
    close_vec(&inner.quantile_loss, &[0.40625, 0.5, 0.0625]);
    // 0.05 lies below the forecast's lowest level: the window cannot be scored.
    let outside = with(Some(vec![0.05, 0.5]));
    assert_eq!((outside.n, outside.skipped_windows), (0, 1));
}

#[test]
fn brier_threshold_option() {
    let brier = |units: &str, t: Option<f64>| {
        let mut ev = Evaluator::with_options(EvaluatorOptions {
            brier_threshold: t,
            ..Default::default()
        })
        .unwrap();
        let mut w = window(DAY0 + 12 * 3600, 5, vec![3.0], vec![4.0]);
        w.quantiles = quantiles(&[0.2, 0.5, 0.8], vec![vec![3.0], vec![4.0], vec![5.0]]);
        ev.add(w);
        let p = ev.finish(units, &[]).probabilistic.unwrap();
        (p.brier, p.brier_threshold)
    };
    // Default 3.9 mmol/L: F(3.9) = 0.47, the event happened: (0.47 − 1)².
    let (b, t) = brier("mmol/L", None);
    close(b, 0.2809);
    assert_eq!(t, Some(3.9));
    // 4.5: F = 0.5 + 0.3·0.5 = 0.65 → (0.65 − 1)².
    let (b, t) = brier("mmol/L", Some(4.5));
    close(b, 0.1225);
    assert_eq!(t, Some(4.5));
    assert_eq!(brier("mg/dL", None).1, Some(70.0));
    assert_eq!(brier("x", None), (None, None));
}

#[test]
fn horizon_nocturnal_and_dilate_fields() {
    let mut ev = Evaluator::with_options(EvaluatorOptions {
        dilate_alpha: 1.0,
        ..Default::default()
    })
    .unwrap();
    let mut w = window(DAY0, 5, vec![10.0, 4.0], vec![9.0, 6.0]);
    w.quantiles = quantiles(
        &[0.1, 0.5, 0.9],
        vec![vec![8.0, 5.0], vec![9.0, 6.0], vec![11.0, 7.0]],
    );
    ev.add(w);
    ev.add(window(DAY0 + 3600, 5, vec![NAN, 1.0], vec![1.0, 1.0]));
    let r = ev.finish("x", &[10]);
    let at = &r.probabilistic_at_horizons["10min"];
    assert_eq!(at.n, 1);
    // Step 2 only: y = 4 below every quantile: (1 − τ)·(q − y).
    close_vec(&at.quantile_loss, &[0.9 * 1.0, 0.5 * 2.0, 0.1 * 3.0]);
    assert_eq!(r.nocturnal.probabilistic.as_ref().unwrap().n, 2);
    // The window with a missing target has no DILATE terms; α = 1 makes the loss the shape.
    let d = r.dilate.unwrap();
    let t = dilate_terms(&[10.0, 4.0], &[9.0, 6.0], 0.01).unwrap();
    assert_eq!(
        (d.n_windows, d.shape, d.loss, d.temporal),
        (1, t.shape, t.shape, t.temporal)
    );
    assert_eq!(r.nocturnal.dilate.unwrap().n_windows, 1);
}

#[test]
fn metric_names_and_selection() {
    let all: Vec<String> = METRIC_NAMES.iter().map(|s| s.to_string()).collect();
    assert_eq!(check_metric_names(&all), Ok(()));
    let err = check_metric_names(&["rmse".into(), "rmsee".into()]).unwrap_err();
    assert!(err.contains("`rmsee`") && err.contains("mard"), "{err}");
    let mut ev = Evaluator::new();
    let mut w = window(DAY0 + 12 * 3600, 5, vec![3.0], vec![4.0]);
    w.quantiles = quantiles(&[0.2, 0.5, 0.8], vec![vec![3.0], vec![4.0], vec![5.0]]);
    ev.add(w);
    let r = ev.finish("mmol/L", &[]);
    // Every allowed name yields at least one column.
    for name in &all {
        assert!(
            !r.selected(std::slice::from_ref(name)).unwrap().is_empty(),
            "{name}"
        );
    }
    let cols = r
        .selected(&["mae".into(), "brier".into(), "coverage".into()])
        .unwrap();
    let expected = vec![
        ("mae".to_string(), Some(1.0)),
        ("brier".to_string(), Some(0.2809)),
        ("coverage_50".to_string(), Some(0.0)),
        ("coverage_80".to_string(), None),
        ("coverage_90".to_string(), None),
        ("coverage_95".to_string(), None),
    ];
    assert_eq!(cols.len(), expected.len());
    for ((n, v), (en, ev)) in cols.iter().zip(&expected) {
        assert_eq!(n, en);
        match (v, ev) {
            (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "{n}: {a} != {b}"),
            _ => assert_eq!(v, ev, "{n}"),
        }
    }
    assert!(r.selected(&["nope".into()]).unwrap_err().contains("`nope`"));
}

#[test]
fn csv_round_trips_ids_and_floats() {
    let mut ev = Evaluator::new();
    let mut w = window(0, 5, vec![0.1 + 0.2, NAN], vec![1.0 / 3.0, 2.0]);
    w.series_id = "p,1 \"x\"".into();
    w.quantiles = quantiles(&[0.1, 0.9], vec![vec![0.0, 1.0], vec![2.0, 3.0]]);
    ev.add(w);
    let bytes = predictions_csv(ev.rows(), &|ts| format!("t{ts}")).unwrap();
    let mut rd = csv::Reader::from_reader(bytes.as_slice());
    let header: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "id",
            "origin",
            "step",
            "timestamp",
            "truth",
            "point",
            "q0.1",
            "q0.9"
        ]
    );
    let recs: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(recs.len(), 2);
    assert_eq!(&recs[0][0], "p,1 \"x\"");
    assert_eq!((&recs[0][1], &recs[0][3]), ("t0", "t300"));
    assert_eq!(recs[0][4].parse::<f64>().unwrap(), 0.1 + 0.2);
    assert_eq!(recs[0][5].parse::<f64>().unwrap(), 1.0 / 3.0);
    assert_eq!((&recs[1][4], &recs[1][7]), ("", "3"));

    let rows = vec![
        TableRow::new("a,b").with("rmse", Some(1.0 / 3.0)),
        TableRow::new("c").with("mae", None),
    ];
    let text = String::from_utf8(table_csv(&rows, "model").unwrap()).unwrap();
    assert_eq!(text, "model,rmse,mae\n\"a,b\",0.3333333333333333,\nc,,\n");
}
