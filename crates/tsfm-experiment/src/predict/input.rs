//! Reading the series to forecast: long format `id,timestamp,<channel>[,<channel>...]`.
use std::path::Path;

use tsfm_data::Series;
use tsfm_data::error::InputErrorKind;
use tsfm_data::sources::{SourceKind, SourceOptions};

use crate::error::{ExperimentError, Result, io, user as user_error};
use crate::events::Events;

use super::Input;

/// The channel names (every column but `id` and `timestamp`, in file order), the series, and
/// the categorical (text) columns, whose channels hold category indices
/// ([`super::text_columns`]).
///
/// Most inputs are numbers only, so the file is read once as numbers and searched for text
/// columns only when that read meets a cell that is not a number (the search was a second
/// full pass over every file: a fifth of `predict`'s time on 2,048 series). A file without a
/// text column fails the second time as it did the first.
pub fn read(path: &Path, events: &mut dyn Events) -> Result<Input> {
    let not_a_number = match read_numeric(path, path, events) {
        Err(ExperimentError::Data(e)) if e.input_kind() == Some(InputErrorKind::NotANumber) => e,
        other => {
            return other.map(|(channels, series)| Input {
                channels,
                series,
                text: Vec::new(),
            });
        }
    };
    let Some(copy) = super::text_columns::numeric_copy(path)? else {
        return Err(not_a_number.into());
    };
    let (channels, series) = read_numeric(&copy.path, path, events)?;
    Ok(Input {
        channels,
        series,
        text: copy.columns,
    })
}

/// One row of in-memory input: series id, time (seconds, as [`clock::parse_datetime`] reads
/// the file's), and one value per channel (NaN: missing).
pub type Row = (String, i64, Vec<f64>);

/// The series of in-memory rows (numbers only), built exactly as a file with these rows would
/// be read (same grid, interval and ordering rules, same checks); `label` names the data in
/// messages, as a file's path does.
pub fn from_rows(
    label: &Path,
    channels: Vec<String>,
    rows: Vec<Row>,
    events: &mut dyn Events,
) -> Result<Input> {
    let opts = options(label, &channels, false);
    let output = tsfm_data::sources::long::from_rows(&opts, &channels, rows)?;
    let series = checked(label, output, events)?;
    Ok(Input {
        channels,
        series,
        text: Vec::new(),
    })
}

fn options(path: &Path, channels: &[String], is_parquet: bool) -> SourceOptions {
    let kind = if is_parquet {
        SourceKind::Parquet
    } else {
        SourceKind::Csv
    };
    let mut opts = SourceOptions::new(kind, path);
    opts.covariate_columns = Some(Vec::new());
    opts.target_columns = channels.to_vec();
    opts
}

/// [`read`] of a file of numbers; `shown` is the path errors name (the user's file when `path`
/// is its numeric copy, which has the same rows and columns).
fn read_numeric(
    path: &Path,
    shown: &Path,
    events: &mut dyn Events,
) -> Result<(Vec<String>, Vec<Series>)> {
    let rename = |e: crate::error::ExperimentError| {
        if path == shown {
            e
        } else {
            user_error(
                e.to_string()
                    .replace(&path.display().to_string(), &shown.display().to_string()),
            )
        }
    };
    read_file(path, events).map_err(rename)
}

fn read_file(path: &Path, events: &mut dyn Events) -> Result<(Vec<String>, Vec<Series>)> {
    let is_parquet = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    let channels = if is_parquet {
        // The Parquet reader takes every non-key column as a target when told none.
        parquet_columns(path)?
    } else {
        csv_columns(path)?
    };
    if channels.is_empty() {
        return Err(user_error(format!(
            "{}: expected a header `id,timestamp,value` (or several named channels after id,timestamp)",
            path.display()
        )));
    }
    let opts = options(path, &channels, is_parquet);
    let output = tsfm_data::sources::load(&opts)?;
    Ok((channels, checked(path, output, events)?))
}

/// The series a source read, with its warnings passed on; no series, or a channel without a
/// single reading in a series, is refused.
fn checked(
    path: &Path,
    output: tsfm_data::sources::SourceOutput,
    events: &mut dyn Events,
) -> Result<Vec<Series>> {
    if output.series.is_empty() {
        return Err(user_error(format!(
            "{}: no rows to forecast from",
            path.display()
        )));
    }
    // What the reader dropped, merged or guessed (e.g. the interval of a one-row series).
    for warning in &output.warnings {
        events.warn(warning.clone());
    }
    // A forecast from no reading at all would be a number made up by the padding.
    for s in &output.series {
        if let Some(c) = s
            .channels
            .iter()
            .find(|c| c.values.iter().all(|v| !v.is_finite()))
        {
            return Err(user_error(format!(
                "{}: series `{}` has no `{}` reading to forecast from (all {} empty); give it \
                 readings or leave it out",
                path.display(),
                s.id,
                c.name,
                c.values.len()
            )));
        }
    }
    Ok(output.series)
}

