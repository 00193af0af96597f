//! Categorical (text) covariate columns of a CSV predict input, e.g. `activity` = `meal`,
//! `exercise`. The data layer reads numbers only, so the file is read once here: a value column
//! with a non-numeric cell is categorical, and a numeric copy of the file (each category its
//! index in the sorted category list, missing stays empty) goes through the usual reader; the
//! indices are turned back into the category names per series and step afterwards. A missing
//! marker (`NA`, `null`, ... as the reader knows them) is a missing value, never a category.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use tsfm_data::Series;

use crate::error::{Result, io, user};

/// A categorical column: its channel name and its categories, sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextColumn {
    pub name: String,
    pub categories: Vec<String>,
    /// The file line of its first non-numeric cell, for messages about a column meant to be
    /// numeric.
    pub first_text_line: u64,
    /// That cell.
    pub first_text: String,
}

/// The numeric copy of a CSV input and what it encodes; the copy is deleted on drop.
pub struct NumericCopy {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub columns: Vec<TextColumn>,
}

/// `None` when every value column of `path` is numeric (or the file is Parquet, whose reader
/// names a text column itself); else the numeric copy. The reader calls this only after a
/// numeric read of the file met a cell that is not a number; a file with text is then read
/// twice more (categories, then the copy).
pub fn numeric_copy(path: &Path) -> Result<Option<NumericCopy>> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
    {
        return Ok(None);
    }
    let (headers, first_text) = find_text_columns(path)?;
    if first_text.is_empty() {
        return Ok(None);
    }
    let mut categories = vec![BTreeSet::new(); first_text.len()];
    for_each_record(path, |record| {
        for ((c, _, _), set) in first_text.iter().zip(&mut categories) {
            if let Some(v) = record.get(*c).map(str::trim).filter(|v| !is_missing(v)) {
                set.insert(v.to_string());
            }
        }
        Ok(())
    })?;
    // By position: two columns may share a header (found by fuzzing: two empty names).
    let channels: Vec<usize> = first_text.iter().map(|(c, _, _)| *c).collect();
    let columns: Vec<TextColumn> = first_text
        .into_iter()
        .zip(categories)
        .map(|((c, line, cell), set)| TextColumn {
            name: headers[c].clone(),
            categories: set.into_iter().collect(),
            first_text_line: line,
            first_text: cell,
        })
        .collect();
    let dir = tempfile::tempdir().map_err(|e| io(path, e))?;
    let copy = dir.path().join(
        path.file_name()
            .map_or_else(|| "input.csv".into(), |n| n.to_os_string()),
    );
    let write_error = |e: csv::Error| user(format!("{}: {e}", copy.display()));
    let mut writer = csv::Writer::from_path(&copy).map_err(write_error)?;
    writer.write_record(&headers).map_err(write_error)?;
    for_each_record(path, |record| {
        let mut row: Vec<String> = record.iter().map(String::from).collect();
        for (&c, column) in channels.iter().zip(&columns) {
            if let Some(cell) = row.get_mut(c) {
                let value = cell.trim();
                if !is_missing(value) {
                    let index = column
                        .categories
                        .binary_search_by(|x| x.as_str().cmp(value))
                        .expect("every category was collected");
                    *cell = index.to_string();
                }
            }
        }
        writer.write_record(&row).map_err(write_error)
    })?;
    writer.flush().map_err(|e| io(&copy, e))?;
    Ok(Some(NumericCopy {
        _dir: dir,
        path: copy,
        columns,
    }))
}

/// The header and, per text column, its index, the line of its first non-numeric cell and
/// that cell: one streaming pass.
#[allow(clippy::type_complexity)]
fn find_text_columns(path: &Path) -> Result<(Vec<String>, Vec<(usize, u64, String)>)> {
    let (headers, mut reader) = open(path)?;
    let value_columns: Vec<usize> = (0..headers.len())
        .filter(|&c| headers[c] != "id" && headers[c] != "timestamp")
        .collect();
    let mut first: Vec<Option<(u64, String)>> = vec![None; headers.len()];
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(csv_error(path))? {
        for &c in &value_columns {
            if first[c].is_some() {
                continue;
            }
            if let Some(v) = record
                .get(c)
                .map(str::trim)
                .filter(|v| !is_missing(v) && v.parse::<f64>().is_err())
            {
                let line = record.position().map_or(0, |p| p.line());
                first[c] = Some((line, v.to_string()));
            }
        }
    }
    let text = first
        .into_iter()
        .enumerate()
        .filter_map(|(c, f)| f.map(|(line, cell)| (c, line, cell)))
        .collect();
    Ok((headers, text))
}

/// Streams the records of a CSV file through one reused buffer.
fn for_each_record(
    path: &Path,
    mut each: impl FnMut(&csv::StringRecord) -> Result<()>,
) -> Result<()> {
    let (_, mut reader) = open(path)?;
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(csv_error(path))? {
        each(&record)?;
    }
    Ok(())
}

/// A CSV reader past its header, and the header trimmed (without a byte-order mark).
fn open(path: &Path) -> Result<(Vec<String>, csv::Reader<std::fs::File>)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .map_err(csv_error(path))?;
    let headers = reader
        .headers()
        .map_err(csv_error(path))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    Ok((headers, reader))
}

fn csv_error(path: &Path) -> impl Fn(csv::Error) -> crate::error::ExperimentError + '_ {
    move |e| user(format!("{}: not a readable CSV file: {e}", path.display()))
}

fn is_missing(cell: &str) -> bool {
    tsfm_data::sources::long::MISSING.contains(&cell)
}

