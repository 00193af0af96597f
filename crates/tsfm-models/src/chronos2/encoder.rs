//! `Chronos2Encoder`: blocks of time self-attention (across a row's tokens, RoPE), group
//! self-attention (across the rows of a group at each token, no positions) and a ReLU
//! feed-forward, each pre-norm (T5's RMS norm) with a residual connection; then a final norm.
//! Field names are the package's attribute names, so HF tensor names follow from the paths
//! (`encoder.block.0.layer.1.self_attention.q.weight`).
//!
//! Burn's flex backend runs each op on one core, so an inference call on a large batch is
//! split into runs of whole groups (group attention mixes the rows of a group, nothing else
//! does) encoded on `available_threads` threads.

use std::collections::{HashMap, HashSet};

use burn::Tensor;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig};

use super::attention::{Mha, Rope, block_group_mask, group_mask, time_mask};
use super::config::Chronos2Config;
use crate::chronos_bolt::blocks::apply;
use crate::forecaster::ModelError;
use crate::nn::{Linear, VarBuilder, dropout};
use crate::parallel::{map_jobs, threads_for};
use crate::t5::Activation;
use crate::t5::layers::T5LayerNorm;

/// Work below which the encoder stays on the calling thread: rows x tokens x d_model^2 of one
/// call (about a tenth of one block's multiply-adds), 2^23 = a few milliseconds of GEMM.
const MIN_SHARDED_WORK: usize = 1 << 23;

/// `TimeSelfAttention`: `x + dropout(attn(norm(x)))` along the tokens of each row.
#[derive(Module, Debug)]
pub struct TimeSelfAttention {
    pub self_attention: Mha,
    pub layer_norm: T5LayerNorm,
    pub dropout: Dropout,
}

/// `GroupSelfAttention`: the same along the rows of the batch at each token, the group mask
/// keeping rows of different groups (and unobserved tokens) apart.
#[derive(Module, Debug)]
pub struct GroupSelfAttention {
    pub self_attention: Mha,
    pub layer_norm: T5LayerNorm,
    pub dropout: Dropout,
}

/// `MLP`: `wo(dropout(act(wi(x))))`, both without bias.
#[derive(Module, Debug)]
pub struct Mlp {
    pub wi: Linear,
    pub wo: Linear,
    pub dropout: Dropout,
    #[module(skip)]
    pub act: Activation,
}

/// `FeedForward`: `x + dropout(mlp(norm(x)))`.
#[derive(Module, Debug)]
pub struct FeedForward {
    pub mlp: Mlp,
    pub layer_norm: T5LayerNorm,
    pub dropout: Dropout,
}

/// `block.{i}.layer`: `layer.0` time attention, `layer.1` group attention, `layer.2`
/// feed-forward (`_n` fields stand for `nn.ModuleList` indices).
#[derive(Module, Debug)]
pub struct EncoderLayers {
    pub _0: TimeSelfAttention,
    pub _1: GroupSelfAttention,
    pub _2: FeedForward,
}

/// `Chronos2EncoderBlock`.
#[derive(Module, Debug)]
pub struct EncoderBlock {
    pub layer: EncoderLayers,
}

/// `Chronos2Encoder`.
#[derive(Module, Debug)]
pub struct Chronos2Encoder {
    pub block: Vec<EncoderBlock>,
    pub final_layer_norm: T5LayerNorm,
    pub dropout: Dropout,
    #[module(skip)]
    pub rope_theta: f64,
    #[module(skip)]
    pub d_kv: usize,
}

/// One block's hidden states after each sub-layer, and (when asked) its attention weights.
#[derive(Debug, Clone)]
pub struct BlockTrace {
    pub after_time_attention: Tensor<3>,
    pub after_group_attention: Tensor<3>,
    pub after_feed_forward: Tensor<3>,
    /// `[rows, heads, tokens, tokens]`.
    pub time_attention_weights: Option<Tensor<4>>,
    /// `[tokens, heads, rows, rows]`.
    pub group_attention_weights: Option<Tensor<4>>,
}

/// What the encoder computes.
#[derive(Debug, Clone)]
pub struct EncoderOutput {
    /// `[rows, tokens, d_model]` after the final norm; `[rows, n, d_model]`, each row's last
    /// `n` tokens, when [`Chronos2Encoder::forward`] was asked for those alone (`keep_last`).
    pub last_hidden_state: Tensor<3>,
    /// Every block's states and weights when asked for (`keep_weights`), else empty: keeping
    /// them would hold 3 x layers hidden states of the whole batch until the call ends.
    pub blocks: Vec<BlockTrace>,
}

