//! End-to-end pipeline checks on small synthetic series with exact expected values.

use tsfm_data::impute::Imputation;
use tsfm_data::pipeline::{PipelineOptions, run, run_with_scaler};
use tsfm_data::scaler::{Affine, ScalingMethod};
use tsfm_data::split::{Role, SplitSpec};
use tsfm_data::{Batch, Channel, PreprocessError, Series};

const STEP: i64 = 300;

fn series(id: &str, bg: Vec<f64>, hr: Vec<f64>) -> Series {
    Series {
        id: id.into(),
        timestamps: (0..bg.len() as i64).map(|i| i * STEP).collect(),
        interval_min: 5,
        channels: vec![
            Channel {
                name: "bg".into(),
                values: bg,
            },
            Channel {
                name: "hr".into(),
                values: hr,
            },
        ],
        unit: Some("mmol/L".into()),
    }
}

fn opts(split: SplitSpec) -> PipelineOptions {
    PipelineOptions {
        past_covariates: vec!["hr".into()],
        context_length: 4,
        horizon: 2,
        split,
        ..Default::default()
    }
}

#[test]
fn gaps_segments_windows_and_report() {
    // 40 rows; rows 10..12 missing (10 min: interpolated), rows 20..30 missing (50 min: split).
    let mut bg: Vec<f64> = (0..40).map(|i| 5.0 + i as f64 * 0.1).collect();
    for i in (10..12).chain(20..30) {
        bg[i] = f64::NAN;
    }
    let hr = vec![60.0; 40];
    let o = PipelineOptions {
        scaling: ScalingMethod::None,
        ..opts(SplitSpec::Temporal {
            train: 1.0,
            val: 0.0,
        })
    };
    let p = run(vec![series("a", bg, hr)], &o).unwrap();
    assert_eq!(p.report.rows, 40);
    assert_eq!(p.report.gaps_interpolated, 2);
    assert_eq!(p.report.segments_kept, 2);
    assert_eq!(p.series[0].segments, vec![0..20, 30..40]);
    // 20 - 6 + 1 = 15 and 10 - 6 + 1 = 5 windows.
    assert_eq!(p.report.windows_train, 20);
    assert_eq!(p.report.windows_val + p.report.windows_test, 0);
    let s = &p.series[0];
    assert!((s.raw_target[10] - 6.0).abs() < 1e-12);
    // The interpolated target keeps observed mask 0 (exclude it from metrics).
    assert_eq!(s.observed[10 * 2], 0.0);
    assert_eq!(s.observed[9 * 2], 1.0);
    let mut b = Batch::default();
    p.train.fill_batch(&[15], &mut b);
    assert_eq!(b.origin_timestamp, vec![34 * STEP]);
    assert_eq!(b.future_values, vec![8.4, 60.0, 8.5, 60.0]);
    assert_eq!(b.future_covariates.len(), 2 * 2);
}

#[test]
fn scaler_fit_ignores_val_and_test() {
    let make = |tail: f64| {
        let bg: Vec<f64> = (0..100)
            .map(|i| if i < 70 { (i % 2) as f64 * 2.0 } else { tail })
            .collect();
        series("a", bg, vec![1.0; 100])
    };
    let o = opts(SplitSpec::Temporal {
        train: 0.7,
        val: 0.1,
    });
    let p1 = run(vec![make(50.0)], &o).unwrap();
    let p2 = run(vec![make(-999.0)], &o).unwrap();
    assert_eq!(p1.scaler, p2.scaler);
    assert_eq!(
        p1.scaler.global[0],
        Affine {
            offset: 1.0,
            scale: 1.0
        }
    );
    assert_eq!(p1.series[0].splits.train, 0..70);
    assert!(!p1.val.is_empty() && !p1.test.is_empty());
    // Unscaling gives data units back.
    let mut b = Batch::default();
    p1.test.fill_batch(&[0], &mut b);
    let mut target: Vec<f32> = b.future_values.iter().step_by(2).copied().collect();
    p1.unscale_target(b.series_index[0], &mut target);
    assert_eq!(target, vec![50.0, 50.0]);
    assert_eq!(p1.test.raw_future_target(0), &[50.0, 50.0]);
    // Same data through a saved scaler gives identical buffers.
    let again = run_with_scaler(vec![make(50.0)], &o, p1.scaler.clone()).unwrap();
    assert_eq!(again.series[0].values, p1.series[0].values);
}

