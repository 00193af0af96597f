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

/// Cells that mean "no value" in a long CSV/Parquet file (after trimming).
pub const MISSING: [&str; 6] = ["", "NA", "NaN", "nan", "null", "None"];

/// One row of a series: (time, source line, values in channel order).
type Row = (i64, u64, Vec<f64>);

/// Rows gathered per series.
type Rows = BTreeMap<String, Vec<Row>>;

/// Gathers rows per series in file order. A long file usually holds each series' rows
/// together, so rows are collected per run of one id and the map is looked up once per run:
/// a lookup per row (its id copied and compared along the tree) was a fifth of reading a
/// 2,048-series file.
#[derive(Default)]
struct Gather {
    rows: Rows,
    run_id: Option<String>,
    run: Vec<Row>,
}

impl Gather {
    fn push(&mut self, id: &str, row: Row) {
        if self.run_id.as_deref() != Some(id) {
            self.flush();
            self.run_id = Some(id.to_string());
        }
        self.run.push(row);
    }

    fn flush(&mut self) {
        if let Some(id) = self.run_id.take() {
            self.rows.entry(id).or_default().append(&mut self.run);
        }
    }

    fn finish(mut self) -> Rows {
        self.flush();
        self.rows
    }
}

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
    let mut rows = Gather::default();
    while let Some((line, rec)) = t.next_row()? {
        let id = cell(rec, id_col);
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
        rows.push(id, (ts, line, vals));
    }
    build(opts, path, &names, rows.finish())
}

/// Series from rows already in memory (id, time in seconds, values in `names` order; NaN
/// missing), built by the same rules as [`load_csv`]'s (order, repeated times, interval, unit,
/// `resolution_min`); `opts.raw_path` names the data in messages.
pub fn from_rows(
    opts: &SourceOptions,
    names: &[String],
    rows: Vec<(String, i64, Vec<f64>)>,
) -> Result<SourceOutput> {
    let mut gathered: Rows = BTreeMap::new();
    for (line, (id, ts, values)) in rows.into_iter().enumerate() {
        gathered
            .entry(id)
            .or_default()
            .push((ts, line as u64 + 1, values));
    }
    let out = build(opts, &opts.raw_path, names, gathered)?;
    super::apply_resolution(opts, out)
}

/// Reads a long-format Parquet file (row API; timestamps as Parquet timestamps, dates, strings
/// or integer seconds).
pub fn load_parquet(opts: &SourceOptions) -> Result<SourceOutput> {
    guard_parquet(&opts.raw_path, || load_parquet_rows(opts))
}

/// Runs `read` on the Parquet file `path`, turning a panic into the refusal of a damaged file:
/// the parquet crate panics on some malformed files instead of returning an error (found by
/// fuzzing, e.g. "column start and length should not be negative").
pub fn guard_parquet<T>(path: &Path, read: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(bad_parquet(
            path,
            format!("not a readable Parquet file (damaged: {why}); write it again"),
        ))
    })
}

fn load_parquet_rows(opts: &SourceOptions) -> Result<SourceOutput> {
    use parquet::file::reader::FileReader;
    require_exists(&opts.raw_path)?;
    let path = opts.raw_path.as_path();
    let reader = open_parquet(path)?;
    let header: Vec<String> = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let cols = ParquetColumns::bind(opts, path, &header)?;
    let mut rows = Gather::default();
    let iter = reader
        .get_row_iter(None)
        .map_err(|e| bad_parquet(path, format!("cannot read rows: {e}")))?;
    for (i, row) in iter.enumerate() {
        let line = i as u64 + 1; // row number (1-based) stands in for a line
        let row = row.map_err(|e| bad_parquet(path, format!("row {line}: {e}")))?;
        let (id, ts, vals) = cols.read_row(path, line, &row)?;
        rows.push(&id, (ts, line, vals));
    }
    build(opts, path, &cols.names, rows.finish())
}

/// A file-level Parquet error (no line or column).
fn bad_parquet(path: &Path, m: String) -> DataError {
    DataError::input(InputErrorKind::BadValue, path, None, None, m)
}

/// Opens `path` as Parquet, refusing an empty file with the same error as an empty CSV
/// rather than the Parquet reader's less helpful one.
fn open_parquet(path: &Path) -> Result<parquet::file::reader::SerializedFileReader<std::fs::File>> {
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
    parquet::file::reader::SerializedFileReader::new(file)
        .map_err(|e| bad_parquet(path, format!("not a readable Parquet file: {e}")))
}

/// The Parquet columns a long file is read from, spelled as in the file (options match
/// names case-insensitively, rows are keyed by the file's spelling).
struct ParquetColumns {
    id: String,
    ts: String,
    /// Channel names as the options give them (targets then covariates).
    names: Vec<String>,
    /// The same channels as spelled in the file.
    real: Vec<String>,
}

