//! `TimesFM_2p5_200M_torch_module.decode`: one call on the context's patches (prefill), then
//! autoregressive steps that feed the median of the last output patch back as new input
//! patches, attending through a KV cache. Outputs are de-normalised with each patch's running
//! statistics, as the package returns them.

use burn::Tensor;
use burn::tensor::TensorData;

use super::attention::{AttentionContext, LayerCache};
use super::model::TimesFmModel;
use super::stats::{NormalisedPatches, RunningStats, denormalise, normalise_patches};
use crate::parallel::{map_jobs, threads_for};

/// Rows of equal length (a multiple of the input patch), `true` in `masked` where a reading is
/// padding or missing.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeInput {
    pub rows: usize,
    pub len: usize,
    pub values: Vec<f32>,
    pub masked: Vec<bool>,
}

/// What `decode` returns, on the host, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// `[rows, point_patches, output_patch_len, outputs]`: every input patch's point outputs
    /// when asked for, else only the last patch's (`point_patches` = 1).
    pub point: Vec<f32>,
    pub point_patches: usize,
    /// `[rows, output_quantile_len, outputs]`: the last patch's continuous quantile head.
    pub quantile_spread: Vec<f32>,
    /// `[rows, steps, output_patch_len, outputs]`: one output patch per autoregressive step.
    pub autoregressive: Vec<f32>,
    pub steps: usize,
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 tensor")
}

/// Work below which `decode` stays on the calling thread: rows x patches x model_dims^2 of one
/// call (about a sixth of one layer's multiply-adds), 2^23 = a few milliseconds of GEMM.
const MIN_SHARDED_WORK: usize = 1 << 23;

impl Decoded {
    /// The rows of `parts`, in order (all decoded with the same horizon and patch choice).
    fn concat(parts: Vec<Decoded>) -> Decoded {
        let (point_patches, steps) = (parts[0].point_patches, parts[0].steps);
        let mut out = Decoded {
            point: Vec::new(),
            point_patches,
            quantile_spread: Vec::new(),
            autoregressive: Vec::new(),
            steps,
        };
        for p in parts {
            out.point.extend(p.point);
            out.quantile_spread.extend(p.quantile_spread);
            out.autoregressive.extend(p.autoregressive);
        }
        out
    }
}

impl TimesFmModel {
    /// `decode(horizon, inputs, masks)`: `(horizon - 1) / output_patch_len` autoregressive steps
    /// after the prefill. `all_patches` keeps every input patch's point outputs (the package
    /// computes them; forecasting reads only the last).
    ///
    /// Rows are independent, so a large batch is split into contiguous shards decoded on
    /// `available_threads` threads (Burn's flex backend runs each op on one core); small calls
    /// stay on the calling thread.
    pub fn decode(&self, horizon: usize, input: &DecodeInput, all_patches: bool) -> Decoded {
        let d = &self.definition;
        let dims = d.stacked_transformers.transformer.model_dims;
        let work = input.rows * (input.len / d.input_patch_len).max(1) * dims * dims;
        let shards = threads_for(work, MIN_SHARDED_WORK);
        self.decode_sharded(horizon, input, all_patches, shards)
    }

    /// `decode` on (at most) `shards` threads, each on a contiguous run of rows.
    fn decode_sharded(
        &self,
        horizon: usize,
        input: &DecodeInput,
        all_patches: bool,
        shards: usize,
    ) -> Decoded {
        let shards = shards.min(input.rows);
        if shards <= 1 {
            return self.decode_shard(horizon, input, all_patches);
        }
        let per = input.rows.div_ceil(shards);
        let parts: Vec<DecodeInput> = (0..input.rows)
            .step_by(per)
            .map(|start| {
                let rows = per.min(input.rows - start);
                let span = start * input.len..(start + rows) * input.len;
                DecodeInput {
                    rows,
                    len: input.len,
                    values: input.values[span.clone()].to_vec(),
                    masked: input.masked[span].to_vec(),
                }
            })
            .collect();
        let decoded = map_jobs(parts, |part| self.decode_shard(horizon, &part, all_patches));
        Decoded::concat(decoded)
    }

    /// `decode` of one shard of rows on the calling thread.
    fn decode_shard(&self, horizon: usize, input: &DecodeInput, all_patches: bool) -> Decoded {
        let steps = (horizon.max(1) - 1) / self.definition.output_patch_len;
        let mut caches: Vec<Option<LayerCache>> = vec![None; self.stacked_xf.len()];
        let cache = (steps > 0).then_some(caches.as_mut_slice());
        let prefill = self.prefill(input, all_patches, cache);
        let autoregressive = self.autoregressive(&prefill, steps, &mut caches);
        Decoded {
            point: prefill.point,
            point_patches: prefill.kept,
            quantile_spread: prefill.quantile_spread,
            autoregressive,
            steps,
        }
    }