/// Row indices `[0, .., rows]` cutting the batch into at most `shards` runs of whole groups,
/// each cut the allowed one nearest to an equal split. A cut before row `r` is allowed when
/// no group has rows on both sides (group ids need not be contiguous).
fn group_cuts(group_ids: &[i64], shards: usize) -> Vec<usize> {
    let rows = group_ids.len();
    let last: HashMap<i64, usize> = group_ids.iter().enumerate().map(|(r, g)| (*g, r)).collect();
    let (mut allowed, mut reach) = (Vec::new(), 0);
    for (r, g) in group_ids.iter().enumerate() {
        if r > 0 && reach < r {
            allowed.push(r);
        }
        reach = reach.max(last[g]);
    }
    let mut cuts = vec![0];
    for k in 1..shards {
        let target = k * rows / shards;
        let prev = *cuts.last().expect("starts with 0");
        if let Some(&c) = allowed
            .iter()
            .filter(|&&c| c > prev)
            .min_by_key(|&&c| c.abs_diff(target))
        {
            cuts.push(c);
        }
    }
    cuts.push(rows);
    cuts.dedup();
    cuts
}

fn norm(vb: &VarBuilder<'_>, cfg: &Chronos2Config) -> Result<T5LayerNorm, ModelError> {
    T5LayerNorm::load(
        &vb.pp("layer_norm"),
        cfg.core.d_model,
        cfg.core.layer_norm_epsilon,
    )
}

fn drop(cfg: &Chronos2Config) -> Dropout {
    DropoutConfig::new(cfg.core.dropout_rate).init()
}

impl TimeSelfAttention {
    fn load(vb: &VarBuilder<'_>, cfg: &Chronos2Config) -> Result<Self, ModelError> {
        Ok(Self {
            self_attention: Mha::load(&vb.pp("self_attention"), &cfg.core)?,
            layer_norm: norm(vb, cfg)?,
            dropout: drop(cfg),
        })
    }

    fn forward(&self, x: Tensor<3>, mask: Tensor<4>, rope: &Rope) -> (Tensor<3>, Tensor<4>) {
        let (h, w) =
            self.self_attention
                .forward(self.layer_norm.forward(x.clone()), mask, Some(rope));
        (x + dropout(&self.dropout, h), w)
    }

    /// The same at the last `keep` tokens only (inference): `[rows, keep, d]`.
    fn forward_last(&self, x: Tensor<3>, keep: usize, mask: Tensor<4>, rope: &Rope) -> Tensor<3> {
        let s = x.dims()[1];
        let h =
            self.self_attention
                .forward_last(self.layer_norm.forward(x.clone()), keep, mask, rope);
        x.narrow(1, s - keep, keep) + dropout(&self.dropout, h)
    }
}

impl GroupSelfAttention {
    fn load(vb: &VarBuilder<'_>, cfg: &Chronos2Config) -> Result<Self, ModelError> {
        Ok(Self {
            self_attention: Mha::load(&vb.pp("self_attention"), &cfg.core)?,
            layer_norm: norm(vb, cfg)?,
            dropout: drop(cfg),
        })
    }

    /// `x` is `[rows, tokens, d]`; attention runs over rows, so tokens become the batch.
    fn forward(&self, x: Tensor<3>, mask: Tensor<4>) -> (Tensor<3>, Tensor<4>) {
        let x = x.swap_dims(0, 1);
        let (h, w) = self
            .self_attention
            .forward(self.layer_norm.forward(x.clone()), mask, None);
        ((x + dropout(&self.dropout, h)).swap_dims(0, 1), w)
    }

    /// The same when the batch is consecutive runs of `g` rows, one group each: attention
    /// within each run (`mask` from [`block_group_mask`]) instead of over the whole batch
    /// with most keys hidden, which costs rows^2 per token (192 rows: 13x a run of 3's work).
    /// Observed tokens come out as from `forward` up to rounding (the hidden keys weigh 0).
    fn forward_blocks(&self, x: Tensor<3>, g: usize, mask: Tensor<4>) -> Tensor<3> {
        if g == 1 && !x.device().is_autodiff() {
            // Every row its own group (univariate forecasting): each token attends to itself.
            let h = self
                .self_attention
                .forward_single_key(self.layer_norm.forward(x.clone()));
            return x + dropout(&self.dropout, h);
        }
        let [rows, s, d] = x.dims();
        let runs = x.clone().swap_dims(0, 1).reshape([s * rows / g, g, d]);
        let (h, _) = self
            .self_attention
            .forward(self.layer_norm.forward(runs), mask, None);
        x + dropout(&self.dropout, h.reshape([s, rows, d]).swap_dims(0, 1))
    }
}

