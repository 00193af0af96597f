//! Resampling series onto the `resolution_min` grid, exact values.

use tsfm_data::resample::resample;
use tsfm_data::{Channel, Series};

const N: f64 = f64::NAN;

fn series(timestamps: Vec<i64>, interval_min: u32, channels: Vec<(&str, Vec<f64>)>) -> Series {
    Series {
        id: "p".into(),
        timestamps,
        interval_min,
        channels: channels
            .into_iter()
            .map(|(name, values)| Channel {
                name: name.into(),
                values,
            })
            .collect(),
        unit: None,
    }
}

/// NaN-aware exact comparison.
fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn fifteen_minutes_up_to_five() {
    // 10:00 .. 11:00 every 15 min plus a carbs record at 10:07; bg missing at 10:45 (so
    // 10:30-11:00 is a 30-min gap: not interpolated).
    let t = |m: i64| 36_000 + m * 60;
    let s = series(
        vec![t(0), t(7), t(15), t(30), t(45), t(60)],
        15,
        vec![
            ("bg", vec![6.0, N, 9.0, 12.0, N, 3.0]),
            ("carbs", vec![N, 20.0, 5.0, N, N, N]),
            ("hr", vec![70.0, N, 80.0, 90.0, N, 60.0]),
        ],
    );
    let r = resample(&s, 5).unwrap();
    assert_eq!(r.interval_min, 5);
    assert_eq!(r.timestamps, (0..13).map(|k| t(5 * k)).collect::<Vec<_>>());
    let bg = &r.channels[0].values;
    assert_eq!(
        bits(bg),
        bits(&[
            6.0,
            6.0 + 3.0 * 300.0 / 900.0,
            6.0 + 3.0 * 600.0 / 900.0,
            9.0,
            9.0 + 3.0 * 300.0 / 900.0,
            9.0 + 3.0 * 600.0 / 900.0,
            12.0,
            N,
            N,
            N,
            N,
            N,
            3.0
        ])
    );
    // 10:07 lands in the 10:05 slot; 10:15 in its own; nothing else.
    let mut carbs = vec![N; 13];
    (carbs[1], carbs[3]) = (20.0, 5.0);
    assert_eq!(bits(&r.channels[1].values), bits(&carbs));
    // hr held within each 15-min interval, missing where the 10:45 reading is.
    let hr = [70., 70., 70., 80., 80., 80., 90., 90., 90., N, N, N, 60.];
    assert_eq!(bits(&r.channels[2].values), bits(&hr));
}

#[test]
fn one_minute_down_to_five() {
    // 12 one-minute rows: bg = minute, insulin 0.1 per minute with minute 3 missing, hr = 60 + m.
    let bg: Vec<f64> = (0..12).map(|m| m as f64).collect();
    let ins: Vec<f64> = (0..12).map(|m| if m == 3 { N } else { 0.5 }).collect();
    let hr: Vec<f64> = (0..12).map(|m| 60.0 + m as f64).collect();
    let s = series(
        (0..12).map(|m| m * 60).collect(),
        1,
        vec![("bg", bg), ("insulin", ins), ("hr", hr)],
    );
    let r = resample(&s, 5).unwrap();
    assert_eq!(r.timestamps, [0, 300, 600]);
    // Readings at the slot time, not the slot mean.
    assert_eq!(r.channels[0].values, [0.0, 5.0, 10.0]);
    // Events summed over each slot's minutes: 4 x 0.5, 5 x 0.5, 2 x 0.5.
    assert_eq!(r.channels[1].values, [2.0, 2.5, 1.0]);
    assert_eq!(r.channels[2].values, [60.0, 65.0, 70.0]);
}
