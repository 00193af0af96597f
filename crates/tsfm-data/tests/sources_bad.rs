//! Every deliberately malformed file (copied from the demo's `bad/`) gives a typed user error
//! with a one-line message naming the file, line and column, or loads with a warning where
//! that is the documented rule.

use std::path::PathBuf;

use tsfm_data::error::InputErrorKind as K;
use tsfm_data::sources::{SourceKind, SourceOptions, load};

fn bad(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/bad")
        .join(name)
}

fn opts(name: &str) -> SourceOptions {
    let kind = if name.starts_with("brist1d") {
        SourceKind::BrisT1d
    } else {
        SourceKind::Aleppo
    };
    SourceOptions::new(kind, bad(name))
}

/// Loads a bad file and checks the error kind and its message after the path.
fn expect_error(name: &str, kind: K, message: &str) {
    let err = load(&opts(name)).expect_err(name);
    assert_eq!(err.input_kind(), Some(kind), "{name}: {err}");
    assert!(err.is_user_error(), "{name}");
    let text = err.to_string();
    assert!(!text.contains('\n'), "{name}: one line: {text}");
    let path = bad(name).display().to_string();
    assert_eq!(text, format!("{path}{message}"), "{name}");
}

#[test]
fn brist1d_empty() {
    expect_error(
        "brist1d_empty.csv",
        K::Empty,
        ": empty input: the file has no header row",
    );
}

#[test]
fn brist1d_header_only() {
    expect_error(
        "brist1d_header_only.csv",
        K::NoRows,
        ": the file has a header but no data rows",
    );
}

#[test]
fn brist1d_truncated_row() {
    expect_error(
        "brist1d_truncated_row.csv",
        K::FieldCount,
        ":41: row has 121 fields but the header has 508 (truncated or malformed row)",
    );
}

#[test]
fn brist1d_nonnumeric_bg() {
    expect_error(
        "brist1d_nonnumeric_bg.csv",
        K::NotANumber,
        ":5: bg-0:00 \"HIGH\" is not a number",
    );
}

#[test]
fn brist1d_duplicate_rows() {
    expect_error(
        "brist1d_duplicate_rows.csv",
        K::Duplicate,
        ":13: id \"p01_10\" already appears on line 12; ids must be unique",
    );
}

#[test]
fn brist1d_wrong_units_refused_then_converted_when_stated() {
    expect_error(
        "brist1d_wrong_units_mgdl.csv",
        K::WrongUnit,
        ": bg has median 142.0, which looks like mg/dL but this format is mmol/L; if that is right, \
         state the unit (--unit \"mg/dL\" or data.unit: \"mg/dL\") to convert it",
    );
    let mut o = opts("brist1d_wrong_units_mgdl.csv");
    o.unit_override = Some("mg/dL".into());
    let out = load(&o).unwrap();
    let bg: Vec<f64> = out
        .series
        .iter()
        .flat_map(|s| s.channel("bg").unwrap().values.clone())
        .filter(|v| !v.is_nan())
        .collect();
    let median = tsfm_data::units::median(bg.iter().copied()).unwrap();
    assert!((median - 142.0 / 18.0182).abs() < 1e-9, "{median}");
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("converted from mg/dL"))
    );
}

#[test]
fn brist1d_missing_column() {
    expect_error(
        "brist1d_missing_column.csv",
        K::MissingColumn,
        ":1: missing column \"bg-3:00\" in the header",
    );
}

#[test]
fn brist1d_semicolon() {
    expect_error(
        "brist1d_semicolon.csv",
        K::MissingColumn,
        ":1: missing column \"id\" in the header (the header is one field; the file looks ';'-delimited, expected ',')",
    );
}

#[test]
fn aleppo_empty() {
    expect_error(
        "aleppo_empty.txt",
        K::Empty,
        ": empty input: the file has no header row",
    );
}

#[test]
fn aleppo_header_only() {
    expect_error(
        "aleppo_header_only.txt",
        K::NoRows,
        ": the file has a header but no data rows",
    );
}

