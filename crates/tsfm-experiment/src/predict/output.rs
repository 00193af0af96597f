//! The forecast CSV: `id,timestamp,step,<value columns>`, one row per series and step.
use std::path::Path;

use crate::error::Result;
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

/// The CSV text; every forecast has `names.len()` columns of `horizon` values. Values are
/// written at full precision (the shortest text that reads back to the same `f32`).
pub fn render(names: &[String], forecasts: &[SeriesForecast], horizon: usize) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["id".to_string(), "timestamp".into(), "step".into()];
    header.extend(names.iter().cloned());
    writer.write_record(&header).expect("writing to memory");
    for f in forecasts {
        let step_seconds = f.interval_min as i64 * 60;
        for step in 1..=horizon {
            let mut row = vec![
                f.id.clone(),
                iso_timestamp(f.last_ts + step as i64 * step_seconds),
                step.to_string(),
            ];
            row.extend(f.columns.iter().map(|c| c[step - 1].to_string()));
            writer.write_record(&row).expect("writing to memory");
        }
    }
    writer.into_inner().expect("writing to memory")
}

pub fn write(
    path: &Path,
    names: &[String],
    forecasts: &[SeriesForecast],
    horizon: usize,
) -> Result<()> {
    let bytes = render(names, forecasts, horizon);
    tsfm_runs::write_atomic(path, &bytes)?;
    Ok(())
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
        assert_eq!(
            String::from_utf8(render(&["a".into(), "b".into()], &[f], 2)).unwrap(),
            "id,timestamp,step,a,b\n\
             \"p,1\",2024-01-02T00:00:00,1,1.5,-0.25\n\
             \"p,1\",2024-01-02T00:05:00,2,2,1.2345679\n"
        );
    }
}
