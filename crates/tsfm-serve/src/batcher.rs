//! Batching: concurrent requests forecast in one model call.
//!
//! One worker thread owns the model. It takes the first queued request, then waits up to
//! `max_wait` for more until `max_batch` series are gathered, and forecasts them in as few
//! calls as their compatibility allows: requests in one call share horizon, quantile levels and
//! covariate names, and no series id (a run's scaler is per id, so ids must stay as sent). The
//! model call is caught if it panics: its requests get a 500 and the worker goes on.
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use crate::api::{ForecastReply, ValidRequest};
use crate::error::ApiError;
use crate::metrics::Metrics;

pub type Reply = Result<ForecastReply, ApiError>;

/// One request waiting for its forecast.
pub struct Job {
    pub request: ValidRequest,
    pub reply: tokio::sync::oneshot::Sender<Reply>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    /// Series per model call at most (a larger single request is still forecast, alone).
    pub max_batch: usize,
    /// How long the first request of a batch waits for company.
    pub max_wait: Duration,
    /// Requests waiting at most; more are refused with 503.
    pub queue: usize,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            max_batch: 64,
            max_wait: Duration::from_millis(2),
            queue: 1024,
        }
    }
}

/// Runs until every sender of `jobs` is gone (the server shut down), answering each job.
pub fn run<F>(jobs: Receiver<Job>, options: BatchOptions, metrics: &Metrics, mut forecast: F)
where
    F: FnMut(&[&ValidRequest]) -> Vec<Reply>,
{
    while let Ok(first) = jobs.recv() {
        let (batch, mut replies): (Vec<ValidRequest>, Vec<_>) = gather(first, &jobs, &options)
            .into_iter()
            .map(|j| (j.request, Some(j.reply)))
            .unzip();
        let all: Vec<&ValidRequest> = batch.iter().collect();
        for group in group_requests(&all, options.max_batch) {
            let requests: Vec<&ValidRequest> = group.iter().map(|&k| all[k]).collect();
            let answers = call(&mut forecast, &requests, metrics);
            for (&k, answer) in group.iter().zip(answers) {
                if let Some(tx) = replies[k].take() {
                    // The client may have gone; nothing to do then.
                    let _ = tx.send(answer);
                }
            }
        }
    }
}

/// One model call, caught if it panics: its requests then get a 500 and the worker goes on.
fn call<F>(forecast: &mut F, requests: &[&ValidRequest], metrics: &Metrics) -> Vec<Reply>
where
    F: FnMut(&[&ValidRequest]) -> Vec<Reply>,
{
    let series = requests.iter().map(|r| r.n_series()).sum();
    metrics.batch(series, requests.len());
    let replies = match std::panic::catch_unwind(AssertUnwindSafe(|| forecast(requests))) {
        Ok(replies) if replies.len() == requests.len() => replies,
        Ok(replies) => {
            let message = format!(
                "internal error: {} answers for {} requests",
                replies.len(),
                requests.len()
            );
            vec![Err(ApiError::internal(message)); requests.len()]
        }
        Err(panic) => {
            metrics.panic();
            let what = panic_message(panic.as_ref());
            tracing::error!("the model panicked: {what}");
            let e = ApiError::internal(format!(
                "the model failed on this batch ({what}); the server goes on: retry, and \
                 report it if it repeats"
            ));
            vec![Err(e); requests.len()]
        }
    };
    for reply in &replies {
        if matches!(reply, Err(e) if e.status.is_server_error()) {
            metrics.model_error();
        }
    }
    replies
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_string())
}

/// The first job and whatever else arrives within `max_wait`, up to `max_batch` series.
fn gather(first: Job, jobs: &Receiver<Job>, options: &BatchOptions) -> Vec<Job> {
    let mut series = first.request.n_series();
    let mut batch = vec![first];
    let deadline = Instant::now() + options.max_wait;
    while series < options.max_batch {
        let left = deadline.saturating_duration_since(Instant::now());
        let next = if left.is_zero() {
            jobs.try_recv()
                .map_err(|e| matches!(e, TryRecvError::Disconnected))
        } else {
            jobs.recv_timeout(left)
                .map_err(|e| matches!(e, RecvTimeoutError::Disconnected))
        };
        match next {
            Ok(job) => {
                series += job.request.n_series();
                batch.push(job);
            }
            Err(_) => break,
        }
    }
    batch
}

