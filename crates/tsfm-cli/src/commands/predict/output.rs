//! The forecast CSV: `id,timestamp,step,<value columns>`, one row per series and step.
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
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

fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The CSV text; every forecast has `names.len()` columns of `horizon` values.
pub fn render(names: &[String], forecasts: &[SeriesForecast], horizon: usize) -> String {
    let mut text = String::from("id,timestamp,step");
    for name in names {
        write!(text, ",{}", csv_cell(name)).unwrap();
    }
    text.push('\n');
    for f in forecasts {
        let step_seconds = f.interval_min as i64 * 60;
        for step in 1..=horizon {
            let ts = iso_timestamp(f.last_ts + step as i64 * step_seconds);
            write!(text, "{},{ts},{step}", csv_cell(&f.id)).unwrap();
            for column in &f.columns {
                write!(text, ",{}", column[step - 1]).unwrap();
            }
            text.push('\n');
        }
    }
    text
}

pub fn write(
    path: &Path,
    names: &[String],
    forecasts: &[SeriesForecast],
    horizon: usize,
) -> Result<()> {
    let text = render(names, forecasts, horizon);
    tsfm_runs::write_atomic(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
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
            columns: vec![vec![1.5, 2.0], vec![-0.25, 3.0]],
        };
        assert_eq!(
            render(&["a".into(), "b".into()], &[f], 2),
            "id,timestamp,step,a,b\n\
             \"p,1\",2024-01-02T00:00:00,1,1.5,-0.25\n\
             \"p,1\",2024-01-02T00:05:00,2,2,3\n"
        );
    }
}
