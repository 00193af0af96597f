//! Gap policy for the target: short gaps are interpolated linearly, long gaps split the series
//! into segments, and segments too short for one window are dropped.

use std::ops::Range;

/// Default longest gap (minutes) that is interpolated rather than split on.
pub const DEFAULT_MAX_GAP_MINUTES: u32 = 45;

/// Linearly fills interior runs of NaN of at most `max_gap_steps` values.
/// Leading/trailing NaN and longer runs are left as NaN. Returns the number of values filled.
pub fn interpolate_short_gaps(values: &mut [f64], max_gap_steps: usize) -> usize {
    let mut filled = 0;
    let mut last: Option<usize> = None;
    for i in 0..values.len() {
        if values[i].is_nan() {
            continue;
        }
        if let Some(p) = last {
            let run = i - p - 1;
            if run > 0 && run <= max_gap_steps {
                let (a, b) = (values[p], values[i]);
                for k in 1..=run {
                    values[p + k] = a + (b - a) * k as f64 / (run + 1) as f64;
                }
                filled += run;
            }
        }
        last = Some(i);
    }
    filled
}

/// Contiguous index ranges with no missing value, keeping those at least `min_len` long.
/// Returns the kept segments and how many were dropped as too short.
pub fn segments(values: &[f64], min_len: usize) -> (Vec<Range<usize>>, usize) {
    let mut kept = Vec::new();
    let mut dropped = 0;
    let mut start: Option<usize> = None;
    for i in 0..=values.len() {
        let present = i < values.len() && !values[i].is_nan();
        match (present, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s >= min_len {
                    kept.push(s..i);
                } else {
                    dropped += 1;
                }
                start = None;
            }
            _ => {}
        }
    }
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    const N: f64 = f64::NAN;

    #[test]
    fn fills_short_gap_only() {
        let mut v = vec![N, 1.0, N, N, 4.0, N, N, N, N, 9.0, N];
        assert_eq!(interpolate_short_gaps(&mut v, 3), 2);
        assert!(v[0].is_nan() && v[10].is_nan());
        assert_eq!(&v[1..5], &[1.0, 2.0, 3.0, 4.0]);
        assert!(v[5..9].iter().all(|x| x.is_nan()));
    }

    #[test]
    fn splits_and_drops() {
        let v = vec![1.0, 2.0, 3.0, N, 5.0, N, N, 1.0, 1.0, 1.0, 1.0];
        let (kept, dropped) = segments(&v, 3);
        assert_eq!(kept, vec![0..3, 7..11]);
        assert_eq!(dropped, 1);
        assert_eq!(segments(&[N, N], 1), (vec![], 0));
    }
}