/// The CSV header's value columns (a UTF-8 byte-order mark and quoting handled by `csv`).
fn csv_columns(path: &Path) -> Result<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .map_err(|e| match e.into_kind() {
            csv::ErrorKind::Io(e) => io(path, e),
            other => user_error(format!("{}: {other:?}", path.display())),
        })?;
    let headers = reader
        .headers()
        .map_err(|e| user_error(format!("{}: cannot read the header: {e}", path.display())))?;
    Ok(headers
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
        .filter(|h| h != "id" && h != "timestamp" && !h.is_empty())
        .collect())
}

fn parquet_columns(path: &Path) -> Result<Vec<String>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    // The parquet crate can panic on a damaged file: the reader's guard makes that a refusal.
    let reader = tsfm_data::sources::long::guard_parquet(path, || {
        SerializedFileReader::new(file).map_err(|e| {
            let kind = tsfm_data::error::InputErrorKind::BadValue;
            let message = format!("not a Parquet file: {e}");
            tsfm_data::error::DataError::input(kind, path, None, None, message)
        })
    })
    .map_err(|e| user_error(e.to_string()))?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    Ok(schema
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .filter(|n| n != "id" && n != "timestamp")
        .collect())
}

/// Names the input's columns as a trained run's config does: the target keeps its name, and a
/// file with a single value column (`id,timestamp,value`) feeds it to the target when the run
/// reads no covariates. Columns the run does not read are reported, then left out.
pub fn to_config_channels(
    path: &Path,
    channels: &[String],
    series: &mut [Series],
    target: &str,
    covariates: &[String],
) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    if !channels.iter().any(|c| c == target) {
        if channels.len() == 1 && covariates.is_empty() {
            for s in series.iter_mut() {
                for c in &mut s.channels {
                    c.name = target.to_string();
                }
            }
            return Ok(notes);
        }
        return Err(user_error(format!(
            "{}: the run forecasts `{target}`{} but the file's columns are {}; name the target column `{target}`",
            path.display(),
            if covariates.is_empty() {
                String::new()
            } else {
                format!(" from covariates {}", covariates.join(", "))
            },
            channels.join(", ")
        )));
    }
    // IOB/COB are derived from insulin/carbs when the file lacks them.
    let sources: Vec<&str> = covariates
        .iter()
        .filter_map(|c| tsfm_data::features::derivation(c).map(|(src, _)| src))
        .collect();
    let unused: Vec<&str> = channels
        .iter()
        .filter(|c| *c != target && !covariates.contains(c) && !sources.contains(&c.as_str()))
        .map(String::as_str)
        .collect();
    if !unused.is_empty() {
        notes.push(format!(
            "{}: column(s) {} are not read by this run (it reads `{target}`{}); left out",
            path.display(),
            unused.join(", "),
            covariates
                .iter()
                .map(|c| format!(", `{c}`"))
                .collect::<String>()
        ));
    }
    Ok(notes)
}

/// Keeps the channels a run reads (its target first, then its covariates and the columns
/// derived covariates come from, in file order) and returns their names.
pub fn keep_read_channels(
    series: &mut [Series],
    target: &str,
    covariates: &[String],
) -> Vec<String> {
    let sources: Vec<&str> = covariates
        .iter()
        .filter_map(|c| tsfm_data::features::derivation(c).map(|(src, _)| src))
        .collect();
    let read = |name: &str| covariates.iter().any(|c| c == name) || sources.contains(&name);
    for s in series.iter_mut() {
        let mut kept: Vec<_> = s
            .channels
            .drain(..)
            .filter(|c| c.name == target || read(&c.name))
            .collect();
        kept.sort_by_key(|c| c.name != target);
        s.channels = kept;
    }
    series
        .first()
        .map(|s| s.channels.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Collected;

    fn read_text(text: &str) -> Result<Input> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(&path, text).unwrap();
        read(&path, &mut Collected::default())
            .map_err(|e| user_error(e.to_string().replace(&path.display().to_string(), "in.csv")))
    }

    /// Numbers only: one read, no text columns; a text column found after the numeric read
    /// refused it; a cell that is neither (`inf`) refused as the numeric read named it.
    #[test]
    fn text_columns_are_looked_for_only_when_a_cell_is_not_a_number() {
        let numeric = read_text(
            "id,timestamp,bg,carbs\n\
             a,2024-01-01T00:00:00,5.5,\n\
             a,2024-01-01T00:05:00,5.6,12\n",
        )
        .unwrap();
        assert_eq!(numeric.channels, ["bg", "carbs"]);
        assert!(numeric.text.is_empty());
        assert_eq!(numeric.series[0].channels[0].values, [5.5, 5.6]);

        let text = read_text(
            "id,timestamp,bg,activity\n\
             a,2024-01-01T00:00:00,5.5,walk\n\
             a,2024-01-01T00:05:00,5.6,meal\n",
        )
        .unwrap();
        assert_eq!(text.text.len(), 1);
        assert_eq!(text.text[0].categories, ["meal", "walk"]);
        assert_eq!(text.series[0].channels[1].values, [1.0, 0.0]);

        let error = read_text(
            "id,timestamp,bg\n\
             a,2024-01-01T00:00:00,5.5\n\
             a,2024-01-01T00:05:00,inf\n",
        )
        .err()
        .unwrap();
        assert_eq!(error.to_string(), "in.csv:3: bg \"inf\" is not a number");
    }
}
