//! Comparison tables: one row per model/run, one column per metric (first-seen order).

/// One table row: a label and its metrics in display order (`None` shows as "—").
#[derive(Debug, Clone, PartialEq)]
pub struct TableRow {
    pub label: String,
    pub metrics: Vec<(String, Option<f64>)>,
}

impl TableRow {
    pub fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            metrics: Vec::new(),
        }
    }

    pub fn with(mut self, name: impl Into<String>, value: Option<f64>) -> Self {
        self.metrics.push((name.into(), value));
        self
    }
}

fn columns(rows: &[TableRow]) -> Vec<String> {
    let mut cols: Vec<String> = Vec::new();
    for r in rows {
        for (name, _) in &r.metrics {
            if !cols.contains(name) {
                cols.push(name.clone());
            }
        }
    }
    cols
}

/// Cells as strings: header first, values with 4 decimals.
fn cells(rows: &[TableRow], label_header: &str) -> Vec<Vec<String>> {
    let cols = columns(rows);
    let mut out = vec![
        std::iter::once(label_header.to_string())
            .chain(cols.iter().cloned())
            .collect(),
    ];
    for r in rows {
        let mut line = vec![r.label.clone()];
        for c in &cols {
            let v = r.metrics.iter().find(|(n, _)| n == c).and_then(|(_, v)| *v);
            line.push(
                v.filter(|v| v.is_finite())
                    .map_or("—".to_string(), |v| format!("{v:.4}")),
            );
        }
        out.push(line);
    }
    out
}

/// Aligned plain text: label column left-aligned, numbers right-aligned, a dashed rule under the header.
pub fn render_text(rows: &[TableRow], label_header: &str) -> String {
    let cells = cells(rows, label_header);
    let widths: Vec<usize> = (0..cells[0].len())
        .map(|i| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut s = String::new();
    for (k, r) in cells.iter().enumerate() {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, &w))| {
                if i == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        s.push_str(line.join("  ").trim_end());
        s.push('\n');
        if k == 0 {
            let total = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
            s.push_str(&"-".repeat(total));
            s.push('\n');
        }
    }
    s
}

/// GitHub-flavoured Markdown table (numbers right-aligned).
pub fn render_markdown(rows: &[TableRow], label_header: &str) -> String {
    let cells = cells(rows, label_header);
    let mut s = String::new();
    for (k, r) in cells.iter().enumerate() {
        s.push_str(&format!("| {} |\n", r.join(" | ")));
        if k == 0 {
            let rule: Vec<&str> = (0..r.len())
                .map(|i| if i == 0 { "---" } else { "---:" })
                .collect();
            s.push_str(&format!("| {} |\n", rule.join(" | ")));
        }
    }
    s
}