#[test]
fn aleppo_truncated_row() {
    expect_error(
        "aleppo_truncated_row.txt",
        K::FieldCount,
        ":201: row has 6 fields but the header has 10 (truncated or malformed row)",
    );
}

#[test]
fn aleppo_nonnumeric_glucose() {
    expect_error(
        "aleppo_nonnumeric_glucose.txt",
        K::NotANumber,
        ":7: GlucoseValue \"High\" is not a number",
    );
}

#[test]
fn aleppo_duplicate_timestamps_resolved_by_max_recid_with_warning() {
    let out = load(&opts("aleppo_duplicate_timestamps.txt")).unwrap();
    let w = out
        .warnings
        .iter()
        .find(|w| w.contains("different GlucoseValue"))
        .expect("warning");
    assert!(
        w.starts_with("aleppo_duplicate_timestamps.txt: 3 readings with the same PtID and time"),
        "{w}"
    );
    assert!(
        w.contains("line 32 (RecID 500031) vs line 102 (RecID 1400031)"),
        "{w}"
    );
    // The conflicting copy is the original + 37 mg/dL with a larger RecID: that one is kept.
    let text = std::fs::read_to_string(bad("aleppo_duplicate_timestamps.txt")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let orig: f64 = lines[31].rsplit('|').next().unwrap().parse().unwrap();
    let dup: f64 = lines[101].rsplit('|').next().unwrap().parse().unwrap();
    assert_eq!(dup, orig + 37.0);
    let time = lines[31].split('|').nth(5).unwrap(); // DeviceTm "09:50:38"
    assert_eq!(time, "09:50:38");
    let s = &out.series[0];
    // Base date 2020-01-01, day -2: 2019-12-30 09:50 slot.
    let slot = tsfm_data::sources::clock::parse_datetime("2019-12-30 09:50").unwrap();
    let i = s.timestamps.iter().position(|&t| t == slot).unwrap();
    assert!((s.channel("bg").unwrap().values[i] - dup / 18.0182).abs() < 1e-12);
}

#[test]
fn aleppo_wrong_units_refused_then_accepted_when_stated() {
    expect_error(
        "aleppo_wrong_units_mmol.txt",
        K::WrongUnit,
        ": GlucoseValue has median 7.6, which looks like mmol/L but this format is mg/dL; if that is \
         right, state the unit (--unit \"mmol/L\" or data.unit: \"mmol/L\") to convert it",
    );
    let mut o = opts("aleppo_wrong_units_mmol.txt");
    o.unit_override = Some("mmol/L".into());
    let out = load(&o).unwrap();
    assert_eq!(out.series[0].unit.as_deref(), Some("mmol/L"));
}

#[test]
fn aleppo_comma_delimited() {
    expect_error(
        "aleppo_comma_delimited.txt",
        K::MissingColumn,
        ":1: missing column \"PtID\" in the header (the header is one field; the file looks ','-delimited, expected '|')",
    );
}

#[test]
fn aleppo_bad_time() {
    expect_error(
        "aleppo_bad_time.txt",
        K::BadTime,
        ":6: DeviceTm \"25:61:00\" is not a time of day HH:MM:SS",
    );
}

#[test]
fn aleppo_missing_column() {
    expect_error(
        "aleppo_missing_column.txt",
        K::MissingColumn,
        ":1: missing column \"GlucoseValue\" in the header",
    );
}

#[test]
fn aleppo_out_of_range() {
    expect_error(
        "aleppo_out_of_range.txt",
        K::OutOfRange,
        ":5: GlucoseValue 0 is outside the CGM range 39..401 mg/dL (39 and 401 are the LOW/HIGH sentinels)",
    );
}

#[test]
fn missing_raw_path_is_an_option_error() {
    let err = load(&SourceOptions::new(SourceKind::Aleppo, bad("nope"))).unwrap_err();
    assert!(err.is_user_error());
    assert!(
        err.to_string().starts_with("data option `raw_path`: "),
        "{err}"
    );
}
