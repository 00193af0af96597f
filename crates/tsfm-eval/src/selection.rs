//! The columns of printed summaries and history for the metric names in `evaluation.metrics`.
//! The report always holds every metric; selecting only decides what is shown.

use crate::evaluator::MetricsReport;
use crate::metrics::glucose::{GlucoseMetrics, ZoneShares};
use crate::options::check_metric_names;

type Columns = Vec<(String, Option<f64>)>;

fn col(name: &str, v: Option<f64>) -> (String, Option<f64>) {
    (name.to_string(), v)
}

/// Share in zone A and in A + B, `None` without glucose pairs.
fn zones(
    prefix: &str,
    g: Option<&GlucoseMetrics>,
    pick: fn(&GlucoseMetrics) -> &ZoneShares,
) -> Columns {
    let z = g.filter(|g| g.n > 0).map(pick);
    vec![
        col(&format!("{prefix}_a"), z.map(|z| z.a)),
        col(&format!("{prefix}_ab"), z.map(|z| z.a + z.b)),
    ]
}

impl MetricsReport {
    /// Columns for `names`, in their order. Most names give one column named like the metric;
    /// `clarke`/`parkes` give `_a` and `_ab` shares, `hypo_events` level-1 sensitivity,
    /// precision and F1, `coverage`/`sharpness` one column per 50/80/90/95 % interval
    /// (`coverage_80`, `width_80`), `dilate` its shape and temporal terms. Values are overall
    /// (pooled); `None` where the metric does not apply (e.g. no quantiles). Unknown names are
    /// an error naming the name and the allowed list.
    pub fn selected(&self, names: &[String]) -> Result<Columns, String> {
        check_metric_names(names)?;
        Ok(names.iter().flat_map(|n| self.columns_of(n)).collect())
    }

    fn columns_of(&self, name: &str) -> Columns {
        let o = &self.overall;
        let g = self.glucose.as_ref().map(|g| &g.overall);
        let p = self.probabilistic.as_ref();
        let ev = self.glucose.as_ref().map(|g| &g.hypo_level1);
        let intervals = |f: fn(&crate::metrics::probabilistic::CentralInterval) -> Option<f64>,
                         prefix: &str| {
            let list = p.map(|p| p.central_intervals.clone()).unwrap_or_default();
            crate::metrics::probabilistic::CENTRAL_INTERVALS
                .iter()
                .map(|&c| {
                    let v = list
                        .iter()
                        .find(|i| (i.nominal - c).abs() < 1e-9)
                        .and_then(f);
                    col(&format!("{prefix}_{}", (c * 100.0).round()), v)
                })
                .collect()
        };
        match name {
            "rmse" => vec![col(name, o.rmse)],
            "mae" => vec![col(name, o.mae)],
            "mse" => vec![col(name, o.mse)],
            "mape" => vec![col(name, o.mape)],
            "smape" => vec![col(name, o.smape)],
            "mase" => vec![col(name, o.mase)],
            "mard" => vec![col(name, g.and_then(|g| g.mard))],
            "grmse" => vec![col(name, g.and_then(|g| g.grmse))],
            "time_in_range" => vec![col("tir_agreement", g.and_then(|g| g.tir_agreement))],
            "clarke" => zones("clarke", g, |g| &g.clarke),
            "parkes" => zones("parkes", g, |g| &g.parkes),
            "hypo_events" => vec![
                col("hypo_sensitivity", ev.and_then(|e| e.sensitivity)),
                col("hypo_precision", ev.and_then(|e| e.precision)),
                col("hypo_f1", ev.and_then(|e| e.f1)),
            ],
            "wql" => vec![col(name, p.and_then(|p| p.wql))],
            "crps" => vec![col(name, p.and_then(|p| p.crps))],
            "brier" => vec![col(name, p.and_then(|p| p.brier))],
            "mace" => vec![col(name, p.and_then(|p| p.mace))],
            "coverage" => intervals(|i| i.coverage, "coverage"),
            "sharpness" => intervals(|i| i.mean_width, "width"),
            "dilate" => vec![
                col("dilate_shape", self.dilate.as_ref().map(|d| d.shape)),
                col("dilate_temporal", self.dilate.as_ref().map(|d| d.temporal)),
            ],
            _ => Vec::new(),
        }
    }
}