/// A series' categorical channel back to its category names (`None` = missing). The reader
/// keeps one row per step, so every index is whole; anything else is a step where two rows
/// disagreed and were averaged, refused here.
pub fn decode<'a>(
    path: &Path,
    series: &Series,
    channel: usize,
    column: &'a TextColumn,
) -> Result<Vec<Option<&'a str>>> {
    series.channels[channel]
        .values
        .iter()
        .enumerate()
        .map(|(t, &v)| {
            if !v.is_finite() {
                return Ok(None);
            }
            let i = v.round();
            if (v - i).abs() > 1e-9 || i < 0.0 || i as usize >= column.categories.len() {
                return Err(user(format!(
                    "{}: categorical column `{}` of series `{}` has several values at one step \
                     ({}); give one row per step",
                    path.display(),
                    column.name,
                    series.id,
                    tsfm_data::sources::clock::format_datetime(series.timestamps[t])
                )));
            }
            Ok(Some(column.categories[i as usize].as_str()))
        })
        .collect()
}

/// Chronos-2's encoding of the categorical covariates, as the official pipeline's
/// preprocessing: each text channel (history and known future) becomes numbers, target-encoded
/// per series when there is one target, ordinal codes otherwise; a category a series' past
/// never had gets that series' target mean (one target) or "unknown" (several).
pub fn encode_for_chronos2(
    path: &Path,
    channels: &[String],
    series: &mut [Series],
    split: &mut super::convention::SplitInput,
    text: &[TextColumn],
) -> Result<()> {
    use tsfm_models::chronos2::categorical::{CategoricalColumn, Encoding, encode_column};
    let layout = &split.layout;
    let targets: Vec<Vec<f32>> = series
        .iter()
        .map(|s| {
            s.channels[layout.targets[0]]
                .values
                .iter()
                .map(|&v| v as f32)
                .collect()
        })
        .collect();
    let target_rows: Vec<&[f32]> = targets.iter().map(Vec::as_slice).collect();
    let n_future = layout.known_future.len();
    for column in text {
        let c = channels
            .iter()
            .position(|n| *n == column.name)
            .expect("text columns are channels");
        let known = layout.known_future.iter().position(|&k| k == c);
        let mut columns = Vec::with_capacity(series.len());
        for (s, future) in series.iter().zip(&split.future) {
            let past = decode(path, s, c, column)?;
            let future = match known {
                Some(k) => Some(
                    future
                        .chunks(n_future)
                        .map(|row| category(path, s, column, row[k]))
                        .collect::<Result<Vec<_>>>()?,
                ),
                None => None,
            };
            columns.push(CategoricalColumn { past, future });
        }
        let encoding = Encoding::package_default(layout.targets.len(), &target_rows);
        let encoded = encode_column(&column.name, &columns, encoding)
            .map_err(|e| user(format!("{}: {e}", path.display())))?;
        for (si, e) in encoded.into_iter().enumerate() {
            series[si].channels[c].values = e.past.iter().map(|&v| f64::from(v)).collect();
            if let (Some(k), Some(f)) = (known, e.future) {
                for (t, v) in f.into_iter().enumerate() {
                    split.future[si][t * n_future + k] = f64::from(v);
                }
            }
        }
    }
    Ok(())
}

/// One known-future cell's category (`None` = missing).
fn category<'a>(
    path: &Path,
    series: &Series,
    column: &'a TextColumn,
    code: f64,
) -> Result<Option<&'a str>> {
    if !code.is_finite() {
        return Ok(None);
    }
    column
        .categories
        .get(code as usize)
        .filter(|_| code.fract() == 0.0 && code >= 0.0)
        .map(|c| Some(c.as_str()))
        .ok_or_else(|| {
            user(format!(
                "{}: categorical column `{}` of series `{}` has several values at one horizon \
                 step; give one row per step",
                path.display(),
                column.name,
                series.id
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_columns_become_sorted_category_indices() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(
            &path,
            "id,timestamp,bg,activity\n\
             a,2024-01-01T00:00:00,5.5,meal\n\
             a,2024-01-01T00:05:00,5.6,\n\
             a,2024-01-01T00:10:00,,exercise\n",
        )
        .unwrap();
        let copy = numeric_copy(&path).unwrap().unwrap();
        assert_eq!(
            copy.columns,
            vec![TextColumn {
                name: "activity".into(),
                categories: vec!["exercise".into(), "meal".into()],
                first_text_line: 2,
                first_text: "meal".into(),
            }]
        );
        assert_eq!(
            std::fs::read_to_string(&copy.path).unwrap(),
            "id,timestamp,bg,activity\n\
             a,2024-01-01T00:00:00,5.5,1\n\
             a,2024-01-01T00:05:00,5.6,\n\
             a,2024-01-01T00:10:00,,0\n"
        );
        std::fs::write(&path, "id,timestamp,bg\na,2024-01-01T00:00:00,5.5\n").unwrap();
        assert!(numeric_copy(&path).unwrap().is_none());
        // Missing markers are missing values: a numeric column with `NA` stays numeric, and a
        // text column's `null` is no category.
        std::fs::write(
            &path,
            "id,timestamp,bg,activity\n\
             a,2024-01-01T00:00:00,NA,null\n\
             a,2024-01-01T00:05:00,5.6,meal\n",
        )
        .unwrap();
        let copy = numeric_copy(&path).unwrap().unwrap();
        assert_eq!(copy.columns.len(), 1);
        assert_eq!(copy.columns[0].categories, vec!["meal".to_string()]);
        assert_eq!(
            std::fs::read_to_string(&copy.path).unwrap(),
            "id,timestamp,bg,activity\n\
             a,2024-01-01T00:00:00,NA,null\n\
             a,2024-01-01T00:05:00,5.6,0\n"
        );
    }
}