    /// `[rows, patches, p]` of host values as a tensor on the model's device.
    fn patch_tensor(&self, values: Vec<f32>, rows: usize, patches: usize) -> Tensor<3> {
        let p = self.definition.input_patch_len;
        Tensor::<3>::from_data(TensorData::new(values, [rows, patches, p]), &self.device())
    }

    /// The context's call: every patch normalised by its running statistics, the network
    /// (keys and values kept in `cache` when autoregressive steps follow), the heads
    /// de-normalised per patch.
    fn prefill(
        &self,
        input: &DecodeInput,
        all_patches: bool,
        cache: Option<&mut [Option<LayerCache>]>,
    ) -> Prefill {
        let d = &self.definition;
        let (p, o, os, q) = (
            d.input_patch_len,
            d.output_patch_len,
            d.output_quantile_len,
            d.num_outputs(),
        );
        let (b, n) = (input.rows, input.len / p);
        let rows: Vec<NormalisedPatches> = (0..b)
            .map(|r| {
                let span = r * input.len..(r + 1) * input.len;
                normalise_patches(
                    &input.values[span.clone()],
                    &input.masked[span],
                    p,
                    RunningStats::default(),
                )
            })
            .collect();
        let masked_patches: Vec<usize> = (0..b)
            .map(|r| {
                (0..n)
                    .filter(|i| input.masked[r * input.len + i * p + p - 1])
                    .count()
            })
            .collect();
        let mask: Vec<f32> = input
            .masked
            .iter()
            .map(|m| if *m { 1.0 } else { 0.0 })
            .collect();
        let normed = self.patch_tensor(
            rows.iter().flat_map(|r| r.values.iter().copied()).collect(),
            b,
            n,
        );
        let ctx = AttentionContext::new(&masked_patches, 0, n, d.head_dim(), &self.device());
        let kept = if all_patches { n } else { 1 };
        let out = self.forward_last(normed, self.patch_tensor(mask, b, n), &ctx, cache, kept);
        let embeddings = out.output_embeddings;
        let last = embeddings.clone().narrow(1, kept - 1, 1);
        let mut point = host(self.point_head(embeddings));
        for (r, row) in rows.iter().enumerate() {
            for k in 0..kept {
                let s = row.stats[n - kept + k];
                let at = (r * kept + k) * o * q;
                point[at..at + o * q]
                    .iter_mut()
                    .for_each(|v| *v = denormalise(*v, s.mu, s.sigma));
            }
        }
        let mut quantile_spread = host(self.quantile_head(last));
        for (r, row) in rows.iter().enumerate() {
            let s = row.stats[n - 1];
            quantile_spread[r * os * q..(r + 1) * os * q]
                .iter_mut()
                .for_each(|v| *v = denormalise(*v, s.mu, s.sigma));
        }
        Prefill {
            point,
            kept,
            quantile_spread,
            last_stats: rows.iter().map(|r| r.stats[n - 1]).collect(),
            masked_patches,
            patches: n,
        }
    }

    /// `steps` autoregressive calls: the median of the last output patch becomes `o / p` new
    /// input patches (normalised by the running statistics continued over them), attending
    /// through the cache. Returns `[rows, steps, o, q]`, de-normalised.
    fn autoregressive(
        &self,
        prefill: &Prefill,
        steps: usize,
        caches: &mut [Option<LayerCache>],
    ) -> Vec<f32> {
        let d = &self.definition;
        let (p, o, q, m) = (
            d.input_patch_len,
            d.output_patch_len,
            d.num_outputs(),
            d.patches_per_output(),
        );
        let b = prefill.last_stats.len();
        let median = |buf: &[f32], at: usize| -> Vec<f32> {
            (0..o).map(|t| buf[at + t * q + d.decode_index]).collect()
        };
        let kept = prefill.kept;
        let mut feed: Vec<Vec<f32>> = (0..b)
            .map(|r| median(&prefill.point, (r * kept + kept - 1) * o * q))
            .collect();
        let mut stats = prefill.last_stats.clone();
        let mut out = vec![0.0f32; b * steps * o * q];
        for step in 0..steps {
            let new: Vec<NormalisedPatches> = (0..b)
                .map(|r| normalise_patches(&feed[r], &vec![false; o], p, stats[r]))
                .collect();
            let normed = self.patch_tensor(
                new.iter().flat_map(|r| r.values.iter().copied()).collect(),
                b,
                m,
            );
            let cached = prefill.patches + step * m;
            let ctx = AttentionContext::new(
                &prefill.masked_patches,
                cached,
                m,
                d.head_dim(),
                &self.device(),
            );
            let net = self.forward_last(
                normed,
                self.patch_tensor(vec![0.0; b * o], b, m),
                &ctx,
                Some(caches),
                1,
            );
            let head = host(self.point_head(net.output_embeddings));
            for r in 0..b {
                let s = new[r].stats[m - 1];
                let at = (r * steps + step) * o * q;
                for (dst, v) in out[at..at + o * q]
                    .iter_mut()
                    .zip(&head[r * o * q..(r + 1) * o * q])
                {
                    *dst = denormalise(*v, s.mu, s.sigma);
                }
                stats[r] = s;
                feed[r] = median(&out, at);
            }
        }
        out
    }
}