/// Indices of `requests` grouped into model calls: same batch key, no shared id, at most
/// `max_batch` series (a bigger request alone), in arrival order.
pub fn group_requests(requests: &[&ValidRequest], max_batch: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<(String, usize, std::collections::HashSet<&str>, Vec<usize>)> = Vec::new();
    for (k, r) in requests.iter().enumerate() {
        let key = r.batch_key();
        let n = r.n_series();
        let fits = out.iter_mut().find(|(gk, size, ids, _)| {
            *gk == key && size + n <= max_batch && r.ids.iter().all(|id| !ids.contains(id.as_str()))
        });
        match fits {
            Some((_, size, ids, members)) => {
                *size += n;
                ids.extend(r.ids.iter().map(String::as_str));
                members.push(k);
            }
            None => out.push((key, n, r.ids.iter().map(String::as_str).collect(), vec![k])),
        }
    }
    out.into_iter().map(|(_, _, _, members)| members).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ModelInfo;

    fn request(ids: &[&str], horizon: Option<usize>) -> ValidRequest {
        ValidRequest {
            covariates: Vec::new(),
            rows: Vec::new(),
            ids: ids.iter().map(|s| s.to_string()).collect(),
            horizon,
            quantiles: None,
            unit: None,
        }
    }

    #[test]
    fn groups_share_settings_never_an_id_and_stay_under_the_size() {
        let r = [
            request(&["a"], None),
            request(&["b", "c"], None),
            request(&["a"], None),
            request(&["d"], Some(6)),
            request(&["e", "f", "g"], None),
            request(&["h"], None),
        ];
        let refs: Vec<&ValidRequest> = r.iter().collect();
        assert_eq!(
            group_requests(&refs, 4),
            vec![vec![0, 1, 5], vec![2, 4], vec![3]]
        );
        assert_eq!(
            group_requests(&refs, 1),
            vec![vec![0], vec![1], vec![2], vec![3], vec![4], vec![5]]
        );
    }

    fn reply(ids: &[String]) -> ForecastReply {
        ForecastReply {
            model: ModelInfo {
                name: ids.join(","),
                version: None,
                source_run: None,
                family: "fake".into(),
            },
            unit: None,
            horizon: 1,
            quantile_levels: Vec::new(),
            hypo_threshold: None,
            forecasts: Vec::new(),
        }
    }

    /// Queued requests are answered together; a panicking call answers its requests with 500
    /// and the next batch is served as usual.
    #[test]
    fn queued_requests_share_a_call_and_a_panic_answers_500_and_goes_on() {
        let (tx, rx) = std::sync::mpsc::sync_channel(16);
        let mut answers = Vec::new();
        for ids in [["a"], ["b"], ["boom"], ["c"]] {
            let (reply, answer) = tokio::sync::oneshot::channel();
            tx.send(Job {
                request: request(&ids, if ids[0] == "boom" { Some(1) } else { None }),
                reply,
            })
            .unwrap();
            answers.push(answer);
        }
        drop(tx);
        let metrics = Metrics::default();
        let mut calls = Vec::new();
        let options = BatchOptions {
            max_batch: 8,
            max_wait: Duration::from_millis(50),
            queue: 16,
        };
        run(rx, options, &metrics, |requests| {
            let ids: Vec<String> = requests.iter().flat_map(|r| r.ids.clone()).collect();
            calls.push(ids.clone());
            if ids.contains(&"boom".to_string()) {
                panic!("boom in the model");
            }
            requests.iter().map(|r| Ok(reply(&r.ids))).collect()
        });
        assert_eq!(calls, vec![vec!["a", "b", "c"], vec!["boom"]]);
        let got: Vec<Reply> = answers
            .into_iter()
            .map(|a| a.blocking_recv().unwrap())
            .collect();
        assert_eq!(got[0].as_ref().unwrap().model.name, "a");
        assert_eq!(got[3].as_ref().unwrap().model.name, "c");
        let e = got[2].as_ref().unwrap_err();
        assert_eq!(e.status, 500);
        assert!(e.message.contains("boom in the model"), "{}", e.message);
        let text = metrics.render(true);
        assert!(text.contains("tsfm_panics_total 1"), "{text}");
        assert!(
            text.contains("tsfm_batch_series_bucket{le=\"2\"} 1"),
            "{text}"
        );
    }
}
