//! Valid but awkward files (CRLF, BOM, no final newline, shuffled rows) give exactly the same
//! series as the clean file.

use std::path::PathBuf;

use tsfm_data::sources::{SourceKind, SourceOptions, SourceOutput, load};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn run(kind: SourceKind, name: &str) -> SourceOutput {
    load(&SourceOptions::new(kind, data(name))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Series equality with NaN == NaN.
fn assert_same(a: &SourceOutput, b: &SourceOutput, what: &str) {
    assert_eq!(a.series.len(), b.series.len(), "{what}");
    for (x, y) in a.series.iter().zip(&b.series) {
        assert_eq!(x.id, y.id, "{what}");
        assert_eq!(x.timestamps, y.timestamps, "{what} {}", x.id);
        assert_eq!(x.interval_min, y.interval_min, "{what}");
        assert_eq!(x.unit, y.unit, "{what}");
        for (cx, cy) in x.channels.iter().zip(&y.channels) {
            assert_eq!(cx.name, cy.name);
            let bx: Vec<u64> = cx.values.iter().map(|v| v.to_bits()).collect();
            let by: Vec<u64> = cy.values.iter().map(|v| v.to_bits()).collect();
            assert_eq!(bx, by, "{what} {} {}", x.id, cx.name);
        }
    }
    assert_eq!(a.categories, b.categories, "{what}");
}

#[test]
fn brist1d_bom_and_crlf_equal_clean() {
    let clean = run(SourceKind::BrisT1d, "train_small.csv");
    // 300 rows each; p01 spans 301 five-minute steps (2 rows missing), p02 305 (6 missing);
    // plus the row's own slot and the first row's 71 lags (checked with pandas).
    let lens: Vec<(&str, usize)> = clean
        .series
        .iter()
        .map(|s| (s.id.as_str(), s.len()))
        .collect();
    assert_eq!(lens, [("p01", 373), ("p02", 377)]);
    assert_same(
        &clean,
        &run(SourceKind::BrisT1d, "variants/brist1d_train_small_bom.csv"),
        "bom",
    );
    assert_same(
        &clean,
        &run(SourceKind::BrisT1d, "variants/brist1d_train_small_crlf.csv"),
        "crlf",
    );
}

#[test]
fn aleppo_crlf_no_newline_and_shuffled_equal_clean() {
    let clean = run(SourceKind::Aleppo, "variants/HDeviceCGM_first4000.txt");
    assert_eq!(clean.series.len(), 2);
    for v in [
        "variants/HDeviceCGM_first4000_crlf.txt",
        "variants/HDeviceCGM_first4000_no_trailing_newline.txt",
        "variants/HDeviceCGM_first4000_shuffled.txt",
    ] {
        let out = run(SourceKind::Aleppo, v);
        assert_same(&clean, &out, v);
    }
}
