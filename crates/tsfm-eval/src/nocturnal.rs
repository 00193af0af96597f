//! Night-time selection from naive local timestamps (seconds since 1970-01-01 local time).
//!
//! A window's `origin_ts` is the time of its last context reading; step h (1-based) targets
//! `origin_ts + h · interval`. A midnight-anchored episode is a window whose context ends at
//! 00:00 (as upstream: context ends at midnight, forecast the following hours). Night targets are
//! those with local time in [00:00, 06:00).

pub const SECONDS_PER_DAY: i64 = 86_400;
/// End of the night band (06:00) in seconds of the day.
pub const NIGHT_END_S: i64 = 6 * 3600;

pub fn second_of_day(ts: i64) -> i64 {
    ts.rem_euclid(SECONDS_PER_DAY)
}

/// Timestamp of forecast step `step` (1-based).
pub fn target_ts(origin_ts: i64, step: usize, interval_min: u32) -> i64 {
    origin_ts + step as i64 * interval_min as i64 * 60
}

/// Local time in [00:00, 06:00).
pub fn is_night(ts: i64) -> bool {
    second_of_day(ts) < NIGHT_END_S
}

/// Context ends exactly at 00:00.
pub fn is_midnight_origin(origin_ts: i64) -> bool {
    second_of_day(origin_ts) == 0
}