impl ParquetColumns {
    fn bind(opts: &SourceOptions, path: &Path, header: &[String]) -> Result<ParquetColumns> {
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
        let id = header[find(&opts.id_column).ok_or_else(|| missing(&opts.id_column))?].clone();
        let ts = header
            [find(&opts.timestamp_column).ok_or_else(|| missing(&opts.timestamp_column))?]
        .clone();
        let names = column_names(opts, header)?;
        let real: Vec<String> = names
            .iter()
            .map(|n| find(n).map(|i| header[i].clone()).ok_or_else(|| missing(n)))
            .collect::<Result<_>>()?;
        Ok(ParquetColumns {
            id,
            ts,
            names,
            real,
        })
    }

    /// (series id, time in seconds, values in channel order) of row `line` (1-based).
    fn read_row(
        &self,
        path: &Path,
        line: u64,
        row: &parquet::record::Row,
    ) -> Result<(String, i64, Vec<f64>)> {
        use parquet::record::Field;
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
        let id = match fields.get(self.id.as_str()) {
            Some(Field::Str(s)) => s.clone(),
            Some(Field::Null) | None => return Err(cell_err(&self.id, "is empty".into())),
            Some(f) => f.to_string(),
        };
        let ts = parquet_seconds(fields.get(self.ts.as_str()).copied())
            .map_err(|what| cell_err(&self.ts, what))?;
        let mut vals = Vec::with_capacity(self.real.len());
        for n in &self.real {
            vals.push(
                parquet_value(fields.get(n.as_str()).copied()).map_err(|what| cell_err(n, what))?,
            );
        }
        Ok((id, ts, vals))
    }
}

/// A timestamp cell as seconds: Parquet timestamps and dates, integer seconds, or a date-time
/// string. `Err` says what is wrong with the cell (after its column name).
fn parquet_seconds(field: Option<&parquet::record::Field>) -> std::result::Result<i64, String> {
    use parquet::record::Field;
    Ok(match field {
        Some(Field::TimestampMillis(v)) => v.div_euclid(1000),
        Some(Field::TimestampMicros(v)) => v.div_euclid(1_000_000),
        Some(Field::Date(d)) => *d as i64 * 86_400,
        Some(Field::Long(v)) => *v,
        Some(Field::Int(v)) => *v as i64,
        Some(Field::Str(s)) => {
            clock::parse_datetime(s).ok_or_else(|| format!("\"{s}\" is not a date-time"))?
        }
        Some(f) => return Err(format!("{f} is not a timestamp")),
        None => return Err("is missing".into()),
    })
}

/// A value cell as a number, NaN when null, absent or a missing marker. `Err` says what is
/// wrong with the cell (after its column name).
fn parquet_value(field: Option<&parquet::record::Field>) -> std::result::Result<f64, String> {
    use parquet::record::Field;
    Ok(match field {
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
            .map_err(|_| format!("\"{s}\" is not a number"))?,
        Some(f) => return Err(format!("{f} is not a number")),
    })
}

/// Turns the gathered rows into series: one per id, sorted by time, each with its own
/// interval (a one-row series takes the most frequent interval of the others).
fn build(opts: &SourceOptions, path: &Path, names: &[String], rows: Rows) -> Result<SourceOutput> {
    if rows.is_empty() {
        return Err(DataError::no_rows(path));
    }
    let (unit, conv) = target_unit(opts);
    let mut pending = Vec::new();
    for (id, mut rs) in rows {
        rs.sort_by_key(|r| (r.0, r.1));
        check_no_repeated_times(opts, path, &id, &rs)?;
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
        let channels = channels_of(names, &rs, conv);
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
    let fallback = most_frequent_step(&pending);
    let mut out = SourceOutput::default();
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

/// The target's unit label and, for a glucose unit, the conversion to mmol/L (the internal
/// glucose unit); any other `unit_override` is only a label.
fn target_unit(opts: &SourceOptions) -> (Option<String>, Option<GlucoseUnit>) {
    match &opts.unit_override {
        None => (None, None),
        Some(u) => match GlucoseUnit::parse(u) {
            Some(g) => (Some(MMOL_PER_L.to_string()), Some(g)),
            None => (Some(u.clone()), None),
        },
    }
}

/// Refuses two rows of series `id` at the same time (`rs` sorted by time, then line).
fn check_no_repeated_times(
    opts: &SourceOptions,
    path: &Path,
    id: &str,
    rs: &[(i64, u64, Vec<f64>)],
) -> Result<()> {
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
    Ok(())
}

/// The channels of one series from its rows, the target converted by `conv` when given.
fn channels_of(
    names: &[String],
    rs: &[(i64, u64, Vec<f64>)],
    conv: Option<GlucoseUnit>,
) -> Vec<Channel> {
    let mut channels: Vec<Channel> = names
        .iter()
        .map(|n| Channel {
            name: n.clone(),
            values: Vec::with_capacity(rs.len()),
        })
        .collect();
    for (_, _, vals) in rs {
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
    channels
}

/// The most frequent interval among the series that have one (the smallest on a tie), for
/// the one-row series; `None` when no series has two rows.
fn most_frequent_step(pending: &[(Option<i64>, Series)]) -> Option<i64> {
    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    pending
        .iter()
        .filter_map(|p| p.0)
        .for_each(|s| *counts.entry(s).or_default() += 1);
    let best = counts.values().copied().max()?;
    counts.into_iter().find(|&(_, c)| c == best).map(|(s, _)| s)
}
