//! Resampling onto a regular time grid.
//!
//! The interval is the *modal* gap between consecutive timestamps (the first gap can be a
//! sensor warm-up or a duplicate). The grid starts at the first timestamp. A reading is snapped
//! to the nearest slot (always within ±interval/2). When several readings land in one slot, each
//! channel keeps the non-missing value whose timestamp is closest to the slot time (ties: the
//! earlier reading), so a late duplicate never overwrites an on-time reading. Slots nobody read
//! are NaN.

use crate::preprocess_error::PreprocessError;
use crate::series::{Channel, Series};
use std::collections::HashMap;

/// Most frequent positive gap in seconds (ties: the smaller gap); `None` if there is none.
pub fn modal_interval(timestamps: &[i64]) -> Option<i64> {
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for w in timestamps.windows(2) {
        let d = w[1] - w[0];
        if d > 0 {
            *counts.entry(d).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(d, _)| d)
}

/// Returns `series` on a complete regular grid with `interval_min` set to the modal gap.
pub fn regularize(series: &Series) -> Result<Series, PreprocessError> {
    let ts = &series.timestamps;
    if let Some(row) = ts.windows(2).position(|w| w[1] < w[0]) {
        return Err(PreprocessError::NotAscending {
            series: series.id.clone(),
            row: row + 1,
        });
    }
    let interval = modal_interval(ts).ok_or_else(|| PreprocessError::NoInterval {
        series: series.id.clone(),
    })?;
    let t0 = ts[0];
    let slot_of = |t: i64| ((t - t0) as f64 / interval as f64).round() as usize;
    let n = slot_of(*ts.last().expect("non-empty: has an interval")) + 1;
    let timestamps: Vec<i64> = (0..n as i64).map(|k| t0 + k * interval).collect();
    let channels = series
        .channels
        .iter()
        .map(|c| {
            let mut values = vec![f64::NAN; n];
            let mut best = vec![i64::MAX; n];
            for (&t, &v) in ts.iter().zip(&c.values) {
                if v.is_nan() {
                    continue;
                }
                let k = slot_of(t);
                let dist = (t - timestamps[k]).abs();
                if dist < best[k] {
                    best[k] = dist;
                    values[k] = v;
                }
            }
            Channel {
                name: c.name.clone(),
                values,
            }
        })
        .collect();
    Ok(Series {
        id: series.id.clone(),
        timestamps,
        interval_min: (interval / 60).max(1) as u32,
        channels,
        unit: series.unit.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(ts: Vec<i64>, v: Vec<f64>) -> Series {
        Series {
            id: "p1".into(),
            timestamps: ts,
            interval_min: 0,
            channels: vec![Channel {
                name: "bg".into(),
                values: v,
            }],
            unit: Some("mmol/L".into()),
        }
    }

    #[test]
    fn modal_not_first_gap() {
        assert_eq!(modal_interval(&[0, 60, 360, 660, 960]), Some(300));
        assert_eq!(modal_interval(&[0, 300, 600, 1200, 1800]), Some(300));
        assert_eq!(modal_interval(&[5]), None);
    }

    #[test]
    fn snaps_and_fills_missing_slots() {
        // gaps 300,10,590,290,310,300: modal 300. 310 -> slot 1, 1190 -> slot 4, none near 600.
        let s = series(
            vec![0, 300, 310, 900, 1190, 1500, 1800],
            vec![1.0, 2.0, 9.0, 3.0, 4.0, 5.0, 6.0],
        );
        let g = regularize(&s).unwrap();
        assert_eq!(g.timestamps, vec![0, 300, 600, 900, 1200, 1500, 1800]);
        assert_eq!(g.interval_min, 5);
        let v = &g.channels[0].values;
        assert_eq!(
            v[1], 2.0,
            "closest reading to the slot wins over the late duplicate"
        );
        assert!(v[2].is_nan());
        assert_eq!([v[0], v[3], v[4], v[5], v[6]], [1.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn closer_later_reading_wins_and_nan_never_overwrites() {
        let s = series(
            vec![0, 290, 301, 600, 900, 1200],
            vec![1.0, 2.0, 3.0, f64::NAN, 5.0, 6.0],
        );
        let g = regularize(&s).unwrap();
        assert_eq!(g.channels[0].values[1], 3.0);
        assert!(g.channels[0].values[2].is_nan());
    }

    #[test]
    fn rejects_unsorted() {
        let s = series(vec![0, 300, 200], vec![1.0; 3]);
        assert!(matches!(
            regularize(&s),
            Err(PreprocessError::NotAscending { row: 2, .. })
        ));
    }
}