/// What the context's call leaves for the autoregressive steps.
struct Prefill {
    /// `[rows, kept, o, q]`, de-normalised.
    point: Vec<f32>,
    kept: usize,
    /// `[rows, os, q]` of the last patch, de-normalised.
    quantile_spread: Vec<f32>,
    /// Each row's running statistics after its last context patch.
    last_stats: Vec<RunningStats>,
    masked_patches: Vec<usize>,
    patches: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::any::LoadOptions;
    use burn::tensor::Device;

    fn fixture() -> TimesFmModel {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/timesfm/model");
        TimesFmModel::from_pretrained_with(&dir, &Device::flex(), &LoadOptions::default())
            .unwrap()
            .0
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// The network at the last patches only returns the last rows of the whole network's
    /// output and caches the same keys and values, on a prefill and on a cached step.
    #[test]
    fn the_last_patches_alone_equal_the_whole_networks_last_rows() {
        let model = fixture();
        let d = &model.definition;
        let (b, n, m, p) = (3, 5, 2, d.input_patch_len);
        let layers = model.stacked_xf.len();
        let masked = [0, 2, 4];
        let patches = |count: usize, seed: usize| {
            let v: Vec<f32> = (0..b * count * p)
                .map(|i| (((i + seed) * 53 % 97) as f32 - 48.0) / 11.0)
                .collect();
            model.patch_tensor(v, b, count)
        };
        let mask = |count: usize| model.patch_tensor(vec![0.0; b * count * p], b, count);
        // More patches than there are means all of them.
        for (keep, kept) in [(1, 1), (3, 3), (n + 2, n)] {
            let (mut whole, mut last) = (vec![None; layers], vec![None; layers]);
            let ctx = AttentionContext::new(&masked, 0, n, d.head_dim(), &model.device());
            let full = model.forward(patches(n, 0), mask(n), &ctx, Some(&mut whole));
            let some = model.forward_last(patches(n, 0), mask(n), &ctx, Some(&mut last), keep);
            let full = values(full.output_embeddings);
            let row = full.len() / (b * n);
            assert_eq!(values(some.output_embeddings.clone()).len(), b * kept * row);
            for r in 0..b {
                assert_eq!(
                    values(some.output_embeddings.clone().narrow(0, r, 1)),
                    full[(r * n + n - kept) * row..(r + 1) * n * row],
                    "prefill, keep {keep}, row {r}"
                );
            }
            // A cached step after it: the same caches in, the same out.
            let ctx = AttentionContext::new(&masked, n, m, d.head_dim(), &model.device());
            let full = values(
                model
                    .forward(patches(m, 7), mask(m), &ctx, Some(&mut whole))
                    .output_embeddings,
            );
            let some = model.forward_last(patches(m, 7), mask(m), &ctx, Some(&mut last), 1);
            for r in 0..b {
                assert_eq!(
                    values(some.output_embeddings.clone().narrow(0, r, 1)),
                    full[(r * m + m - 1) * row..(r + 1) * m * row],
                    "cached step, row {r}"
                );
            }
            for (a, c) in whole.iter().zip(&last) {
                let (a, c) = (a.clone().unwrap(), c.clone().unwrap());
                assert_eq!(values(a.key), values(c.key));
                assert_eq!(values(a.value), values(c.value));
            }
        }
    }

    /// Sharded decoding (uneven shards, padded rows, autoregressive steps, every patch's
    /// outputs) returns what one thread does.
    #[test]
    fn sharded_decode_equals_the_single_thread_one() {
        let model = fixture();
        let (rows, len) = (7, 48);
        let p = model.definition.input_patch_len;
        let values: Vec<f32> = (0..rows * len)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0 + (i / len) as f32)
            .collect();
        // Row r has r patches of leading padding (capped), the rest observed.
        let masked: Vec<bool> = (0..rows * len)
            .map(|i| (i % len) < (i / len).min(len / p - 1) * p)
            .collect();
        let input = DecodeInput {
            rows,
            len,
            values,
            masked,
        };
        let horizon = 3 * model.definition.output_patch_len;
        let one = model.decode_sharded(horizon, &input, true, 1);
        assert!(one.steps > 0 && one.point_patches == len / p);
        for shards in [2, 3, 7, 9] {
            let many = model.decode_sharded(horizon, &input, true, shards);
            assert_eq!(many.steps, one.steps);
            assert_eq!(many.point_patches, one.point_patches);
            for (name, a, b) in [
                ("point", &many.point, &one.point),
                (
                    "quantile_spread",
                    &many.quantile_spread,
                    &one.quantile_spread,
                ),
                ("autoregressive", &many.autoregressive, &one.autoregressive),
            ] {
                assert_eq!(a.len(), b.len(), "{name}, {shards} shards");
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    assert!(
                        (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
                        "{name}[{i}] with {shards} shards: {x} vs {y}"
                    );
                }
            }
        }
    }
}
