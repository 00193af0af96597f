//! Data parallelism on one machine: a micro-batch split into shards, each shard's forward and
//! backward on its own thread, the gradients summed in shard order.
//!
//! Burn's flex backend runs every op on one core, and per-op threading gains nothing at these
//! models' shapes (BENCHMARKS.md); whole forward/backward passes in parallel do. Each shard gets
//! its own autodiff graph: the model's trainable parameters are re-leafed (same values, fresh
//! graph nodes), so the graphs never merge and their locks never meet. As in PyTorch's DDP,
//! each shard's mean loss is weighted by its share of the series. What a run computes depends
//! on the shard count and never on the thread count: shard `s` always gets the same series,
//! the same dropout stream (`seed_of(s)`) and the same place in the sum.
use burn::Tensor;
use burn::module::{Module, ModuleMapper, Param};
use tsfm_models::nn::with_dropout_stream;
use tsfm_models::parallel::{map_jobs, row_shards};
use tsfm_models::{ForecastInput, Forecaster, LossKind};

use crate::grads::GradStore;

/// The contiguous shards of `indices`: `shards` of them (fewer when there are fewer series),
/// sizes differing by at most one, larger ones first.
pub fn split(indices: &[usize], shards: usize) -> Vec<&[usize]> {
    row_shards(indices.len(), shards)
        .into_iter()
        .map(|(start, len)| &indices[start..start + len])
        .collect()
}

pub use tsfm_models::parallel::available_threads;

/// One shard's result: its loss value (unweighted) and its weighted gradients.
struct ShardOutput {
    loss: f64,
    grads: GradStore,
}

/// What one shard computes: its series, its dropout seed and its weight in the batch.
pub struct Shard {
    pub input: ForecastInput,
    pub series: usize,
    pub dropout_seed: u64,
}

/// Loss and gradients of a micro-batch given as its shards: returns the series-weighted mean
/// loss and the gradients of that loss / `divisor` (the accumulation steps), summed in shard
/// order; `Err(loss)` when a shard's loss is not finite.
pub fn loss_and_grads<F: Forecaster>(
    model: &F,
    shards: Vec<Shard>,
    kind: LossKind,
    divisor: usize,
    threads: usize,
) -> Result<(f64, GradStore), f64> {
    let total: usize = shards.iter().map(|s| s.series).sum();
    let weights: Vec<f64> = shards
        .iter()
        .map(|s| s.series as f64 / total.max(1) as f64)
        .collect();
    // Each shard's model is made here: a model is `Send`, not necessarily `Sync`.
    let jobs: Vec<(F, Shard, f64)> = shards
        .into_iter()
        .zip(&weights)
        .map(|(shard, &w)| (releaf(model.clone()), shard, w))
        .collect();
    let run = |(shard_model, shard, weight): (F, Shard, f64)| -> ShardOutput {
        let loss = with_dropout_stream(shard.dropout_seed, || shard_model.loss(&shard.input, kind));
        let value = loss.clone().into_scalar::<f32>() as f64;
        let mut grads = GradStore::new();
        if value.is_finite() {
            // One shard divides exactly as HF does (`loss / gradient_accumulation_steps`).
            let mut scaled = loss.div_scalar(divisor as f32);
            if weight != 1.0 {
                scaled = scaled.mul_scalar(weight as f32);
            }
            grads.accumulate(&shard_model, scaled.backward());
        }
        ShardOutput { loss: value, grads }
    };
    let outputs = run_shards(jobs, threads, &run);
    let mut loss = 0.0;
    let mut grads = GradStore::new();
    for (s, out) in outputs.into_iter().enumerate() {
        if !out.loss.is_finite() {
            return Err(out.loss);
        }
        loss += weights[s] * out.loss;
        grads.add(out.grads);
    }
    Ok((loss, grads))
}

/// `run(jobs[s])` for every job, results in job order: on the calling thread when `threads`
/// is 1, else on the worker threads (`tsfm_models::parallel`'s, kept across steps).
fn run_shards<J: Send, T: Send>(
    jobs: Vec<J>,
    threads: usize,
    run: &(impl Fn(J) -> T + Sync),
) -> Vec<T> {
    if threads <= 1 {
        return jobs.into_iter().map(run).collect();
    }
    map_jobs(jobs, run)
}

/// `module` with every trainable parameter a fresh autodiff leaf over the same values, so a
/// forward through it builds a graph of its own.
fn releaf<M: Module>(module: M) -> M {
    struct Releaf;
    impl ModuleMapper for Releaf {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (id, tensor, mapper) = param.consume();
            if !tensor.is_require_grad() {
                return Param::from_mapped_value(id, tensor, mapper);
            }
            let fresh = tensor.inner().autodiff().require_grad();
            Param::from_mapped_value(id, fresh, mapper)
        }
    }
    module.map(&mut Releaf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_contiguous_balanced_and_never_empty() {
        let idx: Vec<usize> = (10..17).collect();
        let parts = split(&idx, 3);
        assert_eq!(parts, vec![&[10, 11, 12][..], &[13, 14], &[15, 16]]);
        assert_eq!(split(&idx, 1), vec![&idx[..]]);
        assert_eq!(split(&idx[..2], 4), vec![&[10][..], &[11]]);
        assert_eq!(split(&idx, 0), vec![&idx[..]]);
    }
}
