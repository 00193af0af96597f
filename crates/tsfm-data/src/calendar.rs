//! Calendar covariates known in advance (future covariates): hour-of-day on the unit circle.

use crate::series::SECONDS_PER_DAY;

/// Number of calendar features per step.
pub const N_CALENDAR: usize = 2;

/// `[sin, cos]` of the time of day of a naive local timestamp (seconds since epoch).
/// Midnight is `[0, 1]`, 06:00 is `[1, 0]`.
pub fn hour_of_day(timestamp: i64) -> [f32; N_CALENDAR] {
    let second = timestamp.rem_euclid(SECONDS_PER_DAY) as f64;
    let angle = std::f64::consts::TAU * second / SECONDS_PER_DAY as f64;
    [angle.sin() as f32, angle.cos() as f32]
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
