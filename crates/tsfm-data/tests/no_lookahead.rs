//! A window's inputs depend only on readings at or before its last context step.

use std::collections::BTreeMap;
use tsfm_data::impute::Imputation;
use tsfm_data::pipeline::{PipelineOptions, run};
use tsfm_data::scaler::ScalingMethod;
use tsfm_data::split::SplitSpec;
use tsfm_data::{Batch, Channel, Prepared, Series, WindowSet};

const STEP: i64 = 300;
const N: f64 = f64::NAN;

fn series(channels: Vec<(&str, Vec<f64>)>) -> Series {
    Series {
        id: "a".into(),
        timestamps: (0..channels[0].1.len() as i64).map(|i| i * STEP).collect(),
        interval_min: 5,
        channels: channels
            .into_iter()
            .map(|(name, values)| Channel {
                name: name.into(),
                values,
            })
            .collect(),
        unit: Some("mmol/L".into()),
    }
}

fn missing(v: &mut [f64], steps: impl IntoIterator<Item = usize>) {
    steps.into_iter().for_each(|i| v[i] = N);
}

/// 60 steps: bg with short gaps (one segment), hr linear, cals ffill, steps zero, temp as given.
fn rich_series(leading_gaps: bool) -> Series {
    let mut bg: Vec<f64> = (0..60)
        .map(|i| 5.0 + 0.1 * i as f64 + (i % 4) as f64)
        .collect();
    missing(&mut bg, (9..11).chain(20..23).chain(33..34).chain(45..48));
    let mut hr: Vec<f64> = (0..60).map(|i| 60.0 + (i % 7) as f64).collect();
    missing(&mut hr, (10..14).chain(30..32).chain(50..51));
    let cals: Vec<f64> = (0..60)
        .map(|i| if i % 3 == 0 { 1.0 + i as f64 } else { N })
        .collect();
    let steps: Vec<f64> = (0..60)
        .map(|i| if i % 2 == 0 { i as f64 } else { N })
        .collect();
    let mut temp: Vec<f64> = (0..60).map(|i| 30.0 + (i % 5) as f64).collect();
    missing(&mut temp, (15..18).chain(40..44));
    if leading_gaps {
        missing(&mut hr, 0..3);
        missing(&mut temp, 0..2);
    }
    series(vec![
        ("bg", bg),
        ("hr", hr),
        ("cals", cals),
        ("steps", steps),
        ("temp", temp),
    ])
}

fn rich_opts(temp: Imputation, scaling: ScalingMethod, split: SplitSpec) -> PipelineOptions {
    PipelineOptions {
        past_covariates: ["hr", "cals", "steps", "temp"].map(String::from).into(),
        imputation: BTreeMap::from([
            ("hr".to_string(), Imputation::Linear),
            ("temp".into(), temp),
        ]),
        context_length: 6,
        horizon: 3,
        scaling,
        split,
        calendar: false,
        ..Default::default()
    }
}

/// Every reading at or after step `from` changed (the missing ones stay missing).
fn change_from(s: &Series, from: usize) -> Series {
    let mut s = s.clone();
    for c in &mut s.channels {
        c.values[from..]
            .iter_mut()
            .for_each(|v| *v = *v * 1.5 + 3.0);
    }
    s
}

/// Window `w`'s inputs as bit patterns: past values, past masks, context target.
fn inputs(set: &WindowSet, w: usize) -> (Vec<u32>, Vec<u32>, Vec<u64>) {
    let mut b = Batch::default();
    set.fill_batch(&[w], &mut b);
    (
        b.past_values.iter().map(|v| v.to_bits()).collect(),
        b.past_observed_mask.iter().map(|v| v.to_bits()).collect(),
        set.context_target(w).iter().map(|v| v.to_bits()).collect(),
    )
}

