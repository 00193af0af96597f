//! Calendar covariates known in advance (future covariates): hour-of-day and, optionally,
//! day-of-week, each as `[sin, cos]` on the unit circle.
//!
//! Timestamps are naive local times in seconds since 1970-01-01 00:00 (a Thursday).
//! Day-of-week is the continuous phase of the week starting Monday 00:00 (period 7 days), so
//! it moves smoothly through each day instead of jumping at midnight. It only carries
//! information when the data has real dates: the BrisT1D and REPLACE-BG sources synthesise
//! dates from an arbitrary base day, which is why the config refuses it for them.
//!
//! Layout per step: `[hod_sin, hod_cos]`, then `[dow_sin, dow_cos]` when day-of-week is on.
//! Day-of-week is an addition to hour-of-day (never alone), so the number of features (0, 2 or
//! 4) says which features a model was trained with.

use crate::series::SECONDS_PER_DAY;

/// Number of hour-of-day features per step.
pub const N_CALENDAR: usize = 2;
/// Number of features per step with day-of-week added.
pub const N_CALENDAR_WITH_WEEKDAY: usize = 4;

const SECONDS_PER_WEEK: i64 = 7 * SECONDS_PER_DAY;
/// 1970-01-01 was a Thursday, 3 days after Monday 1969-12-29 00:00.
const EPOCH_AFTER_MONDAY_S: i64 = 3 * SECONDS_PER_DAY;

fn on_circle(fraction: f64) -> [f32; 2] {
    let angle = std::f64::consts::TAU * fraction;
    [angle.sin() as f32, angle.cos() as f32]
}

/// `[sin, cos]` of the time of day of a naive local timestamp (seconds since epoch).
/// Midnight is `[0, 1]`, 06:00 is `[1, 0]`.
pub fn hour_of_day(timestamp: i64) -> [f32; N_CALENDAR] {
    let second = timestamp.rem_euclid(SECONDS_PER_DAY) as f64;
    on_circle(second / SECONDS_PER_DAY as f64)
}

/// `[sin, cos]` of the phase of the week (period 7 days, Monday 00:00 = `[0, 1]`,
/// Thursday 12:00 = `[0, -1]`).
pub fn day_of_week(timestamp: i64) -> [f32; 2] {
    let second = (timestamp + EPOCH_AFTER_MONDAY_S).rem_euclid(SECONDS_PER_WEEK) as f64;
    on_circle(second / SECONDS_PER_WEEK as f64)
}

/// Which calendar features a pipeline adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Calendar {
    /// Hour-of-day sin/cos.
    pub hour_of_day: bool,
    /// Day-of-week sin/cos; requires `hour_of_day`.
    pub day_of_week: bool,
}

impl Calendar {
    /// Features per step: 0, 2 or 4.
    pub fn n_features(self) -> usize {
        match (self.hour_of_day, self.day_of_week) {
            (false, _) => 0,
            (true, false) => N_CALENDAR,
            (true, true) => N_CALENDAR_WITH_WEEKDAY,
        }
    }

    /// The features a model trained with `n_future` calendar features per step expects
    /// (0, 2 or 4; the layout is fixed, see the module docs). `None` for any other count.
    pub fn from_n_features(n_future: usize) -> Option<Calendar> {
        match n_future {
            0 => Some(Calendar::default()),
            N_CALENDAR => Some(Calendar {
                hour_of_day: true,
                day_of_week: false,
            }),
            N_CALENDAR_WITH_WEEKDAY => Some(Calendar {
                hour_of_day: true,
                day_of_week: true,
            }),
            _ => None,
        }
    }

    /// Appends the features of `timestamp` to `out` (nothing when hour-of-day is off).
    pub fn push(self, timestamp: i64, out: &mut Vec<f32>) {
        if !self.hour_of_day {
            return;
        }
        out.extend(hour_of_day(timestamp));
        if self.day_of_week {
            out.extend(day_of_week(timestamp));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [f32; 2], b: [f32; 2]) -> bool {
        (a[0] - b[0]).abs() < 1e-6 && (a[1] - b[1]).abs() < 1e-6
    }

    #[test]
    fn known_times() {
        assert_eq!(hour_of_day(0), [0.0, 1.0]);
        let six = hour_of_day(6 * 3600 + 86_400 * 3);
        assert!((six[0] - 1.0).abs() < 1e-6 && six[1].abs() < 1e-6);
        let noon = hour_of_day(12 * 3600);
        assert!(noon[0].abs() < 1e-6 && (noon[1] + 1.0).abs() < 1e-6);
        // Negative timestamps (before 1970) still map to the time of day.
        assert_eq!(hour_of_day(-SECONDS_PER_DAY), [0.0, 1.0]);
    }

    #[test]
    fn day_of_week_known_days() {
        // 2024-03-04 00:00 is a Monday: 19786 days after 1970-01-01.
        let monday = 19_786 * SECONDS_PER_DAY;
        assert_eq!(day_of_week(monday), [0.0, 1.0]);
        // Thursday 2024-03-07 12:00: half a week later.
        let thursday_noon = monday + 3 * SECONDS_PER_DAY + 12 * 3600;
        let v = day_of_week(thursday_noon);
        assert!(close(v, [0.0, -1.0]), "{v:?}");
        // Wednesday 2024-03-06 06:00: 2.25 days = 9/28 of the week, angle 9pi/14.
        let wed = monday + 2 * SECONDS_PER_DAY + 6 * 3600;
        let a = std::f64::consts::TAU * 9.0 / 28.0;
        assert!(close(day_of_week(wed), [a.sin() as f32, a.cos() as f32]));
        // The epoch itself is a Thursday 00:00: 3/7 of the week.
        let a = std::f64::consts::TAU * 3.0 / 7.0;
        assert!(close(day_of_week(0), [a.sin() as f32, a.cos() as f32]));
        // Period 7 days, also before 1970 (1969-12-29 was a Monday).
        assert_eq!(day_of_week(-3 * SECONDS_PER_DAY), [0.0, 1.0]);
        assert_eq!(day_of_week(monday + 7 * SECONDS_PER_DAY), [0.0, 1.0]);
    }

    #[test]
    fn calendar_layout() {
        let monday_six = 19_786 * SECONDS_PER_DAY + 6 * 3600;
        let both = Calendar {
            hour_of_day: true,
            day_of_week: true,
        };
        let mut out = Vec::new();
        both.push(monday_six, &mut out);
        // Hour 06:00 -> [1, 0]; Monday 06:00 = 1/28 of the week.
        let a = std::f64::consts::TAU / 28.0;
        let expected = [1.0, 0.0, a.sin() as f32, a.cos() as f32];
        assert_eq!(out.len(), 4);
        for (g, e) in out.iter().zip(expected) {
            assert!((g - e).abs() < 1e-6, "{out:?}");
        }
        assert_eq!(both.n_features(), 4);
        assert_eq!(Calendar::from_n_features(4), Some(both));
        assert_eq!(Calendar::from_n_features(2).unwrap().n_features(), 2);
        assert_eq!(Calendar::from_n_features(0), Some(Calendar::default()));
        assert_eq!(Calendar::from_n_features(3), None);
        // Day-of-week alone adds nothing (it is an addition to hour-of-day).
        let mut none = Vec::new();
        Calendar {
            hour_of_day: false,
            day_of_week: true,
        }
        .push(0, &mut none);
        assert!(none.is_empty());
    }
}
