//! `GET /metrics` in the Prometheus text format (version 0.0.4): requests by endpoint and
//! status, the forecast latency histogram, the size of each model call, errors and panics.
//! A dozen series fit in a mutex-guarded struct; a metrics crate would add more to compile than
//! this file holds.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the latency buckets.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Upper bounds of the batch-size buckets (series per model call).
const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, v: f64) {
        for (c, &b) in self.counts.iter_mut().zip(self.bounds) {
            if v <= b {
                *c += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (c, b) in self.counts.iter().zip(self.bounds) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", self.sum, self.count);
    }
}

#[derive(Debug)]
struct Inner {
    requests: BTreeMap<(&'static str, u16), u64>,
    latency: Histogram,
    batch_series: Histogram,
    batch_requests: Histogram,
    model_errors: u64,
    panics: u64,
    rejected_busy: u64,
}

/// The server's counters, shared by the handlers and the batch worker.
#[derive(Debug)]
pub struct Metrics(Mutex<Inner>);

impl Default for Metrics {
    fn default() -> Self {
        Metrics(Mutex::new(Inner {
            requests: BTreeMap::new(),
            latency: Histogram::new(&LATENCY_BUCKETS),
            batch_series: Histogram::new(&BATCH_BUCKETS),
            batch_requests: Histogram::new(&BATCH_BUCKETS),
            model_errors: 0,
            panics: 0,
            rejected_busy: 0,
        }))
    }
}

impl Metrics {
    fn with(&self, f: impl FnOnce(&mut Inner)) {
        // A panic elsewhere while the lock was held leaves plain counters: still usable.
        let mut inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut inner);
    }

    /// One answered request; forecasts also feed the latency histogram.
    pub fn request(&self, endpoint: &'static str, status: u16, elapsed: Option<Duration>) {
        self.with(|m| {
            *m.requests.entry((endpoint, status)).or_default() += 1;
            if let Some(e) = elapsed {
                m.latency.observe(e.as_secs_f64());
            }
        });
    }

    /// One model call of `series` series from `requests` requests.
    pub fn batch(&self, series: usize, requests: usize) {
        self.with(|m| {
            m.batch_series.observe(series as f64);
            m.batch_requests.observe(requests as f64);
        });
    }

    pub fn model_error(&self) {
        self.with(|m| m.model_errors += 1);
    }

    pub fn panic(&self) {
        self.with(|m| m.panics += 1);
    }

    pub fn busy(&self) {
        self.with(|m| m.rejected_busy += 1);
    }

    /// The text `GET /metrics` answers; `ready` is whether the model is loaded.
    pub fn render(&self, ready: bool) -> String {
        let mut out = String::new();
        self.with(|m| {
            let _ = writeln!(
                out,
                "# HELP tsfm_requests_total HTTP requests answered, by endpoint and status.\n\
                 # TYPE tsfm_requests_total counter"
            );
            for ((endpoint, status), n) in &m.requests {
                let _ = writeln!(
                    out,
                    "tsfm_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {n}"
                );
            }
            m.latency.render(
                &mut out,
                "tsfm_forecast_latency_seconds",
                "Time from receiving a forecast request to answering it.",
            );
            m.batch_series.render(
                &mut out,
                "tsfm_batch_series",
                "Series forecast per model call (requests batched together).",
            );
            m.batch_requests.render(
                &mut out,
                "tsfm_batch_requests",
                "Requests answered per model call.",
            );
            for (name, help, v) in [
                ("tsfm_model_errors_total", "Model calls that failed.", m.model_errors),
                ("tsfm_panics_total", "Model calls and requests that panicked (answered 500; the server went on).", m.panics),
                ("tsfm_rejected_busy_total", "Requests refused with 503 because the queue was full.", m.rejected_busy),
            ] {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
            }
            let _ = writeln!(
                out,
                "# HELP tsfm_model_ready Whether the model is loaded.\n# TYPE tsfm_model_ready gauge\ntsfm_model_ready {}",
                u8::from(ready)
            );
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_counters_labelled() {
        let m = Metrics::default();
        m.request("forecast", 200, Some(Duration::from_millis(3)));
        m.request("forecast", 200, Some(Duration::from_millis(30)));
        m.request("forecast", 422, Some(Duration::from_micros(500)));
        m.batch(3, 2);
        let text = m.render(true);
        for line in [
            "tsfm_requests_total{endpoint=\"forecast\",status=\"200\"} 2",
            "tsfm_requests_total{endpoint=\"forecast\",status=\"422\"} 1",
            "tsfm_forecast_latency_seconds_bucket{le=\"0.001\"} 1",
            "tsfm_forecast_latency_seconds_bucket{le=\"0.005\"} 2",
            "tsfm_forecast_latency_seconds_bucket{le=\"0.05\"} 3",
            "tsfm_forecast_latency_seconds_bucket{le=\"+Inf\"} 3",
            "tsfm_forecast_latency_seconds_count 3",
            "tsfm_batch_series_bucket{le=\"2\"} 0",
            "tsfm_batch_series_bucket{le=\"4\"} 1",
            "tsfm_batch_requests_bucket{le=\"2\"} 1",
            "tsfm_model_ready 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
    }
}
