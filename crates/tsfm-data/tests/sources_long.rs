//! Generic long-format sources (CSV and Parquet) for any regular time series.

use std::path::Path;
use std::sync::Arc;

use tsfm_data::error::InputErrorKind as K;
use tsfm_data::sources::clock::parse_datetime;
use tsfm_data::sources::{SourceKind, SourceOptions, load};

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn csv_rows_of_series_interleaved_are_gathered_per_series_in_time_order() {
    // Rows are gathered per run of one id; a series whose rows come back later joins its
    // earlier run.
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "mixed.csv",
        "id,timestamp,value\n\
         a,2024-01-01 00:00,1\n\
         a,2024-01-01 00:05,2\n\
         b,2024-01-01 00:00,10\n\
         a,2024-01-01 00:15,4\n\
         b,2024-01-01 00:05,20\n\
         a,2024-01-01 00:10,3\n\
         b,2024-01-01 00:10,30\n",
    );
    let mut o = SourceOptions::new(SourceKind::Csv, &p);
    o.target_columns = vec!["value".into()];
    let out = load(&o).unwrap();
    let got: Vec<(&str, &[f64])> = out
        .series
        .iter()
        .map(|s| (s.id.as_str(), &s.channels[0].values[..]))
        .collect();
    assert_eq!(
        got,
        [
            ("a", &[1.0, 2.0, 3.0, 4.0][..]),
            ("b", &[10.0, 20.0, 30.0][..])
        ]
    );
    let t0 = parse_datetime("2024-01-01").unwrap();
    assert_eq!(out.series[0].timestamps, [t0, t0 + 300, t0 + 600, t0 + 900]);
}

#[test]
fn csv_unsorted_rows_missing_cells_covariates_and_custom_columns() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "sales.csv",
        "store;when;units;price;promo\n\
         s2;2024-01-01T00:00:00;5;1.5;0\n\
         s1;2024-01-01 02:00;NA;2.0;1\n\
         s1;2024-01-01 00:00;10;2.0;0\n\
         s1;2024-01-01 01:00;12;;0\n",
    );
    let mut o = SourceOptions::new(SourceKind::Csv, &p);
    o.id_column = "store".into();
    o.timestamp_column = "when".into();
    o.target_columns = vec!["units".into()];
    o.delimiter = Some(';');
    let out = load(&o).unwrap();
    assert_eq!(out.series.len(), 2);
    let s1 = &out.series[0];
    assert_eq!(s1.id, "s1");
    let t0 = parse_datetime("2024-01-01").unwrap();
    assert_eq!(s1.timestamps, [t0, t0 + 3600, t0 + 7200]);
    assert_eq!(s1.interval_min, 60);
    assert_eq!(s1.unit, None);
    let names: Vec<&str> = s1.channels.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["units", "price", "promo"]);
    assert_eq!(s1.channels[0].values[..2], [10.0, 12.0]);
    assert!(s1.channels[0].values[2].is_nan());
    assert!(s1.channels[1].values[1].is_nan());
    // s2 has one row: interval from the other series, with a warning.
    assert_eq!(out.series[1].interval_min, 60);
    assert_eq!(
        out.warnings,
        ["series s2 has one row; interval taken from the others"]
    );

    o.covariate_columns = Some(vec!["promo".into()]);
    o.unit_override = Some("mg/dL".into());
    let out = load(&o).unwrap();
    assert_eq!(out.series[0].channels.len(), 2);
    assert_eq!(out.series[0].unit.as_deref(), Some("mmol/L"));
    assert_eq!(out.series[0].channels[0].values[0], 10.0 / 18.0182);
}

#[test]
fn csv_errors_name_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "id,timestamp,target\na,2024-01-01 00:00,1\na,2024-01-01 00:05,x\n",
            K::NotANumber,
            ":3: target \"x\" is not a number",
        ),
        (
            "id,timestamp,target\na,2024-01-01 00:00,1\na,2024-13-01 00:05,2\n",
            K::BadTime,
            ":3: timestamp \"2024-13-01 00:05\" is not a date-time (YYYY-MM-DD HH:MM[:SS], no UTC offset)",
        ),
        (
            "id,timestamp,target\na,2024-01-01 00:00,1\na,2024-01-01 00:00,2\n",
            K::Duplicate,
            ":3: column timestamp: series \"a\" has two rows at 2024-01-01 00:00 (lines 2 and 3)",
        ),
        (
            "id,time,target\na,2024-01-01 00:00,1\n",
            K::MissingColumn,
            ":1: missing column \"timestamp\" in the header",
        ),
        (
            "id,timestamp,target\na,2024-01-01 00:00:00,1\na,2024-01-01 00:00:30,2\n",
            K::BadTime,
            ": column timestamp: series \"a\" is sampled every 30 s; intervals must be whole minutes",
        ),
    ];
    for (i, (text, kind, msg)) in cases.into_iter().enumerate() {
        let p = write(dir.path(), &format!("c{i}.csv"), text);
        let err = load(&SourceOptions::new(SourceKind::Csv, &p)).unwrap_err();
        assert_eq!(err.input_kind(), Some(kind), "{err}");
        assert_eq!(err.to_string(), format!("{}{msg}", p.display()));
    }
}

