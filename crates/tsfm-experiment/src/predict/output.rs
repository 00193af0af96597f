//! The forecast CSV: `id,timestamp,step,<value columns>`, one row per series and step.
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use crate::error::{Result, io};
use tsfm_data::sources::clock;

/// One series' forecast, in the data's units.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesForecast {
    pub id: String,
    /// Time of the last input row: step h is `last_ts + h * interval`.
    pub last_ts: i64,
    pub interval_min: u32,
    /// One vector of `horizon` values per output column.
    pub columns: Vec<Vec<f32>>,
}

/// ISO 8601 local time with seconds, `2024-01-01T11:20:00`.
pub fn iso_timestamp(ts: i64) -> String {
    let mut text = clock::format_datetime(ts).replace(' ', "T");
    if text.len() == 16 {
        text.push_str(":00");
    }
    text
}

/// Writes the CSV to `out` row by row; every forecast has `names.len()` columns of `horizon`
/// values. Values are written at full precision (the shortest text that reads back to the same
/// `f32`).
pub fn write_csv(
    out: impl Write,
    names: &[String],
    forecasts: &[SeriesForecast],
    horizon: usize,
) -> csv::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    let header = ["id", "timestamp", "step"].into_iter();
    writer.write_record(header.chain(names.iter().map(String::as_str)))?;
    // The step and the values of every row are formatted into one reused buffer.
    let mut text = String::new();
    for f in forecasts {
        let step_seconds = f.interval_min as i64 * 60;
        for step in 1..=horizon {
            writer.write_field(&f.id)?;
            writer.write_field(iso_timestamp(f.last_ts + step as i64 * step_seconds))?;
            text.clear();
            write!(text, "{step}").expect("formatting into a String");
            writer.write_field(&text)?;
            for column in &f.columns {
                text.clear();
                write!(text, "{}", column[step - 1]).expect("formatting into a String");
                writer.write_field(&text)?;
            }
            writer.write_record(None::<&[u8]>)?;
        }
    }
    writer.flush()?;
    Ok(())
}

/// Replaces `path` with the forecast CSV, streamed into a temporary sibling that is renamed
/// over it once complete (the whole text is never held in memory).
pub fn write(
    path: &Path,
    names: &[String],
    forecasts: &[SeriesForecast],
    horizon: usize,
) -> Result<()> {
    // A bare file name has the empty parent, which `create_dir_all` accepts as it is.
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    tsfm_io::write_file_with(path, |out| {
        write_csv(out, names, forecasts, horizon).map_err(std::io::Error::from)
    })
    .map_err(|e| io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_per_step_with_forecast_times() {
        let f = SeriesForecast {
            id: "p,1".into(),
            last_ts: 86_400 * 19_723 + 23 * 3600 + 55 * 60, // 2024-01-01 23:55
            interval_min: 5,
            columns: vec![vec![1.5, 2.0], vec![-0.25, 1.234_567_9]],
        };
        let mut text = Vec::new();
        write_csv(&mut text, &["a".into(), "b".into()], &[f], 2).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "id,timestamp,step,a,b\n\
             \"p,1\",2024-01-02T00:00:00,1,1.5,-0.25\n\
             \"p,1\",2024-01-02T00:05:00,2,2,1.2345679\n"
        );
    }

    #[test]
    fn write_streams_into_a_new_folder_and_replaces_an_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new").join("forecast.csv");
        let f = SeriesForecast {
            id: "a".into(),
            last_ts: 0,
            interval_min: 15,
            columns: vec![vec![0.1, f32::MAX, -1e-9]],
        };
        let names = ["point".to_string()];
        write(&path, &names, std::slice::from_ref(&f), 3).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "id,timestamp,step,point\n\
             a,1970-01-01T00:15:00,1,0.1\n\
             a,1970-01-01T00:30:00,2,340282350000000000000000000000000000000\n\
             a,1970-01-01T00:45:00,3,-0.000000001\n"
        );
        // A second write replaces the file whole, leaving no temporary sibling behind.
        write(&path, &names, &[f], 1).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "id,timestamp,step,point\na,1970-01-01T00:15:00,1,0.1\n"
        );
        let entries = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(entries, 1);
    }
}