/// For every window of `sets(p)`, changing everything from its origin on leaves its inputs
/// bit-identical. Returns how many windows end their context on a missing target.
fn assert_causal(s: &Series, o: &PipelineOptions, sets: fn(&Prepared) -> &WindowSet) -> usize {
    let p = run(vec![s.clone()], o).unwrap();
    let set = sets(&p);
    assert!(!set.is_empty());
    let mut straddling = 0;
    for w in 0..set.len() {
        let (_, start) = set.windows()[w];
        let origin = start + set.context;
        let q = run(vec![change_from(s, origin)], o).unwrap();
        assert_eq!(sets(&q).windows(), set.windows());
        assert_eq!(inputs(sets(&q), w), inputs(set, w), "window at {origin}");
        let obs = &p.series[0].observed;
        straddling += usize::from(obs[(origin - 1) * 5] == 0.0);
    }
    straddling
}

#[test]
fn changing_anything_after_a_context_changes_none_of_its_inputs() {
    // Unscaled, no statistic of the training data: holds for every training window.
    let o = rich_opts(
        Imputation::Constant(-1.0),
        ScalingMethod::None,
        SplitSpec::Temporal {
            train: 1.0,
            val: 0.0,
        },
    );
    let straddling = assert_causal(&rich_series(false), &o, |p| &p.train);
    // Contexts ending on steps 9, 10, 20, 21, 22, 33, 45, 46, 47 (bg missing there).
    assert_eq!(straddling, 9);
}

#[test]
fn val_and_test_windows_are_causal_with_scaling_and_mean() {
    // The scaler and the `mean` fill come from the training range, which is before every
    // val/test origin, so these windows too see nothing after their context.
    let split = SplitSpec::Temporal {
        train: 0.5,
        val: 0.25,
    };
    let o = rich_opts(Imputation::Mean, ScalingMethod::Standard, split);
    let s = rich_series(true);
    assert!(assert_causal(&s, &o, |p| &p.val) > 0);
    assert!(assert_causal(&s, &o, |p| &p.test) > 0);
}

#[test]
fn trailing_run_carries_the_last_reading_forward_exactly() {
    let mut bg: Vec<f64> = (0..14).map(|i| 5.0 + i as f64).collect();
    missing(&mut bg, 4..6); // 10 min: interpolated in the stored series
    let mut hr: Vec<f64> = (0..14).map(|i| 60.0 + 2.0 * i as f64).collect();
    missing(&mut hr, 3..6);
    let o = PipelineOptions {
        past_covariates: vec!["hr".into()],
        imputation: BTreeMap::from([("hr".to_string(), Imputation::Linear)]),
        context_length: 5,
        horizon: 2,
        scaling: ScalingMethod::None,
        split: SplitSpec::Temporal {
            train: 1.0,
            val: 0.0,
        },
        calendar: false,
        ..Default::default()
    };
    let p = run(vec![series(vec![("bg", bg), ("hr", hr)])], &o).unwrap();
    // The stored series still interpolates (bg 9, 10; hr 66, 68, 70) ...
    assert_eq!(p.series[0].raw_target[4..6], [9.0, 10.0]);
    let mut b = Batch::default();
    // ... but window 0 (context 0..5) ends inside both gaps: last readings 8 (bg, step 3) and
    // 64 (hr, step 2) carried forward, masks 0.
    p.train.fill_batch(&[0, 1, 2, 3], &mut b);
    let ctx = |k: usize| b.past_values[k * 10..(k + 1) * 10].to_vec();
    let mask = |k: usize| b.past_observed_mask[k * 10..(k + 1) * 10].to_vec();
    assert_eq!(ctx(0), [5., 60., 6., 62., 7., 64., 8., 64., 8., 64.]);
    assert_eq!(mask(0), [1., 1., 1., 1., 1., 1., 1., 0., 0., 0.]);
    // Window 1 (context 1..6): both gaps run to its end.
    assert_eq!(ctx(1), [6., 62., 7., 64., 8., 64., 8., 64., 8., 64.]);
    // Window 2 (context 2..7): both gaps end inside it, interpolation kept.
    assert_eq!(ctx(2), [7., 64., 8., 66., 9., 68., 10., 70., 11., 72.]);
    assert_eq!(ctx(3)[..6], [8., 66., 9., 68., 10., 70.]);
    assert_eq!(p.train.context_target(0), [5.0, 6.0, 7.0, 8.0, 8.0]);
    assert_eq!(p.train.context_target(1), [6.0, 7.0, 8.0, 8.0, 8.0]);
    assert_eq!(p.train.context_target(2), [7.0, 8.0, 9.0, 10.0, 11.0]);
    // Horizon truth: the interpolated step 5 is not a reading.
    let truth = p.train.horizon_truth(0);
    assert!(truth[0].is_nan());
    assert_eq!(truth[1], 11.0);
    assert_eq!(p.train.raw_future_target(0), &[10.0, 11.0]);
}