/// Writes a long-format Parquet file with the low-level writer.
fn write_parquet(path: &Path, ids: &[&str], millis: &[i64], values: &[f64]) {
    use parquet::basic::{LogicalType, Repetition, TimeUnit, Type as Physical};
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::Type;
    let f = |name: &str, t: Physical, lt: Option<LogicalType>| {
        Arc::new(
            Type::primitive_type_builder(name, t)
                .with_repetition(Repetition::REQUIRED)
                .with_logical_type(lt)
                .build()
                .unwrap(),
        )
    };
    let schema = Arc::new(
        Type::group_type_builder("t")
            .with_fields(vec![
                f("id", Physical::BYTE_ARRAY, Some(LogicalType::String)),
                f(
                    "timestamp",
                    Physical::INT64,
                    Some(LogicalType::timestamp(false, TimeUnit::MILLIS)),
                ),
                f("target", Physical::DOUBLE, None),
            ])
            .build()
            .unwrap(),
    );
    let file = std::fs::File::create(path).unwrap();
    let mut w =
        SerializedFileWriter::new(file, schema, Arc::new(WriterProperties::builder().build()))
            .unwrap();
    let mut rg = w.next_row_group().unwrap();
    let mut c = rg.next_column().unwrap().unwrap();
    let ids: Vec<ByteArray> = ids.iter().map(|s| ByteArray::from(*s)).collect();
    c.typed::<ByteArrayType>()
        .write_batch(&ids, None, None)
        .unwrap();
    c.close().unwrap();
    let mut c = rg.next_column().unwrap().unwrap();
    c.typed::<Int64Type>()
        .write_batch(millis, None, None)
        .unwrap();
    c.close().unwrap();
    let mut c = rg.next_column().unwrap().unwrap();
    c.typed::<DoubleType>()
        .write_batch(values, None, None)
        .unwrap();
    c.close().unwrap();
    rg.close().unwrap();
    w.close().unwrap();
}

#[test]
fn parquet_long_format() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("long.parquet");
    let t0 = parse_datetime("2024-05-01 00:00").unwrap() * 1000;
    let m = 15 * 60 * 1000;
    write_parquet(
        &p,
        &["b", "a", "a", "b", "a"],
        &[t0, t0 + m, t0, t0 + m, t0 + 2 * m],
        &[1.0, 2.0, 3.0, 4.0, f64::NAN],
    );
    let out = load(&SourceOptions::new(SourceKind::Parquet, &p)).unwrap();
    assert_eq!(out.series.len(), 2);
    let a = &out.series[0];
    assert_eq!(a.id, "a");
    assert_eq!(a.interval_min, 15);
    assert_eq!(a.timestamps, [t0 / 1000, t0 / 1000 + 900, t0 / 1000 + 1800]);
    assert_eq!(a.channels[0].values[..2], [3.0, 2.0]);
    assert!(a.channels[0].values[2].is_nan());
    assert_eq!(out.series[1].channels[0].values, [1.0, 4.0]);

    let mut o = SourceOptions::new(SourceKind::Parquet, &p);
    o.target_columns = vec!["glucose".into()];
    let err = load(&o).unwrap_err();
    assert_eq!(err.input_kind(), Some(K::MissingColumn));
    let empty = dir.path().join("empty.parquet");
    std::fs::write(&empty, b"").unwrap();
    let err = load(&SourceOptions::new(SourceKind::Parquet, &empty)).unwrap_err();
    assert_eq!(err.input_kind(), Some(K::Empty));
    let junk = dir.path().join("junk.parquet");
    std::fs::write(&junk, b"id,timestamp\n").unwrap();
    let err = load(&SourceOptions::new(SourceKind::Parquet, &junk)).unwrap_err();
    assert!(err.is_user_error());
    assert!(
        err.to_string()
            .starts_with(&format!("{}: not a readable Parquet file", junk.display())),
        "{err}"
    );
}