/// `g` when the rows are consecutive runs of `g` rows with one group id each, no id in two
/// runs (every row alone: 1; a target with its covariates: the group size).
fn equal_runs(group_ids: &[i64]) -> Option<usize> {
    let g = group_ids
        .iter()
        .take_while(|&&id| id == group_ids[0])
        .count();
    if g == 0 || !group_ids.len().is_multiple_of(g) {
        return None;
    }
    let mut seen = HashSet::new();
    group_ids
        .chunks(g)
        .all(|run| run.iter().all(|&id| id == run[0]) && seen.insert(run[0]))
        .then_some(g)
}

impl FeedForward {
    fn load(vb: &VarBuilder<'_>, cfg: &Chronos2Config) -> Result<Self, ModelError> {
        let (d, ff) = (cfg.core.d_model, cfg.core.d_ff);
        let mlp = vb.pp("mlp");
        Ok(Self {
            mlp: Mlp {
                wi: Linear::load_no_bias(&mlp.pp("wi"), d, ff)?,
                wo: Linear::load_no_bias(&mlp.pp("wo"), ff, d)?,
                dropout: drop(cfg),
                act: cfg.activation,
            },
            layer_norm: norm(vb, cfg)?,
            dropout: drop(cfg),
        })
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let h = self.layer_norm.forward(x.clone());
        let h = apply(self.mlp.act, self.mlp.wi.forward(h));
        let h = self.mlp.wo.forward(dropout(&self.mlp.dropout, h));
        x + dropout(&self.dropout, h)
    }
}

