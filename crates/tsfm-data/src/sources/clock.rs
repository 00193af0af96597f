//! Naive (time-zone-free) calendar arithmetic for the `Series` time axis: seconds since
//! 1970-01-01T00:00:00 local wall-clock time. Proleptic Gregorian calendar, no leap seconds.

use crate::series::SECONDS_PER_DAY;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil` algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parses `YYYY-MM-DD`; `None` when malformed or not a real date.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year: i64 = s[0..4].parse().ok()?;
    let month: u32 = s[5..7].parse().ok()?;
    let day: u32 = s[8..10].parse().ok()?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// Parses a time of day `HH:MM:SS` or `HH:MM` (hour may have one digit, minutes and seconds
/// must have two) into seconds since midnight; `None` when malformed or out of range.
pub fn parse_time_of_day(s: &str) -> Option<i64> {
    let mut parts = s.split(':');
    let h = parts.next()?;
    let m = parts.next()?;
    let sec = parts.next();
    if parts.next().is_some() || h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let all_digits = |x: &str| x.bytes().all(|c| c.is_ascii_digit());
    if !all_digits(h) || !all_digits(m) {
        return None;
    }
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    let s = match sec {
        None => 0,
        Some(x) => {
            // Fractional seconds are accepted and truncated.
            let whole = x.split('.').next()?;
            if whole.len() != 2 || !all_digits(whole) {
                return None;
            }
            whole.parse::<i64>().ok()?
        }
    };
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    Some(h * 3600 + m * 60 + s)
}

/// Parses a naive date-time: `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS[.fff]]` or with `T` as the
/// separator; a trailing `Z` is accepted and ignored (the value is taken as wall-clock time).
/// Numeric UTC offsets are refused (`None`): a series must be in one local time.
pub fn parse_datetime(s: &str) -> Option<i64> {
    parse_plain_datetime(s.as_bytes()).or_else(|| parse_any_datetime(s))
}

/// [`parse_datetime`] of every accepted shape.
fn parse_any_datetime(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = s.strip_suffix('Z').unwrap_or(s);
    if s.len() < 10 {
        return None;
    }
    let days = parse_date(s.get(0..10)?)?;
    let rest = &s[10..];
    if rest.is_empty() {
        return Some(days * SECONDS_PER_DAY);
    }
    let rest = rest.strip_prefix(['T', ' '])?;
    if rest.contains(['+', '-']) {
        return None;
    }
    Some(days * SECONDS_PER_DAY + parse_time_of_day(rest)?)
}

/// The common shape `YYYY-MM-DD HH:MM[:SS]` (or with `T`), read from its bytes: most files
/// have one per row, and the general parser's splitting was a tenth of reading a long CSV.
/// Anything else (other lengths, fractions, `Z`, spaces, an invalid date or time) is `None`
/// and left to the general parser, so both accept and compute exactly the same.
fn parse_plain_datetime(b: &[u8]) -> Option<i64> {
    if !(b.len() == 16 || b.len() == 19 && b[16] == b':') {
        return None;
    }
    if b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') || b[13] != b':' {
        return None;
    }
    let number = |at: usize, len: usize| -> Option<i64> {
        b[at..at + len].iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let (year, month, day) = (number(0, 4)?, number(5, 2)?, number(8, 2)?);
    let (hour, minute) = (number(11, 2)?, number(14, 2)?);
    let second = if b.len() == 19 { number(17, 2)? } else { 0 };
    let month = u32::try_from(month).ok().filter(|m| (1..=12).contains(m))?;
    let day = u32::try_from(day)
        .ok()
        .filter(|&d| d >= 1 && d <= days_in_month(year, month))?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second)
}

/// Formats a timestamp as `YYYY-MM-DD HH:MM` (seconds shown only when non-zero).
pub fn format_datetime(ts: i64) -> String {
    let days = ts.div_euclid(SECONDS_PER_DAY);
    let sod = ts.rem_euclid(SECONDS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (sod / 3600, (sod / 60) % 60, sod % 60);
    if ss == 0 {
        format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}")
    } else {
        format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 3, 6), 19_788);
        for d in [-800_000, -1, 0, 59, 11_016, 19_788, 2_000_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }

    #[test]
    fn parses_times_and_refuses_bad_ones() {
        assert_eq!(parse_time_of_day("07:20:38"), Some(7 * 3600 + 20 * 60 + 38));
        assert_eq!(parse_time_of_day("7:20:00"), Some(7 * 3600 + 20 * 60));
        assert_eq!(parse_time_of_day("13:15"), Some(13 * 3600 + 15 * 60));
        for bad in ["25:61:00", "7:5", "", "ab:cd:ef", "12:00:00:00", "24:00:00"] {
            assert_eq!(parse_time_of_day(bad), None, "{bad}");
        }
        assert_eq!(parse_date("2024-02-30"), None);
        assert_eq!(
            parse_datetime("2024-03-06T01:02:03Z"),
            Some(19_788 * 86_400 + 3723)
        );
        assert_eq!(
            parse_datetime("2024-03-06 01:02"),
            Some(19_788 * 86_400 + 3720)
        );
        assert_eq!(parse_datetime("2024-03-06"), Some(19_788 * 86_400));
        assert_eq!(parse_datetime("2024-03-06T01:02:03+01:00"), None);
        assert_eq!(
            format_datetime(19_788 * 86_400 + 3723),
            "2024-03-06 01:02:03"
        );
        assert_eq!(format_datetime(-60), "1969-12-31 23:59");
    }

    /// The byte fast path accepts a subset of what the general parser accepts, with the same
    /// values: checked on valid stamps and on every one-byte change of them.
    #[test]
    fn the_fast_path_agrees_with_the_general_parser() {
        let valid = [
            "2024-03-06 01:02",
            "2024-03-06T01:02:03",
            "2024-02-29 23:59:59",
            "2023-12-31T00:00:00",
            "1969-12-31 23:59",
            "0001-01-01 00:00:00",
        ];
        let bytes = b"0123456789-: TZ+.x";
        let mut fast_hits = 0;
        for stamp in valid {
            assert_eq!(
                parse_plain_datetime(stamp.as_bytes()),
                parse_any_datetime(stamp),
                "{stamp}"
            );
            assert!(parse_plain_datetime(stamp.as_bytes()).is_some(), "{stamp}");
            for at in 0..stamp.len() {
                for &b in bytes {
                    let mut changed = stamp.as_bytes().to_vec();
                    changed[at] = b;
                    let text = String::from_utf8(changed).expect("ASCII");
                    let fast = parse_plain_datetime(text.as_bytes());
                    if fast.is_some() {
                        fast_hits += 1;
                        assert_eq!(fast, parse_any_datetime(&text), "{text}");
                    }
                    assert_eq!(parse_datetime(&text), parse_any_datetime(&text), "{text}");
                }
            }
        }
        // Leap days, month ends and ranges are refused by both.
        for bad in [
            "2023-02-29 00:00",
            "2024-04-31 00:00",
            "2024-13-01 00:00",
            "2024-01-01 24:00",
        ] {
            assert_eq!(parse_plain_datetime(bad.as_bytes()), None, "{bad}");
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
        assert!(fast_hits > 100, "the fast path took {fast_hits} stamps");
    }
}
