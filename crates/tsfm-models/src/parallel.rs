//! Row parallelism for inference: Burn's flex backend runs each op on one core, so a large
//! batch is split into contiguous row shards forecast on their own threads (every family whose
//! rows are independent; Chronos-2's groups and TimesFM's decode shard in their own modules).
//! Every parallel section of the process (these, and the trainer's batch shards) runs on one
//! pool of worker threads kept for the process's life ([`map_jobs`]).
use std::sync::OnceLock;

use burn::Tensor;
use rayon::prelude::*;

use crate::forecaster::{Forecast, ForecastInput};

/// Threads inference and training shards may use: `TSFM_NUM_THREADS` when set to a positive
/// number, else the machine's available parallelism.
pub fn available_threads() -> usize {
    std::env::var("TSFM_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Threads worth giving `work` (a call's multiply-adds, roughly): one per `min_per_thread` of
/// it, at least one, at most [`available_threads`]. Below that much work a thread's start-up
/// and the split cost more than they give.
pub fn threads_for(work: usize, min_per_thread: usize) -> usize {
    available_threads().min((work / min_per_thread.max(1)).max(1))
}

/// `(start, len)` of `shards` contiguous parts of `rows` rows (fewer when there are fewer
/// rows), sizes differing by at most one, larger ones first.
pub fn row_shards(rows: usize, shards: usize) -> Vec<(usize, usize)> {
    let count = shards.clamp(1, rows.max(1));
    let (base, extra) = (rows / count, rows % count);
    let mut start = 0;
    (0..count)
        .map(|s| {
            let len = base + usize::from(s < extra);
            let part = (start, len);
            start += len;
            part
        })
        .collect()
}

impl ForecastInput {
    /// Rows `start..start + len` of every batch-first field.
    pub fn rows(&self, start: usize, len: usize) -> ForecastInput {
        let cut = |t: &Tensor<3>| t.clone().narrow(0, start, len);
        ForecastInput {
            past_values: cut(&self.past_values),
            past_observed_mask: self.past_observed_mask.as_ref().map(cut),
            future_values: self.future_values.as_ref().map(cut),
            future_observed_mask: self.future_observed_mask.as_ref().map(cut),
            past_covariates: self.past_covariates.as_ref().map(cut),
            past_covariates_mask: self.past_covariates_mask.as_ref().map(cut),
            future_covariates: self.future_covariates.as_ref().map(cut),
            sampling_interval_s: self
                .sampling_interval_s
                .as_ref()
                .map(|s| s[start..start + len].to_vec()),
        }
    }
}

impl Forecast {
    /// Row shards' forecasts back in one, in order.
    pub fn concat_rows(parts: Vec<Forecast>) -> Forecast {
        let quantile_levels = parts
            .first()
            .map(|p| p.quantile_levels.clone())
            .unwrap_or_default();
        let has_quantiles = parts.iter().all(|p| p.quantiles.is_some()) && !parts.is_empty();
        let mut points = Vec::with_capacity(parts.len());
        let mut quantiles = Vec::with_capacity(parts.len());
        for part in parts {
            points.push(part.point);
            if let Some(q) = part.quantiles {
                quantiles.push(q);
            }
        }
        Forecast {
            point: Tensor::cat(points, 0),
            quantile_levels,
            quantiles: has_quantiles.then(|| Tensor::cat(quantiles, 0)),
        }
    }
}

/// The worker threads every parallel section of the process runs on: [`available_threads`]
/// of them, started on first use and kept. Threads started per call (as before) began each
/// call with empty allocator heaps, so every buffer of a shard came fresh from the kernel:
/// page faults and zeroing on every call.
fn pool() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(available_threads())
            .thread_name(|i| format!("tsfm-worker-{i}"))
            .build()
            .expect("the worker threads start")
    })
}

/// `run(job)` for every job on the worker threads, results in job order (which thread runs
/// which job is left to the pool: a job's result must not depend on it). A panic in a job
/// resumes on the caller.
pub fn map_jobs<J: Send, T: Send>(jobs: Vec<J>, run: impl Fn(J) -> T + Sync) -> Vec<T> {
    if jobs.len() <= 1 {
        return jobs.into_iter().map(run).collect();
    }
    let run = &run;
    pool().install(|| jobs.into_par_iter().map(run).collect())
}

/// `work(model, start, len)` for each shard of `shards` on the worker threads, each with its
/// own clone of `model`; results in shard order.
pub fn map_shards<M, T>(
    model: &M,
    shards: &[(usize, usize)],
    work: impl Fn(&M, usize, usize) -> T + Sync,
) -> Vec<T>
where
    M: Clone + Send,
    T: Send,
{
    // A model is `Send`, not necessarily `Sync`: each job owns its clone.
    let jobs: Vec<(M, usize, usize)> = shards
        .iter()
        .map(|&(start, len)| (model.clone(), start, len))
        .collect();
    map_jobs(jobs, |(model, start, len)| work(&model, start, len))
}

/// `forecast` of `input` on up to `threads` threads, one contiguous row shard each (the
/// calling thread takes the first); `forecast` must treat rows independently. One shard runs
/// directly.
pub fn forecast_rows<M, E>(
    model: &M,
    input: &ForecastInput,
    threads: usize,
    forecast: impl Fn(&M, &ForecastInput) -> Result<Forecast, E> + Sync,
) -> Result<Forecast, E>
where
    M: Clone + Send,
    E: Send,
{
    let rows = input.past_values.dims()[0];
    let shards = row_shards(rows, threads);
    if shards.len() <= 1 {
        return forecast(model, input);
    }
    let results = map_shards(model, &shards, |model, start, len| {
        forecast(model, &input.rows(start, len))
    });
    let parts = results.into_iter().collect::<Result<Vec<_>, E>>()?;
    Ok(Forecast::concat_rows(parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_shards_cover_the_rows_in_order() {
        assert_eq!(row_shards(7, 3), vec![(0, 3), (3, 2), (5, 2)]);
        assert_eq!(row_shards(2, 4), vec![(0, 1), (1, 1)]);
        assert_eq!(row_shards(5, 1), vec![(0, 5)]);
        assert_eq!(row_shards(0, 3), vec![(0, 0)]);
    }
}