#[test]
fn mean_fill_and_scaler_ignore_test_readings() {
    // temp: training steps 0..6 hold 1..=6 except step 2 (1, 2, 4, 5, 6: mean 3.6).
    let temp = |tail: f64| -> Vec<f64> {
        (0..10)
            .map(|i| match i {
                2 | 7 => N,
                i if i < 6 => 1.0 + i as f64,
                _ => tail,
            })
            .collect()
    };
    let bg = |tail: f64| -> Vec<f64> {
        (0..10)
            .map(|i| if i < 6 { i as f64 } else { tail })
            .collect()
    };
    let o = PipelineOptions {
        past_covariates: vec!["temp".into()],
        imputation: BTreeMap::from([("temp".to_string(), Imputation::Mean)]),
        context_length: 3,
        horizon: 1,
        split: SplitSpec::Temporal {
            train: 0.6,
            val: 0.2,
        },
        calendar: false,
        ..Default::default()
    };
    let make = |tail| series(vec![("bg", bg(tail)), ("temp", temp(tail))]);
    let p = run(vec![make(100.0)], &o).unwrap();
    let q = run(vec![make(-7.0)], &o).unwrap();
    assert_eq!(p.series[0].splits.train, 0..6);
    assert_eq!(p.scaler, q.scaler);
    // bg 0..=5: mean 2.5, population sd sqrt(35/12).
    assert_eq!(p.scaler.global[0].offset, 2.5);
    assert_eq!(p.scaler.global[0].scale, (35.0f64 / 12.0).sqrt());
    let a = p.scaler.global[1];
    let fill = |p: &Prepared, t: usize| p.series[0].values[t * 2 + 1];
    for t in [2, 7] {
        assert_eq!(fill(&p, t), a.apply(3.6) as f32, "step {t}");
        assert_eq!(fill(&p, t), fill(&q, t));
    }
}

#[test]
fn insulin_time_to_peak_comes_from_the_options() {
    let mut insulin = vec![N; 30];
    insulin[0] = 2.0;
    let s = series(vec![("bg", vec![5.0; 30]), ("insulin", insulin)]);
    let o = |tmax: f64| PipelineOptions {
        past_covariates: vec!["iob".into()],
        insulin_tmax_minutes: tmax,
        scaling: ScalingMethod::None,
        context_length: 4,
        horizon: 2,
        split: SplitSpec::Temporal {
            train: 1.0,
            val: 0.0,
        },
        ..Default::default()
    };
    let iob = |tmax: f64| run(vec![s.clone()], &o(tmax)).unwrap().series[0].values[3];
    // One 5-min step after a 2 U bolus: 2 (1 + 5/tmax) e^{-5/tmax}.
    let expected = |tmax: f64| (2.0 * (1.0 + 5.0 / tmax) * (-5.0 / tmax).exp()) as f32;
    assert_eq!(iob(30.0), expected(30.0));
    assert_eq!(iob(55.0), expected(55.0));
    assert_ne!(iob(30.0), iob(55.0));
    let e = run(vec![s.clone()], &o(0.0)).unwrap_err().to_string();
    assert!(e.contains("insulin_tmax_minutes"), "{e}");
}
