//! `tsfm data prepare` on every deliberately malformed demo file (the repository's copy in
//! `crates/tsfm-data/tests/data/bad/`, see its MANIFEST.md): exit code 2, exactly one line on
//! stderr naming the file, the line and (where one applies) the column, no panic, and no cache
//! folder or partial file left behind.
use std::path::{Path, PathBuf};
use std::process::Output;

fn bad(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tsfm-data/tests/data/bad")
        .join(name)
}

/// Everything below `dir`, relative, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

struct Run {
    out: Output,
    /// The copied raw file, as the command saw it.
    raw: PathBuf,
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

/// Copies `name` into a fresh temp folder and runs `tsfm data prepare` on it.
fn prepare(name: &str, extra: &[&str]) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let raw_dir = root.join("raw");
    std::fs::create_dir(&raw_dir).unwrap();
    let raw = raw_dir.join(name);
    std::fs::copy(bad(name), &raw).unwrap();
    let source = if name.starts_with("brist1d") {
        "bris_t1d"
    } else {
        "aleppo"
    };
    let cache = root.join("cache");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tsfm"))
        .args(["data", "prepare", "--dataset", "bad", "--source", source])
        .arg("--raw")
        .arg(&raw)
        .arg("--cache-dir")
        .arg(&cache)
        .args(extra)
        .current_dir(&root)
        .output()
        .expect("tsfm runs");
    Run {
        out,
        raw,
        _tmp: tmp,
        root,
    }
}

/// Runs `name` and checks exit code 2, stderr = `error: {path}{message}` as one line, nothing
/// on stdout, and that only the copied raw file is left in the temp folder.
fn expect_refused(name: &str, message: &str) {
    let r = prepare(name, &[]);
    let stderr = String::from_utf8_lossy(&r.out.stderr).into_owned();
    assert_eq!(r.out.status.code(), Some(2), "{name}: {stderr}");
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{name}: one line: {stderr}");
    assert_eq!(
        stderr,
        format!("error: {}{message}\n", r.raw.display()),
        "{name}"
    );
    assert!(r.out.stdout.is_empty(), "{name}: stdout {:?}", r.out.stdout);
    assert_eq!(
        listing(&r.root),
        ["raw".to_string(), format!("raw/{name}")],
        "{name}: no cache folder or partial file"
    );
}

#[test]
fn brist1d_empty() {
    expect_refused(
        "brist1d_empty.csv",
        ": empty input: the file has no header row",
    );
}

#[test]
fn brist1d_header_only() {
    expect_refused(
        "brist1d_header_only.csv",
        ": the file has a header but no data rows",
    );
}

#[test]
fn brist1d_truncated_row() {
    expect_refused(
        "brist1d_truncated_row.csv",
        ":41: row has 121 fields but the header has 508 (truncated or malformed row)",
    );
}

#[test]
fn brist1d_nonnumeric_bg() {
    expect_refused(
        "brist1d_nonnumeric_bg.csv",
        ":5: bg-0:00 \"HIGH\" is not a number",
    );
}

#[test]
fn brist1d_duplicate_rows() {
    expect_refused(
        "brist1d_duplicate_rows.csv",
        ":13: id \"p01_10\" already appears on line 12; ids must be unique",
    );
}

#[test]
fn brist1d_wrong_units() {
    expect_refused(
        "brist1d_wrong_units_mgdl.csv",
        ": bg has median 142.0, which looks like mg/dL but this format is mmol/L; if that is right, \
         state the unit (--unit \"mg/dL\" or data.unit: \"mg/dL\") to convert it",
    );
}

#[test]
fn brist1d_missing_column() {
    expect_refused(
        "brist1d_missing_column.csv",
        ":1: missing column \"bg-3:00\" in the header",
    );
}

#[test]
fn brist1d_semicolon() {
    expect_refused(
        "brist1d_semicolon.csv",
        ":1: missing column \"id\" in the header (the header is one field; the file looks \
         ';'-delimited, expected ',')",
    );
}

#[test]
fn aleppo_empty() {
    expect_refused(
        "aleppo_empty.txt",
        ": empty input: the file has no header row",
    );
}

#[test]
fn aleppo_header_only() {
    expect_refused(
        "aleppo_header_only.txt",
        ": the file has a header but no data rows",
    );
}

#[test]
fn aleppo_truncated_row() {
    expect_refused(
        "aleppo_truncated_row.txt",
        ":201: row has 6 fields but the header has 10 (truncated or malformed row)",
    );
}

#[test]
fn aleppo_nonnumeric_glucose() {
    expect_refused(
        "aleppo_nonnumeric_glucose.txt",
        ":7: GlucoseValue \"High\" is not a number",
    );
}

#[test]
fn aleppo_wrong_units() {
    expect_refused(
        "aleppo_wrong_units_mmol.txt",
        ": GlucoseValue has median 7.6, which looks like mmol/L but this format is mg/dL; if that \
         is right, state the unit (--unit \"mmol/L\" or data.unit: \"mmol/L\") to convert it",
    );
}

#[test]
fn aleppo_comma_delimited() {
    expect_refused(
        "aleppo_comma_delimited.txt",
        ":1: missing column \"PtID\" in the header (the header is one field; the file looks \
         ','-delimited, expected '|')",
    );
}

#[test]
fn aleppo_bad_time() {
    expect_refused(
        "aleppo_bad_time.txt",
        ":6: DeviceTm \"25:61:00\" is not a time of day HH:MM:SS",
    );
}

#[test]
fn aleppo_missing_column() {
    expect_refused(
        "aleppo_missing_column.txt",
        ":1: missing column \"GlucoseValue\" in the header",
    );
}

#[test]
fn aleppo_out_of_range() {
    expect_refused(
        "aleppo_out_of_range.txt",
        ":5: GlucoseValue 0 is outside the CGM range 39..401 mg/dL (39 and 401 are the LOW/HIGH \
         sentinels)",
    );
}

/// The one defect with a documented resolution (MANIFEST: "resolve by documented rule (e.g.
/// max RecID) with a warning"): the command succeeds, warns, and writes the cache.
#[test]
fn aleppo_duplicate_timestamps_succeeds_with_a_warning() {
    let r = prepare("aleppo_duplicate_timestamps.txt", &[]);
    let stderr = String::from_utf8_lossy(&r.out.stderr).into_owned();
    assert_eq!(r.out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.lines().any(|l| l.starts_with(
            "warning: aleppo_duplicate_timestamps.txt: 3 readings with the same PtID and time \
             but a different GlucoseValue; kept the one with the largest RecID"
        )),
        "{stderr}"
    );
    assert!(r.root.join("cache/bad/processed/manifest.json").is_file());
}

/// Wrong units are refused (above) but accepted when the user states the unit.
#[test]
fn wrong_units_are_accepted_with_unit() {
    for (name, unit) in [
        ("aleppo_wrong_units_mmol.txt", "mmol/L"),
        ("brist1d_wrong_units_mgdl.csv", "mg/dL"),
    ] {
        let r = prepare(name, &["--unit", unit]);
        let stderr = String::from_utf8_lossy(&r.out.stderr).into_owned();
        assert_eq!(r.out.status.code(), Some(0), "{name}: {stderr}");
        assert!(r.root.join("cache/bad/processed/manifest.json").is_file());
    }
}
