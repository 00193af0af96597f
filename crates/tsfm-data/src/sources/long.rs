//! Generic long format, CSV or Parquet: one row per (series id, timestamp) with one or more
//! target columns and optional covariates. Works for any regular time series.
//!
//! * Column names come from the options (`id_column`, `timestamp_column`, `target_columns`,
//!   `covariate_columns`; `None` covariates = every other column).
//! * Rows may come in any order; each series is sorted by time. Two rows of one series at the
//!   same time are refused.
//! * Cells `""`, `NA`, `NaN`, `nan`, `null`, `None` are missing; anything else must be a
//!   number.
//! * The interval is the most frequent step of each series (whole minutes); a one-row series
//!   takes the most frequent interval of the others.
//! * Unit: `unit_override` labels the target. A glucose unit (`mg/dL`/`mmol/L`) is converted
//!   to mmol/L, the internal glucose unit; any other text is kept as the label.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{DataError, InputErrorKind, Result};
use crate::series::{Channel, Series};
use crate::sources::table::{Table, cell};
use crate::sources::{SourceOptions, SourceOutput, clock, modal_step, require_exists};
use crate::units::{GlucoseUnit, MMOL_PER_L};

const MISSING: [&str; 6] = ["", "NA", "NaN", "nan", "null", "None"];

/// Rows gathered per series: (time, source line, values in channel order).
type Rows = BTreeMap<String, Vec<(i64, u64, Vec<f64>)>>;

fn column_names(opts: &SourceOptions, header: &[String]) -> Result<Vec<String>> {
    if opts.target_columns.is_empty() {
        return Err(DataError::options(
            "target_columns",
            "name at least one target column",
        ));
    }
    let mut names = opts.target_columns.clone();
    match &opts.covariate_columns {
        Some(c) => names.extend(c.iter().cloned()),
        None => names.extend(
            header
                .iter()
                .filter(|h| {
                    !h.eq_ignore_ascii_case(&opts.id_column)
                        && !h.eq_ignore_ascii_case(&opts.timestamp_column)
                        && !opts
                            .target_columns
                            .iter()
                            .any(|t| t.eq_ignore_ascii_case(h))
                })
                .cloned(),
        ),
    }
    Ok(names)
}

/// Reads a long-format CSV (delimiter `opts.delimiter`, default `,`; `.gz` accepted).
pub fn load_csv(opts: &SourceOptions) -> Result<SourceOutput> {
    require_exists(&opts.raw_path)?;
    let path = opts.raw_path.as_path();
    let delim = opts.delimiter.unwrap_or(',');
    if !delim.is_ascii() {
        return Err(DataError::options(
            "delimiter",
            format!("'{delim}' is not a single-byte character"),
        ));
    }
    let mut t = Table::open(path, delim as u8)?;
    let id_col = t.col(&opts.id_column)?;
    let ts_col = t.col(&opts.timestamp_column)?;
    let names = column_names(opts, &t.header)?;
    let cols: Vec<usize> = names.iter().map(|n| t.col(n)).collect::<Result<_>>()?;
    let mut rows: Rows = BTreeMap::new();
    while let Some((line, rec)) = t.next_row()? {
        let id = cell(rec, id_col).to_string();
        let ts_s = cell(rec, ts_col);
        let ts = clock::parse_datetime(ts_s).ok_or_else(|| {
            DataError::input(
                InputErrorKind::BadTime,
                path,
                Some(line),
                Some(&opts.timestamp_column),
                format!(
                    "{} \"{ts_s}\" is not a date-time (YYYY-MM-DD HH:MM[:SS], no UTC offset)",
                    opts.timestamp_column
                ),
            )
        })?;
        let mut vals = Vec::with_capacity(cols.len());
        for (&c, name) in cols.iter().zip(&names) {
            let s = cell(rec, c);
            vals.push(if MISSING.contains(&s) {
                f64::NAN
            } else {
                match s.parse::<f64>() {
                    Ok(v) if v.is_finite() => v,
                    _ => return Err(super::table::not_a_number(path, line, name, s)),
                }
            });
        }
        rows.entry(id).or_default().push((ts, line, vals));
    }
    build(opts, path, &names, rows)
}

