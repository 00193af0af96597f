//! Night-time selection from naive local timestamps (seconds since 1970-01-01 local time).
//!
//! A window's `origin_ts` is the time of its last context reading; step h (1-based) targets
//! `origin_ts + h · interval`. A midnight-anchored episode is a window whose context ends at
//! 00:00 (as upstream: context ends at midnight, forecast the following hours). Night targets are
//! those with local time in [00:00, 06:00). The anchor is configurable (`context_end`, e.g.
//! 23:00); the night band is the clinical one and stays fixed.

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

/// Seconds of the day of an "HH:MM" local time (00:00–23:59, two-digit hour and minute).
pub fn parse_time_of_day(text: &str) -> Result<i64, String> {
    let bad = || format!("expected a time of day `HH:MM` (00:00 to 23:59), got `{text}`");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return Err(bad());
    }
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 3600 + m * 60)
}

/// Context ends exactly at `anchor_s` seconds of the day (0 = midnight).
pub fn is_anchor_origin(origin_ts: i64, anchor_s: i64) -> bool {
    second_of_day(origin_ts) == anchor_s
}