#[test]
fn patient_holdout_and_validation_requirement() {
    let s = |id: &str| series(id, (0..30).map(|i| i as f64).collect(), vec![1.0; 30]);
    let o = opts(SplitSpec::Patient {
        val_ids: vec![],
        test_ids: vec!["b".into()],
    });
    let p = run(vec![s("a"), s("b")], &o).unwrap();
    assert_eq!(p.report.windows_train, 25);
    assert_eq!(p.report.windows_test, 25);
    assert!(
        p.test
            .windows()
            .iter()
            .all(|&(si, _)| p.series[si].id == "b")
    );
    assert!(p.require_validation(false).is_ok());
    assert!(matches!(
        p.require_validation(true),
        Err(PreprocessError::ValidationTooSmall { windows: 0, .. })
    ));
    assert_eq!(p.anchored(Some(Role::Test), 0, 4, 2).len(), 0);
}

#[test]
fn user_errors_name_the_problem() {
    let s = series("p7", vec![1.0; 10], vec![1.0; 10]);
    let o = PipelineOptions {
        target: "glucose".into(),
        ..opts(SplitSpec::default())
    };
    let e = run(vec![s.clone()], &o).unwrap_err().to_string();
    assert!(
        e.contains("p7") && e.contains("glucose") && e.contains("bg, hr"),
        "{e}"
    );
    let o = PipelineOptions {
        context_length: 0,
        ..opts(SplitSpec::default())
    };
    assert!(
        run(vec![s.clone()], &o)
            .unwrap_err()
            .to_string()
            .contains("context_length")
    );
    let o = PipelineOptions {
        context_length: 20,
        ..opts(SplitSpec::default())
    };
    assert!(matches!(
        run(vec![s], &o),
        Err(PreprocessError::NoTrainingWindows { needed: 22 })
    ));
    let parsed: PipelineOptions = serde_json::from_str(r#"{"horizon": 12}"#).unwrap();
    assert_eq!(parsed.horizon, 12);
    assert_eq!(parsed.max_gap_minutes, 45);
    assert!(serde_json::from_str::<PipelineOptions>(r#"{"horizn": 12}"#).is_err());
}

#[test]
fn iob_is_derived_from_insulin() {
    let mut s = series("a", vec![5.0; 30], vec![60.0; 30]);
    let mut insulin = vec![f64::NAN; 30];
    insulin[0] = 2.0;
    s.channels.push(Channel {
        name: "insulin".into(),
        values: insulin,
    });
    let o = PipelineOptions {
        past_covariates: vec!["iob".into()],
        scaling: ScalingMethod::None,
        ..opts(SplitSpec::Temporal {
            train: 1.0,
            val: 0.0,
        })
    };
    let p = run(vec![s.clone()], &o).unwrap();
    let iob: Vec<f32> = p.series[0]
        .values
        .iter()
        .skip(1)
        .step_by(2)
        .copied()
        .collect();
    let t = 5.0 / tsfm_data::features::INSULIN_TMAX_MIN;
    assert_eq!(iob[0], 2.0);
    assert_eq!(iob[1], (2.0 * (1.0 + t) * (-t).exp()) as f32);
    s.channels.pop();
    assert!(matches!(
        run(vec![s], &o),
        Err(PreprocessError::MissingCovariate { .. })
    ));
}

#[test]
fn day_of_week_follows_hour_of_day_in_future_covariates() {
    // Start Monday 2024-03-04 00:00 (19786 days after 1970-01-01), 5-min steps.
    let monday = 19_786 * 86_400;
    let mut s = series("a", vec![5.0; 30], vec![60.0; 30]);
    s.timestamps = (0..30).map(|i| monday + i * STEP).collect();
    let o = PipelineOptions {
        day_of_week: true,
        ..opts(SplitSpec::Temporal {
            train: 1.0,
            val: 0.0,
        })
    };
    let p = run(vec![s.clone()], &o).unwrap();
    let ps = &p.series[0];
    assert_eq!(ps.n_future, 4);
    assert_eq!(ps.future.len(), 30 * 4);
    // Monday 00:00: hour [0, 1], week [0, 1].
    assert_eq!(&ps.future[..4], &[0.0, 1.0, 0.0, 1.0]);
    // Step 12 = 01:00: hour angle 2pi/24, week angle 2pi/168.
    let (h, w) = (std::f64::consts::TAU / 24.0, std::f64::consts::TAU / 168.0);
    let expected = [h.sin(), h.cos(), w.sin(), w.cos()].map(|v| v as f32);
    assert_eq!(&ps.future[48..52], &expected);
    // Hour-of-day only: 2 features.
    let o2 = PipelineOptions {
        day_of_week: false,
        ..o.clone()
    };
    assert_eq!(run(vec![s.clone()], &o2).unwrap().series[0].n_future, 2);
    // Day-of-week without hour-of-day is refused, naming the option.
    let o3 = PipelineOptions {
        calendar: false,
        ..o
    };
    assert_eq!(
        run(vec![s], &o3).unwrap_err().to_string(),
        "option `day_of_week`: is an addition to the hour-of-day calendar features; turn `calendar` on too"
    );
}

#[test]
fn covariates_get_their_channel_default_imputation_unless_named() {
    const N: f64 = f64::NAN;
    let mut s = series("a", vec![5.0; 6], vec![60.0, N, N, 72.0, N, N]);
    for (name, values) in [
        ("steps", vec![10.0, N, N, 4.0, N, N]),
        ("cals", vec![8.0, N, 7.0, N, N, 9.0]),
        ("insulin", vec![N, 0.5, N, N, 1.0, N]),
        ("temp", vec![1.0, N, N, 4.0, N, N]),
    ] {
        s.channels.push(Channel {
            name: name.into(),
            values,
        });
    }
    let mut o = PipelineOptions {
        past_covariates: ["hr", "steps", "cals", "insulin", "temp"]
            .map(String::from)
            .into(),
        context_length: 2,
        horizon: 1,
        scaling: ScalingMethod::None,
        ..opts(SplitSpec::Temporal {
            train: 1.0,
            val: 0.0,
        })
    };
    let column = |p: &tsfm_data::Prepared, c: usize| -> Vec<f32> {
        p.series[0]
            .values
            .iter()
            .skip(c)
            .step_by(6)
            .copied()
            .collect()
    };
    let p = run(vec![s.clone()], &o).unwrap();
    // hr and cals forward-filled, steps and insulin zero, `temp` (no built-in) linear.
    assert_eq!(column(&p, 1), [60.0, 60.0, 60.0, 72.0, 72.0, 72.0]);
    assert_eq!(column(&p, 2), [10.0, 0.0, 0.0, 4.0, 0.0, 0.0]);
    assert_eq!(column(&p, 3), [8.0, 8.0, 7.0, 7.0, 7.0, 9.0]);
    assert_eq!(column(&p, 4), [0.0, 0.5, 0.0, 0.0, 1.0, 0.0]);
    assert_eq!(column(&p, 5), [1.0, 2.0, 3.0, 4.0, 4.0, 4.0]);
    // A column named in the options wins over its built-in default.
    o.imputation.insert("hr".into(), Imputation::Linear);
    o.default_imputation = Imputation::Zero;
    let p = run(vec![s], &o).unwrap();
    assert_eq!(column(&p, 1), [60.0, 64.0, 68.0, 72.0, 72.0, 72.0]);
    assert_eq!(column(&p, 5), [1.0, 0.0, 0.0, 4.0, 0.0, 0.0]);
}