/// Reads a long-format Parquet file (row API; timestamps as Parquet timestamps, dates, strings
/// or integer seconds).
pub fn load_parquet(opts: &SourceOptions) -> Result<SourceOutput> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    require_exists(&opts.raw_path)?;
    let path = opts.raw_path.as_path();
    let bad = |m: String| DataError::input(InputErrorKind::BadValue, path, None, None, m);
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
        return Err(DataError::input(
            InputErrorKind::Empty,
            path,
            None,
            None,
            "empty input (0 bytes)",
        ));
    }
    let reader = SerializedFileReader::new(file)
        .map_err(|e| bad(format!("not a readable Parquet file: {e}")))?;
    let header: Vec<String> = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let find = |n: &str| header.iter().position(|h| h.eq_ignore_ascii_case(n));
    let missing = |n: &str| {
        DataError::input(
            InputErrorKind::MissingColumn,
            path,
            None,
            Some(n),
            format!("missing column \"{n}\""),
        )
    };
    let id_name = header[find(&opts.id_column).ok_or_else(|| missing(&opts.id_column))?].clone();
    let ts_name = header
        [find(&opts.timestamp_column).ok_or_else(|| missing(&opts.timestamp_column))?]
    .clone();
    let names = column_names(opts, &header)?;
    let real: Vec<String> = names
        .iter()
        .map(|n| find(n).map(|i| header[i].clone()).ok_or_else(|| missing(n)))
        .collect::<Result<_>>()?;
    let mut rows: Rows = BTreeMap::new();
    let iter = reader
        .get_row_iter(None)
        .map_err(|e| bad(format!("cannot read rows: {e}")))?;
    for (i, row) in iter.enumerate() {
        let line = i as u64 + 1; // row number (1-based) stands in for a line
        let row = row.map_err(|e| bad(format!("row {line}: {e}")))?;
        let fields: BTreeMap<&str, &Field> = row
            .get_column_iter()
            .map(|(n, f)| (n.as_str(), f))
            .collect();
        let cell_err = |col: &str, what: String| {
            DataError::input(
                InputErrorKind::BadValue,
                path,
                Some(line),
                Some(col),
                format!("row {line}: {col} {what}"),
            )
        };
        let id = match fields.get(id_name.as_str()) {
            Some(Field::Str(s)) => s.clone(),
            Some(Field::Null) | None => return Err(cell_err(&id_name, "is empty".into())),
            Some(f) => f.to_string(),
        };
        let ts = match fields.get(ts_name.as_str()) {
            Some(Field::TimestampMillis(v)) => v.div_euclid(1000),
            Some(Field::TimestampMicros(v)) => v.div_euclid(1_000_000),
            Some(Field::Date(d)) => *d as i64 * 86_400,
            Some(Field::Long(v)) => *v,
            Some(Field::Int(v)) => *v as i64,
            Some(Field::Str(s)) => clock::parse_datetime(s)
                .ok_or_else(|| cell_err(&ts_name, format!("\"{s}\" is not a date-time")))?,
            Some(f) => return Err(cell_err(&ts_name, format!("{f} is not a timestamp"))),
            None => return Err(cell_err(&ts_name, "is missing".into())),
        };
        let mut vals = Vec::with_capacity(real.len());
        for n in &real {
            vals.push(match fields.get(n.as_str()) {
                Some(Field::Double(v)) => *v,
                Some(Field::Float(v)) => *v as f64,
                Some(Field::Long(v)) => *v as f64,
                Some(Field::Int(v)) => *v as f64,
                Some(Field::Short(v)) => *v as f64,
                Some(Field::Null) | None => f64::NAN,
                Some(Field::Str(s)) if MISSING.contains(&s.as_str()) => f64::NAN,
                Some(Field::Str(s)) => s
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| cell_err(n, format!("\"{s}\" is not a number")))?,
                Some(f) => return Err(cell_err(n, format!("{f} is not a number"))),
            });
        }
        rows.entry(id).or_default().push((ts, line, vals));
    }
    build(opts, path, &names, rows)
}

fn build(opts: &SourceOptions, path: &Path, names: &[String], rows: Rows) -> Result<SourceOutput> {
    if rows.is_empty() {
        return Err(DataError::no_rows(path));
    }
    let (unit, conv) = match &opts.unit_override {
        None => (None, None),
        Some(u) => match GlucoseUnit::parse(u) {
            Some(g) => (Some(MMOL_PER_L.to_string()), Some(g)),
            None => (Some(u.clone()), None),
        },
    };
    let mut out = SourceOutput::default();
    let mut pending = Vec::new();
    for (id, mut rs) in rows {
        rs.sort_by_key(|r| (r.0, r.1));
        for w in rs.windows(2) {
            if w[0].0 == w[1].0 {
                return Err(DataError::input(
                    InputErrorKind::Duplicate,
                    path,
                    Some(w[1].1),
                    Some(&opts.timestamp_column),
                    format!(
                        "series \"{id}\" has two rows at {} (lines {} and {})",
                        clock::format_datetime(w[0].0),
                        w[0].1,
                        w[1].1
                    ),
                ));
            }
        }
        let timestamps: Vec<i64> = rs.iter().map(|r| r.0).collect();
        let step = modal_step(&timestamps);
        if let Some(s) = step
            && s % 60 != 0
        {
            return Err(DataError::input(
                InputErrorKind::BadTime,
                path,
                None,
                Some(&opts.timestamp_column),
                format!("series \"{id}\" is sampled every {s} s; intervals must be whole minutes"),
            ));
        }
        let mut channels: Vec<Channel> = names
            .iter()
            .map(|n| Channel {
                name: n.clone(),
                values: Vec::with_capacity(rs.len()),
            })
            .collect();
        for (_, _, vals) in &rs {
            for (c, v) in channels.iter_mut().zip(vals) {
                c.values.push(*v);
            }
        }
        if let Some(g) = conv {
            channels[0]
                .values
                .iter_mut()
                .for_each(|v| *v = g.to_mmol(*v));
        }
        pending.push((
            step,
            Series {
                id,
                timestamps,
                interval_min: 0,
                channels,
                unit: unit.clone(),
            },
        ));
    }
    let fallback = (|| {
        let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
        pending
            .iter()
            .filter_map(|p| p.0)
            .for_each(|s| *counts.entry(s).or_default() += 1);
        let best = counts.values().copied().max()?;
        counts.into_iter().find(|&(_, c)| c == best).map(|(s, _)| s)
    })();
    for (step, mut s) in pending {
        let Some(st) = step.or(fallback) else {
            return Err(DataError::input(
                InputErrorKind::NoRows,
                path,
                None,
                None,
                "every series has a single row; the sampling interval cannot be found",
            ));
        };
        if step.is_none() {
            out.warnings.push(format!(
                "series {} has one row; interval taken from the others",
                s.id
            ));
        }
        s.interval_min = (st / 60) as u32;
        out.series.push(s);
    }
    Ok(out)
}