impl Chronos2Encoder {
    pub fn load(vb: &VarBuilder<'_>, cfg: &Chronos2Config) -> Result<Self, ModelError> {
        let block = (0..cfg.core.num_layers)
            .map(|i| {
                let layer = vb.pp("block").pp(i).pp("layer");
                Ok(EncoderBlock {
                    layer: EncoderLayers {
                        _0: TimeSelfAttention::load(&layer.pp(0), cfg)?,
                        _1: GroupSelfAttention::load(&layer.pp(1), cfg)?,
                        _2: FeedForward::load(&layer.pp(2), cfg)?,
                    },
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(Self {
            block,
            final_layer_norm: T5LayerNorm::load(
                &vb.pp("final_layer_norm"),
                cfg.core.d_model,
                cfg.core.layer_norm_epsilon,
            )?,
            dropout: drop(cfg),
            rope_theta: cfg.core.rope_theta,
            d_kv: cfg.core.d_kv,
        })
    }

    /// `Chronos2Encoder.forward`: `inputs_embeds` `[rows, tokens, d]`, `attention_mask`
    /// `[rows, tokens]` (1 = observed), `group_ids` one per row. Rotary positions are the
    /// token indices `0..tokens`. `keep_weights` also returns every block's states and
    /// attention weights (on one thread, so the group weights span the whole batch).
    ///
    /// Without them, and outside autodiff, a large batch is encoded in runs of whole groups on
    /// `available_threads` threads, and equal consecutive groups attend within their own rows.
    /// Tokens that are observed or in the future come out as with the whole batch; a token no
    /// row of its group observes attends uniformly to every row of its shard or group (the
    /// package's `finfo.min` mask: every row of the batch), which only its own state sees: time
    /// attention hides it from the other tokens and the heads read future tokens.
    ///
    /// `keep_last: Some(n)` asks for the states of each row's last `n` tokens only (the
    /// forecast heads read the future tokens alone). Outside autodiff and without
    /// `keep_weights`, the last block then computes its queries, group attention and
    /// feed-forward at those tokens only (the keys and values still at every token), and
    /// `last_hidden_state` is `[rows, n, d]`: the same rows as the whole encoding's last `n`.
    /// Otherwise every token is encoded and returned.
    pub fn forward(
        &self,
        inputs_embeds: Tensor<3>,
        attention_mask: Tensor<2>,
        group_ids: &[i64],
        keep_weights: bool,
        keep_last: Option<usize>,
    ) -> EncoderOutput {
        let [rows, s, d] = inputs_embeds.dims();
        let shards = if keep_weights || inputs_embeds.device().is_autodiff() {
            1
        } else {
            threads_for(rows * s * d * d, MIN_SHARDED_WORK)
        };
        self.forward_sharded(
            inputs_embeds,
            attention_mask,
            group_ids,
            keep_weights,
            shards,
            keep_last,
        )
    }

    /// `forward` on (at most) `shards` threads, each on a run of whole groups.
    fn forward_sharded(
        &self,
        inputs_embeds: Tensor<3>,
        attention_mask: Tensor<2>,
        group_ids: &[i64],
        keep_weights: bool,
        shards: usize,
        keep_last: Option<usize>,
    ) -> EncoderOutput {
        let s = inputs_embeds.dims()[1];
        let pruned = keep_last.filter(|&n| {
            !keep_weights && !inputs_embeds.device().is_autodiff() && (1..s).contains(&n)
        });
        let rope = Rope::new(s, self.d_kv, self.rope_theta, &inputs_embeds.device());
        let h = dropout(&self.dropout, inputs_embeds);
        let mut blocks = Vec::new();
        let cuts = group_cuts(group_ids, shards);
        let hidden = if cuts.len() <= 2 {
            let trace = keep_weights.then_some(&mut blocks);
            self.encode(h, attention_mask, group_ids, &rope, trace, pruned)
        } else {
            let run = |i: usize| {
                let (a, n) = (cuts[i], cuts[i + 1] - cuts[i]);
                let (h, mask) = (
                    h.clone().narrow(0, a, n),
                    attention_mask.clone().narrow(0, a, n),
                );
                self.encode(h, mask, &group_ids[a..a + n], &rope, None, pruned)
            };
            Tensor::cat(map_jobs((0..cuts.len() - 1).collect(), run), 0)
        };
        let last_hidden_state = dropout(&self.dropout, self.final_layer_norm.forward(hidden));
        EncoderOutput {
            last_hidden_state,
            blocks,
        }
    }

    /// The blocks on the calling thread (before the final norm); `trace` collects every
    /// block's states and attention weights. With `last: Some(n)` (untraced inference) the
    /// last block runs at the last `n` tokens only.
    fn encode(
        &self,
        mut h: Tensor<3>,
        attention_mask: Tensor<2>,
        group_ids: &[i64],
        rope: &Rope,
        mut trace: Option<&mut Vec<BlockTrace>>,
        last: Option<usize>,
    ) -> Tensor<3> {
        let time = time_mask(attention_mask.clone());
        debug_assert!(
            last.is_none() || trace.is_none(),
            "a traced encoding keeps every token"
        );
        // The last block at the last `n` tokens: only their states are read.
        let (full, last) = match last {
            Some(n) => (
                &self.block[..self.block.len() - 1],
                self.block.last().map(|b| (b, n)),
            ),
            None => (&self.block[..], None),
        };
        let last_mask = |n: usize| {
            let s = attention_mask.dims()[1];
            attention_mask.clone().narrow(1, s - n, n)
        };
        // Runs of whole groups attend within the run (not traced: the package's weights span
        // the batch).
        if let (None, Some(g)) = (&trace, equal_runs(group_ids)) {
            let group = block_group_mask(attention_mask.clone(), g);
            for block in full {
                let (after_time, _) = block.layer._0.forward(h, time.clone(), rope);
                let after_group = block.layer._1.forward_blocks(after_time, g, group.clone());
                h = block.layer._2.forward(after_group);
            }
            if let Some((block, n)) = last {
                let after_time = block.layer._0.forward_last(h, n, time, rope);
                let group = block_group_mask(last_mask(n), g);
                h = block
                    .layer
                    ._2
                    .forward(block.layer._1.forward_blocks(after_time, g, group));
            }
            return h;
        }
        let group = group_mask(group_ids, attention_mask.clone());
        for block in full {
            let (after_time, tw) = block.layer._0.forward(h, time.clone(), rope);
            let (after_group, gw) = block.layer._1.forward(after_time.clone(), group.clone());
            h = block.layer._2.forward(after_group.clone());
            if let Some(trace) = trace.as_deref_mut() {
                trace.push(BlockTrace {
                    after_time_attention: after_time,
                    after_group_attention: after_group,
                    after_feed_forward: h.clone(),
                    time_attention_weights: Some(tw),
                    group_attention_weights: Some(gw),
                });
            }
        }
        if let Some((block, n)) = last {
            let after_time = block.layer._0.forward_last(h, n, time, rope);
            let (after_group, _) = block
                .layer
                ._1
                .forward(after_time, group_mask(group_ids, last_mask(n)));
            h = block.layer._2.forward(after_group);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use burn::Tensor;
    use burn::tensor::{Device, TensorData};

    use super::group_cuts;
    use crate::chronos2::Chronos2Model;

    /// `n` values in [-0.5, 0.5) from a linear congruential stream continued from `state`.
    fn uniform(state: &mut u32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (*state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// The test fixture's model (d_model 24, 2 blocks).
    fn fixture_model(device: &Device) -> Chronos2Model {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/chronos2/model");
        Chronos2Model::from_pretrained(&dir, device).unwrap().0
    }

    #[test]
    fn sharded_encoding_equals_the_single_thread_one() {
        let device = Device::flex();
        let encoder = fixture_model(&device).encoder;
        let (rows, tokens, d) = (9, 6, 24);
        // Groups of 1, 2 and 3 rows; ids need not be contiguous (group 0: rows 0 and 2), so
        // the batch may be cut before rows 3, 4, 7 and 8 only.
        let groups = [0i64, 1, 0, 2, 3, 3, 3, 4, 5];
        // Missing tokens: row 0 at token 0 (row 2 of its group observes it); row 3 (alone)
        // and rows 4..7 (group 3) at tokens 0 and 1: nobody in their group observes those.
        let mut mask = vec![1f32; rows * tokens];
        mask[0] = 0.0;
        for r in 3..7 {
            mask[r * tokens] = 0.0;
            mask[r * tokens + 1] = 0.0;
        }
        let mut state = 12345u32;
        let embeds = uniform(&mut state, rows * tokens * d);
        let run = |shards| {
            let embeds =
                Tensor::<3>::from_data(TensorData::new(embeds.clone(), [rows, tokens, d]), &device);
            let mask =
                Tensor::<2>::from_data(TensorData::new(mask.clone(), [rows, tokens]), &device);
            let out = encoder.forward_sharded(embeds, mask, &groups, false, shards, None);
            out.last_hidden_state
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        let one = run(1);
        // A token nobody in the row's group observes averages every row of its shard (the
        // package's finfo.min mask); nothing else reads it, so it is left out.
        let unseen = |r: usize, t: usize| (3..7).contains(&r) && t < 2;
        for shards in [2, 3, 5, 9] {
            let many = run(shards);
            for r in 0..rows {
                for t in (0..tokens).filter(|&t| !unseen(r, t)) {
                    let at = (r * tokens + t) * d;
                    assert_eq!(
                        many[at..at + d],
                        one[at..at + d],
                        "{shards} shards, row {r}, token {t}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_last_tokens_alone_equal_the_whole_encodings_last_tokens() {
        let device = Device::flex();
        let encoder = fixture_model(&device).encoder;
        let (tokens, d) = (7, 24);
        let mut state = 4242u32;
        // Every row alone, equal runs of 3, and uneven groups (the general group mask).
        for groups in [
            (0..5).collect::<Vec<i64>>(),
            vec![0, 0, 0, 1, 1, 1],
            vec![0, 1, 0, 2, 2, 3, 3, 3],
        ] {
            let rows = groups.len();
            // Row 1 misses tokens 0 and 2, the last row token 1.
            let mut mask = vec![1f32; rows * tokens];
            mask[tokens] = 0.0;
            mask[tokens + 2] = 0.0;
            mask[(rows - 1) * tokens + 1] = 0.0;
            let embeds = uniform(&mut state, rows * tokens * d);
            let run = |shards, keep_last| {
                let embeds = Tensor::<3>::from_data(
                    TensorData::new(embeds.clone(), [rows, tokens, d]),
                    &device,
                );
                let mask =
                    Tensor::<2>::from_data(TensorData::new(mask.clone(), [rows, tokens]), &device);
                let out = encoder.forward_sharded(embeds, mask, &groups, false, shards, keep_last);
                let dims = out.last_hidden_state.dims();
                let values = out
                    .last_hidden_state
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap();
                (dims, values)
            };
            for (n, shards) in [(1, 1), (3, 1), (3, 2), (6, 3)] {
                // Against the whole encoding on the same shards (a token nobody of its group
                // observes depends on the shard, see `sharded_encoding_equals_...`).
                let (dims, whole) = run(shards, None);
                assert_eq!(dims, [rows, tokens, d]);
                let (dims, last) = run(shards, Some(n));
                assert_eq!(dims, [rows, n, d], "{groups:?}, last {n}");
                for r in 0..rows {
                    let want = &whole[(r * tokens + tokens - n) * d..(r + 1) * tokens * d];
                    let got = &last[r * n * d..(r + 1) * n * d];
                    assert_eq!(got, want, "{groups:?}, last {n}, {shards} shards, row {r}");
                }
            }
            // Asking for every token encodes every token.
            assert_eq!(run(1, Some(tokens)), run(1, None));
        }
    }

    #[test]
    fn attention_within_runs_of_groups_equals_the_whole_batch_one() {
        let device = Device::flex();
        let encoder = fixture_model(&device).encoder;
        let (tokens, d) = (5, 24);
        let mut state = 777u32;
        for (groups, g) in [
            (vec![0i64, 0, 0, 1, 1, 1, 2, 2, 2], 3),
            ((0..7).collect(), 1),
        ] {
            let rows = groups.len();
            assert_eq!(super::equal_runs(&groups), Some(g));
            // Row 1 misses token 0 (rows 0 and 2 of its group observe it).
            let mut mask = vec![1f32; rows * tokens];
            mask[tokens] = 0.0;
            let embeds = uniform(&mut state, rows * tokens * d);
            let run = |trace| {
                let embeds = Tensor::<3>::from_data(
                    TensorData::new(embeds.clone(), [rows, tokens, d]),
                    &device,
                );
                let mask =
                    Tensor::<2>::from_data(TensorData::new(mask.clone(), [rows, tokens]), &device);
                let out = encoder.forward_sharded(embeds, mask, &groups, trace, 1, None);
                out.last_hidden_state
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap()
            };
            let (whole, runs) = (run(true), run(false));
            for (i, (w, r)) in whole.iter().zip(&runs).enumerate() {
                // Row 1 token 0 of the single-row groups: nobody of its group observes it.
                if g == 1 && i / d == tokens {
                    continue;
                }
                assert!(
                    (w - r).abs() <= 1e-5 * w.abs().max(1.0),
                    "{groups:?} at {i}: {w} vs {r}"
                );
            }
        }
    }

    #[test]
    fn a_single_key_gets_weight_one_whatever_its_mask() {
        use super::super::attention::HIDDEN;
        let device = Device::flex();
        let encoder = fixture_model(&device).encoder;
        let mha = &encoder.block[1].layer._1.self_attention;
        let (n, d) = (6, 24);
        let x: Vec<f32> = (0..n * d)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 9.0)
            .collect();
        let x = Tensor::<3>::from_data(TensorData::new(x, [n, 1, d]), &device);
        // Half the queries see their key, half have it hidden (a token the row misses).
        let mask: Vec<f32> = (0..n)
            .map(|i| if i % 2 == 0 { 0.0 } else { HIDDEN })
            .collect();
        let mask = Tensor::<4>::from_data(TensorData::new(mask, [n, 1, 1, 1]), &device);
        let (attended, _) = mha.forward(x.clone(), mask, None);
        let vals = |t: Tensor<3>| t.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(vals(mha.forward_single_key(x)), vals(attended));
    }

    #[test]
    fn equal_runs_need_consecutive_groups_of_one_size() {
        use super::equal_runs;
        assert_eq!(equal_runs(&[4, 4, 9, 9]), Some(2));
        assert_eq!(equal_runs(&[0, 0, 1]), None);
        assert_eq!(equal_runs(&[0, 0, 1, 2]), None);
        assert_eq!(equal_runs(&[0, 0, 1, 1, 0, 0]), None);
    }

    #[test]
    fn cuts_fall_between_whole_groups_nearest_to_equal_runs() {
        // Groups of 3: an equal split of 12 rows in 2 is row 6, a group boundary.
        assert_eq!(
            group_cuts(&[0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3], 2),
            [0, 6, 12]
        );
        // Row 6 is inside group 1 (rows 5..8): the nearest boundary is row 5, not 8.
        assert_eq!(
            group_cuts(&[0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2], 2),
            [0, 5, 12]
        );
        // Group 0 has rows 0 and 3 (ids need not be contiguous): no cut before row 4.
        assert_eq!(group_cuts(&[0, 1, 2, 0, 4, 5], 3), [0, 4, 5, 6]);
        // One group: no cut; more shards than rows: every row.
        assert_eq!(group_cuts(&[7, 7, 7], 2), [0, 3]);
        assert_eq!(group_cuts(&[0, 1, 2], 8), [0, 1, 2, 3]);
    }
}
