//! CSV output through the `csv` crate, so ids with commas, quotes or newlines round-trip.
//! Data values use Rust's shortest round-trip formatting (`{}`), so reading a file back gives
//! the same f64; missing values are empty cells.

use crate::evaluator::WindowRow;
use crate::table::TableRow;

fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        String::new()
    }
}

/// One line per (window, step): `id,origin,step,timestamp,truth,point`, then one `q{level}`
/// column per level of the first window that has quantiles (other windows fill them only when
/// their levels are the same, else leave them empty). `format_ts` renders a naive local
/// timestamp (seconds), e.g. as "2024-01-02 03:04:05".
pub fn predictions_csv(
    rows: &[WindowRow],
    format_ts: &dyn Fn(i64) -> String,
) -> Result<Vec<u8>, csv::Error> {
    let levels: Vec<f64> = rows
        .iter()
        .find_map(|r| r.quantiles.as_ref().map(|q| q.levels.clone()))
        .unwrap_or_default();
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = ["id", "origin", "step", "timestamp", "truth", "point"]
        .map(String::from)
        .to_vec();
    header.extend(levels.iter().map(|l| format!("q{l}")));
    w.write_record(&header)?;
    for r in rows {
        let q = r.quantiles.as_ref().filter(|q| q.levels == levels);
        for (k, (&t, &p)) in r.truth.iter().zip(&r.point).enumerate() {
            let at = r.origin_ts + (k as i64 + 1) * i64::from(r.interval_min) * 60;
            let mut rec = vec![
                r.series_id.clone(),
                format_ts(r.origin_ts),
                (k + 1).to_string(),
                format_ts(at),
                num(t),
                num(p),
            ];
            rec.extend((0..levels.len()).map(|l| {
                q.and_then(|q| q.values.get(l)?.get(k).copied())
                    .map_or(String::new(), num)
            }));
            w.write_record(&rec)?;
        }
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// A comparison table as CSV: label column, then one column per metric (first-seen order, as
/// the text tables), values at full precision, missing values empty.
pub fn table_csv(rows: &[TableRow], label_header: &str) -> Result<Vec<u8>, csv::Error> {
    let mut cols: Vec<&str> = Vec::new();
    for r in rows {
        for (name, _) in &r.metrics {
            if !cols.contains(&name.as_str()) {
                cols.push(name);
            }
        }
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(std::iter::once(label_header).chain(cols.iter().copied()))?;
    for r in rows {
        let mut rec = vec![r.label.clone()];
        for c in &cols {
            let v = r.metrics.iter().find(|(n, _)| n == c).and_then(|(_, v)| *v);
            rec.push(v.map_or(String::new(), num));
        }
        w.write_record(&rec)?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}
