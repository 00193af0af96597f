//! Golden tests: hand-computed values for every metric.

use tsfm_eval::baselines::{linear_extrapolation, persistence, seasonal_naive};
use tsfm_eval::metrics::events::{Event, detect_events, median};
use tsfm_eval::metrics::glucose::{
    GlucoseAccumulator, GlucoseUnits, Zone, clarke_zone, grmse_penalty, parkes_zone_type1,
};
use tsfm_eval::metrics::point::{mean_of, naive_scale, point_metrics};
use tsfm_eval::metrics::probabilistic::{QuantileAccumulator, interp_cdf, pinball};
use tsfm_eval::nocturnal::{is_midnight_origin, is_night, second_of_day, target_ts};
use tsfm_eval::{Evaluator, QuantileForecast, WindowEval};

const NAN: f64 = f64::NAN;

fn close(a: Option<f64>, b: f64) {
    let a = a.expect("value present");
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

#[test]
fn point_metrics_skip_missing_truth() {
    let scale = naive_scale(&[1.0, 2.0, 4.0]);
    close(scale, 1.5);
    let m = point_metrics(&[1.0, 2.0, NAN, 4.0], &[1.5, 1.0, 3.0, 5.0], scale);
    assert_eq!(m.n, 3);
    close(m.mse, 0.75);
    close(m.rmse, 0.75f64.sqrt());
    close(m.mae, 2.5 / 3.0);
    close(m.mape, 100.0 * 1.25 / 3.0);
    close(m.smape, 42.96296296296296);
    close(m.mase, 0.5555555555555556);
}

#[test]
fn naive_scale_undefined_cases() {
    assert_eq!(naive_scale(&[2.0, 2.0, 2.0]), None);
    assert_eq!(naive_scale(&[1.0]), None);
    close(naive_scale(&[1.0, NAN, 3.0, 6.0]), 3.0);
}

#[test]
fn mean_of_series_differs_from_pooled() {
    let a = point_metrics(&[0.0, 0.0], &[1.0, 1.0], None);
    let b = point_metrics(&[0.0], &[3.0], None);
    let m = mean_of(&[a, b]);
    assert_eq!(m.n, 3);
    close(m.rmse, 2.0);
    close(m.mae, 2.0);
    assert_eq!(m.mape, None);
    let pooled = point_metrics(&[0.0, 0.0, 0.0], &[1.0, 1.0, 3.0], None);
    close(pooled.rmse, (11.0f64 / 3.0).sqrt());
}

#[test]
fn quantile_metrics() {
    assert_eq!(pinball(10.0, 8.0, 0.1), 0.1 * 2.0);
    close(Some(pinball(10.0, 11.0, 0.9)), 0.1);
    let levels = [0.1, 0.5, 0.9];
    let mut acc = QuantileAccumulator::new(&levels, None);
    acc.push(10.0, &[8.0, 9.0, 11.0]);
    acc.push(4.0, &[5.0, 6.0, 7.0]);
    acc.push(NAN, &[5.0, 6.0, 7.0]);
    let m = acc.finish();
    assert_eq!(m.n, 2);
    close(m.wql, 6.0 / 42.0);
    close(m.crps, 1.0);
    close(Some(m.quantile_loss[0]), 0.55);
    // Only the 80 % interval exists among 50/80/90/95 %.
    assert_eq!(m.intervals.len(), 1);
    close(Some(m.intervals[0].nominal), 0.8);
    close(Some(m.intervals[0].coverage), 0.5);
    close(Some(m.intervals[0].mean_width), 2.5);
    // PIT: F(10) = 0.5 + 0.4·0.5 = 0.7 (bin 7); 4 lies below q0: τ0/2 = 0.05 (bin 0).
    let mut pit = vec![0.0; 10];
    pit[0] = 0.5;
    pit[7] = 0.5;
    assert_eq!(m.pit_histogram, pit);
    assert_eq!(m.brier, None);
}

#[test]
fn interval_fallback_and_brier() {
    let levels = [0.2, 0.5, 0.8];
    let mut acc = QuantileAccumulator::new(&levels, Some(3.9));
    acc.push(3.0, &[3.0, 4.0, 5.0]);
    let m = acc.finish();
    // No standard interval: the 60 % pair (0.2, 0.8) is used.
    assert_eq!(m.intervals.len(), 1);
    close(Some(m.intervals[0].nominal), 0.6);
    close(Some(m.intervals[0].coverage), 1.0);
    // F(3.9) = 0.2 + 0.3·0.9 = 0.47, event happened: (0.47 − 1)² = 0.2809.
    close(m.brier, 0.2809);
    assert_eq!(m.pit_histogram[2], 1.0);
    close(Some(interp_cdf(&levels, &[3.0, 4.0, 5.0], 9.0)), 0.9);
    close(Some(interp_cdf(&levels, &[3.0, 4.0, 5.0], 5.0)), 0.8);
    let std =
        QuantileAccumulator::new(&[0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975], None);
    let mut std = std;
    std.push(0.0, &[-4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0]);
    let noms: Vec<f64> = std.finish().intervals.iter().map(|i| i.nominal).collect();
    assert_eq!(noms, vec![0.5, 0.8, 0.9, 0.95]);
}

#[test]
fn clarke_boundaries() {
    let cases = [
        ((100.0, 120.0), Zone::A),
        ((100.0, 120.01), Zone::B),
        ((100.0, 80.0), Zone::A),
        ((100.0, 79.99), Zone::B),
        ((69.0, 50.0), Zone::A),
        ((70.0, 50.0), Zone::B),
        ((70.0, 180.0), Zone::E),
        ((71.0, 181.0), Zone::C),
        ((71.0, 180.9), Zone::B),
        ((180.0, 70.0), Zone::E),
        ((179.0, 70.0), Zone::B),
        ((179.0, 68.0), Zone::C),
        ((130.0, 0.0), Zone::C),
        ((240.0, 180.0), Zone::D),
        ((239.0, 180.0), Zone::B),
        ((50.0, 70.0), Zone::D),
        ((50.0, 69.0), Zone::A),
        ((290.0, 400.0), Zone::C),
        ((291.0, 401.0), Zone::B),
    ];
    for ((x, y), z) in cases {
        assert_eq!(clarke_zone(x, y), z, "clarke({x}, {y})");
    }
}

#[test]
fn parkes_boundaries() {
    let cases = [
        ((140.0, 170.0), Zone::B),
        ((140.0, 169.9), Zone::A),
        ((70.0, 110.0), Zone::C),
        ((70.0, 109.9), Zone::B),
        ((80.0, 215.0), Zone::D),
        ((80.0, 214.9), Zone::C),
        ((35.0, 155.0), Zone::E),
        ((35.0, 154.9), Zone::D),
        ((50.0, 10.0), Zone::B),
        ((49.9, 10.0), Zone::A),
        ((120.0, 20.0), Zone::C),
        ((119.9, 20.0), Zone::B),
        ((250.0, 20.0), Zone::D),
        ((249.9, 20.0), Zone::C),
        ((550.0, 150.0), Zone::D),
        ((549.0, 150.0), Zone::C),
        // Past 550 the last A/B segment is extended: y = 380 + 170·(x − 280)/150.
        ((580.0, 720.0), Zone::B),
        ((580.0, 719.0), Zone::A),
        ((100.0, 100.0), Zone::A),
    ];
    for ((x, y), z) in cases {
        assert_eq!(parkes_zone_type1(x, y), z, "parkes({x}, {y})");
    }
}

#[test]
fn grmse_penalty_golden() {
    assert!((grmse_penalty(60.0, 90.0) - 2.4537).abs() < 1e-4);
    assert!((grmse_penalty(250.0, 200.0) - 1.9991).abs() < 1e-4);
    assert_eq!(grmse_penalty(60.0, 30.0), 1.0);
    assert_eq!(grmse_penalty(120.0, 150.0), 1.0);
}

#[test]
fn glucose_accumulator_mmol() {
    assert_eq!(GlucoseUnits::parse("mmol/L"), Some(GlucoseUnits::MmolL));
    assert_eq!(GlucoseUnits::parse("mg/dL"), Some(GlucoseUnits::MgDl));
    assert_eq!(GlucoseUnits::parse("kW"), None);
    let mut g = GlucoseAccumulator::new(GlucoseUnits::MmolL);
    let truth = [3.8, 3.9, 10.0, 10.1];
    let pred = [3.0, 3.95, 10.05, 9.0];
    for (y, p) in truth.iter().zip(&pred) {
        g.push(*y, *p);
    }
    g.push(NAN, 5.0);
    let m = g.finish();
    assert_eq!(m.n, 4);
    close(m.tir_agreement, 0.5);
    let mard = 100.0 * (0.8 / 3.8 + 0.05 / 3.9 + 0.05 / 10.0 + 1.1 / 10.1) / 4.0;
    close(m.mard, mard);
    // All pairs are within 20 % except 3.8 → 3.0 (68.5 → 54.1 mg/dL), both < 70: A as well.
    close(Some(m.clarke.a), 1.0);
    let mut g = GlucoseAccumulator::new(GlucoseUnits::MgDl);
    g.push(60.0, 90.0);
    g.push(60.0, 30.0);
    let pen = grmse_penalty(60.0, 90.0);
    close(g.finish().grmse, ((900.0 * pen + 900.0) / 2.0).sqrt());
    close(g.finish().mard, 50.0);
}

#[test]
fn event_detection() {
    let below2 = [5.0, 3.8, 3.8, 5.0, 5.0, 5.0];
    assert!(detect_events(&below2, 3.9, 5, 15).is_empty());
    // Two runs separated by a 10-min recovery are one event.
    let merged = [
        5.0, 3.8, 3.8, 3.8, 5.0, 5.0, 3.8, 3.8, 3.8, 5.0, 5.0, 5.0, 5.0,
    ];
    assert_eq!(
        detect_events(&merged, 3.9, 5, 15),
        vec![Event { start: 1, end: 8 }]
    );
    // A 15-min recovery ends the event.
    let split = [3.8, 3.8, 3.8, 5.0, 5.0, 5.0, 3.8, 3.8, 3.8];
    assert_eq!(
        detect_events(&split, 3.9, 5, 15),
        vec![Event { start: 0, end: 2 }, Event { start: 6, end: 8 }]
    );
    // A gap breaks a run; it is not interpolated.
    let gap = [3.8, 3.8, NAN, 3.8, 3.8, 3.8];
    assert_eq!(
        detect_events(&gap, 3.9, 5, 15),
        vec![Event { start: 3, end: 5 }]
    );
    // At 15-min sampling one reading is enough.
    assert_eq!(
        detect_events(&[5.0, 2.9, 5.0], 3.0, 15, 15),
        vec![Event { start: 1, end: 1 }]
    );
    assert_eq!(median(&[3.0, 1.0, 2.0, 10.0]), Some(2.5));
    assert_eq!(median(&[]), None);
}

#[test]
fn event_scoring_in_evaluator() {
    let mut ev = Evaluator::new();
    ev.add(WindowEval {
        series_id: "p1".into(),
        origin_ts: 86_400 * 10,
        interval_min: 5,
        context: vec![5.0; 4],
        truth: vec![5.0, 5.0, 3.5, 3.5, 3.5, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0],
        point: vec![5.0, 5.0, 5.0, 3.6, 3.6, 3.6, 5.0, 5.0, 5.0, 3.7, 3.7, 3.7],
        quantiles: None,
    });
    let r = ev.finish("mmol/L", &[30, 60]);
    let e = &r.glucose.as_ref().unwrap().hypo_level1;
    assert_eq!(
        (e.true_events, e.predicted_events, e.false_alarms),
        (1, 2, 1)
    );
    close(e.sensitivity, 1.0);
    close(e.precision, 0.5);
    close(e.f1, 2.0 / 3.0);
    close(e.median_lead_time_min, 15.0);
    // 12 night targets × 5 min = 1/6 night; one night false alarm → 6 per night.
    close(e.false_alarms_per_night, 6.0);
    let e2 = &r.glucose.as_ref().unwrap().hypo_level2;
    assert_eq!((e2.true_events, e2.predicted_events), (0, 0));
    assert_eq!(e2.sensitivity, None);
    assert!(ev.finish("kWh", &[30]).glucose.is_none());
}

#[test]
fn nocturnal_selection() {
    assert_eq!(second_of_day(-1), 86_399);
    assert!(is_night(6 * 3600 - 1));
    assert!(!is_night(6 * 3600));
    assert!(is_midnight_origin(86_400 * 5));
    assert!(!is_midnight_origin(86_400 * 5 + 300));
    assert_eq!(target_ts(100, 2, 5), 700);
    let mut ev = Evaluator::new();
    let day0 = 86_400 * 20;
    // Midnight episode of 4 steps at 2 h: targets 02:00, 04:00 (night), 06:00, 08:00 (day).
    ev.add(WindowEval {
        series_id: "a".into(),
        origin_ts: day0,
        interval_min: 120,
        context: vec![1.0, 2.0],
        truth: vec![1.0, 1.0, 1.0, 1.0],
        point: vec![2.0, 2.0, 4.0, 4.0],
        quantiles: None,
    });
    // Noon window: all targets in the day.
    ev.add(WindowEval {
        series_id: "b".into(),
        origin_ts: day0 + 12 * 3600,
        interval_min: 120,
        context: vec![1.0, 2.0],
        truth: vec![0.0, 0.0, 0.0, 0.0],
        point: vec![1.0, 1.0, 1.0, 1.0],
        quantiles: None,
    });
    let r = ev.finish("units", &[240]);
    assert_eq!(r.nocturnal.midnight_episodes, 1);
    assert_eq!(r.nocturnal.episode.n, 4);
    close(r.nocturnal.episode.mae, 2.0);
    assert_eq!(r.nocturnal.episode_night.n, 2);
    close(r.nocturnal.episode_night.mae, 1.0);
    assert_eq!((r.day_night.night.n, r.day_night.day.n), (2, 6));
    close(r.day_night.day.mae, 10.0 / 6.0);
    close(r.at_horizons["240min"].mae, 1.0);
    close(r.per_series["a"].mae, 2.0);
    close(r.per_series_mean.mae, 1.5);
    close(r.overall.mae, 12.0 / 8.0);
    assert_eq!(r.per_step.len(), 4);
    assert_eq!(r.per_step[3].minutes, 480);
    close(r.per_step[2].mae, 2.0);
}

#[test]
fn baselines_golden() {
    let ctx = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
    assert_eq!(persistence(&ctx, 2), vec![7.0, 7.0]);
    assert_eq!(persistence(&[1.0, 2.0, NAN], 1), vec![2.0]);
    assert!(persistence(&[NAN], 1)[0].is_nan());
    let lin = linear_extrapolation(&ctx, 2, 6);
    close(Some(lin[0]), 8.0);
    close(Some(lin[1]), 9.0);
    let lin = linear_extrapolation(&[0.0, 1.0, 0.0, 1.0, 0.0, 1.0], 2, 6);
    close(Some(lin[0]), 0.8);
    close(Some(lin[1]), 0.5 + 1.5 / 17.5 * 4.5);
    assert_eq!(linear_extrapolation(&[NAN, 3.0], 1, 6), vec![3.0]);
    let ctx: Vec<f64> = (0..25).map(f64::from).collect();
    assert_eq!(seasonal_naive(&ctx, 3, 60, 1440), vec![1.0, 2.0, 3.0]);
    let s = seasonal_naive(&ctx[..23], 3, 60, 1440);
    assert!(s[0].is_nan());
    assert_eq!(&s[1..], &[0.0, 1.0]);
}

#[test]
fn baseline_skill_in_evaluator() {
    let mut ev = Evaluator::new();
    ev.add(WindowEval {
        series_id: "s".into(),
        origin_ts: 3600 * 12,
        interval_min: 5,
        context: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        truth: vec![7.0, 8.0],
        point: vec![7.5, 8.0],
        quantiles: Some(QuantileForecast {
            levels: vec![0.1, 0.5, 0.9],
            values: vec![vec![6.0, 7.0], vec![7.5, 8.0], vec![8.0, 9.0]],
        }),
    });
    let r = ev.finish("mg/dL", &[5, 10, 15, 7]);
    let p = &r.baselines["persistence"];
    assert!(p.available);
    close(p.overall.rmse, 2.5f64.sqrt());
    close(p.model_rmse, 0.125f64.sqrt());
    close(p.skill, 0.7763932022500211);
    close(p.skill_at_horizons["10min"], 1.0);
    let l = &r.baselines["linear_k6"];
    close(l.overall.rmse, 0.0);
    assert_eq!(l.skill, None);
    let s = &r.baselines["seasonal_naive_24h"];
    assert!(!s.available);
    assert_eq!(s.skill, None);
    // 15 min is beyond the horizon and 7 min is not a whole step.
    assert_eq!(
        r.at_horizons.keys().cloned().collect::<Vec<_>>(),
        vec!["10min", "5min"]
    );
    close(r.overall.mase, 0.25);
    let q = r.probabilistic.as_ref().unwrap();
    assert_eq!(q.n, 2);
    close(q.brier, 0.05f64.powi(2));
    assert_eq!(ev.rows().len(), 1);
    assert_eq!(ev.rows()[0].persistence, vec![6.0, 6.0]);
}
