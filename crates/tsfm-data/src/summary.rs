//! Per-series and total summaries of prepared data, and a plain-text table for the CLI
//! (`tsfm data prepare` / `tsfm data inspect`).

use crate::series::Series;
use crate::sources::clock::format_datetime;
use crate::units::median;

/// One line of the summary. The target is the series' first channel.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// Series id, or `TOTAL`.
    pub series: String,
    pub rows: usize,
    /// Sampling interval in minutes (`None` on the total row when series differ).
    pub interval_min: Option<u32>,
    pub start: Option<i64>,
    pub end: Option<i64>,
    /// Share of rows whose target is missing, in percent.
    pub missing_pct: f64,
    pub target_min: Option<f64>,
    pub target_median: Option<f64>,
    pub target_max: Option<f64>,
    pub unit: Option<String>,
}

fn row(name: &str, series: &[&Series]) -> SummaryRow {
    let rows: usize = series.iter().map(|s| s.len()).sum();
    let target: Vec<f64> = series
        .iter()
        .filter_map(|s| s.channels.first())
        .flat_map(|c| c.values.iter().copied())
        .filter(|v| v.is_finite())
        .collect();
    let missing = rows - target.len().min(rows);
    let mut intervals: Vec<u32> = series.iter().map(|s| s.interval_min).collect();
    intervals.dedup();
    let mut units: Vec<Option<String>> = series.iter().map(|s| s.unit.clone()).collect();
    units.dedup();
    SummaryRow {
        series: name.to_string(),
        rows,
        interval_min: if intervals.len() == 1 {
            Some(intervals[0])
        } else {
            None
        },
        start: series
            .iter()
            .filter_map(|s| s.timestamps.first().copied())
            .min(),
        end: series
            .iter()
            .filter_map(|s| s.timestamps.last().copied())
            .max(),
        missing_pct: if rows == 0 {
            0.0
        } else {
            100.0 * missing as f64 / rows as f64
        },
        target_min: target.iter().copied().reduce(f64::min),
        target_median: median(target.iter().copied()),
        target_max: target.iter().copied().reduce(f64::max),
        unit: if units.len() == 1 {
            units[0].clone()
        } else {
            Some("mixed".into())
        },
    }
}

/// One row per series (in the given order) then a `TOTAL` row over all of them.
pub fn summarize(series: &[Series]) -> Vec<SummaryRow> {
    let mut out: Vec<SummaryRow> = series.iter().map(|s| row(&s.id, &[s])).collect();
    let all: Vec<&Series> = series.iter().collect();
    out.push(row("TOTAL", &all));
    out
}

/// Renders rows as an aligned plain-text table (header, one line per row, newline-terminated).
pub fn render_table(rows: &[SummaryRow]) -> String {
    let num = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.1}"));
    let header = [
        "series",
        "rows",
        "interval",
        "start",
        "end",
        "missing %",
        "min",
        "median",
        "max",
        "unit",
    ];
    let body: Vec<[String; 10]> = rows
        .iter()
        .map(|r| {
            [
                r.series.clone(),
                r.rows.to_string(),
                r.interval_min
                    .map_or("mixed".into(), |i| format!("{i} min")),
                r.start.map_or("-".into(), format_datetime),
                r.end.map_or("-".into(), format_datetime),
                format!("{:.1}", r.missing_pct),
                num(r.target_min),
                num(r.target_median),
                num(r.target_max),
                r.unit.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut width = header.map(str::len);
    for b in &body {
        for (w, c) in width.iter_mut().zip(b) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                // Text columns left-aligned, numbers right-aligned.
                if [0, 3, 4, 9].contains(&i) {
                    format!("{c:<w$}", w = width[i])
                } else {
                    format!("{c:>w$}", w = width[i])
                }
            })
            .collect();
        parts.join("  ").trim_end().to_string() + "\n"
    };
    let mut s = line(&header.map(String::from));
    for b in &body {
        s.push_str(&line(b));
    }
    s
}

/// `render_table(&summarize(series))`.
pub fn summary_table(series: &[Series]) -> String {
    render_table(&summarize(series))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::Channel;

    fn s(id: &str, t0: i64, vals: &[f64], interval: u32) -> Series {
        Series {
            id: id.into(),
            timestamps: (0..vals.len() as i64)
                .map(|i| t0 + i * interval as i64 * 60)
                .collect(),
            interval_min: interval,
            channels: vec![Channel {
                name: "bg".into(),
                values: vals.to_vec(),
            }],
            unit: Some("mmol/L".into()),
        }
    }

    #[test]
    fn summarizes_and_renders() {
        let a = s("a", 0, &[5.0, f64::NAN, 7.0, 9.0], 5);
        let b = s("b", 600, &[4.0, 6.0], 15);
        let rows = summarize(&[a, b]);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].missing_pct, 25.0);
        assert_eq!(rows[0].target_median, Some(7.0));
        assert_eq!(rows[2].rows, 6);
        assert_eq!(rows[2].interval_min, None);
        assert_eq!(rows[2].target_min, Some(4.0));
        assert_eq!(rows[2].target_max, Some(9.0));
        assert_eq!(rows[2].end, Some(600 + 900));
        let t = render_table(&rows);
        let expected = "\
series  rows  interval  start             end               missing %  min  median  max  unit
a          4     5 min  1970-01-01 00:00  1970-01-01 00:15       25.0  5.0     7.0  9.0  mmol/L
b          2    15 min  1970-01-01 00:10  1970-01-01 00:25        0.0  4.0     5.0  6.0  mmol/L
TOTAL      6     mixed  1970-01-01 00:00  1970-01-01 00:25       16.7  4.0     6.0  9.0  mmol/L
";
        assert_eq!(t, expected);
    }
}
