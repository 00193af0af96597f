//! Autoregressive decoding, as `ChronosPipeline.predict` runs it: encode the tokenised
//! context once, decode `prediction_length` tokens per window with a self-attention KV cache,
//! turn tokens into values, and for longer horizons append the median path to the context
//! and decode the next window.
//!
//! Memory: the encoder output is never copied per sample (cross-attention keys/values are
//! computed once per series and shared by its samples), and series are decoded in chunks
//! whose working set stays under [`CHUNK_BUDGET_BYTES`].

use burn::Tensor;
use burn::tensor::{Int, TensorData};

use super::model::ChronosModel;
use super::quantiles::lower_median;
use super::sampling::{PathRng, SampleScratch, argmax, sample};
use crate::forecaster::{Decoding, SamplingOptions};
use crate::t5::DecoderCache;

/// Working memory one chunk of series may use while decoding (activations, caches, logits).
pub const CHUNK_BUDGET_BYTES: usize = 256 << 20;

/// Sample paths in the data's units, `[rows, samples, horizon]` row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Paths {
    pub rows: usize,
    pub samples: usize,
    pub horizon: usize,
    pub values: Vec<f32>,
    /// The token behind each value, same layout.
    pub tokens: Vec<i64>,
}

impl Paths {
    /// Row shards' paths back in one, in order.
    fn concat_rows(parts: Vec<Paths>) -> Paths {
        let (samples, horizon) = (parts[0].samples, parts[0].horizon);
        let mut all = Paths {
            rows: 0,
            samples,
            horizon,
            values: Vec::new(),
            tokens: Vec::new(),
        };
        for part in parts {
            all.rows += part.rows;
            all.values.extend(part.values);
            all.tokens.extend(part.tokens);
        }
        all
    }

    /// The `samples` values of series `row` at step `h`.
    pub fn at(&self, row: usize, h: usize) -> Vec<f32> {
        (0..self.samples)
            .map(|s| self.values[(row * self.samples + s) * self.horizon + h])
            .collect()
    }
}

/// How the next token is chosen, with the random stream of every path.
enum Picker<'a> {
    Greedy,
    Sample {
        options: &'a SamplingOptions,
        rngs: Vec<PathRng>,
    },
}

impl Picker<'_> {
    fn samples(&self) -> usize {
        match self {
            Picker::Greedy => 1,
            Picker::Sample { options, .. } => options.num_samples,
        }
    }
}

impl ChronosModel {
    /// `ChronosPipeline.predict` for univariate `series` (NaN = missing, all the same length):
    /// `horizon` steps of every path, rolled out past `prediction_length` by appending the
    /// (lower) median of the samples to the context. Options are checked by the caller.
    ///
    /// Every series decodes on its own (its own paths' random streams, its own rollout), so
    /// a batch worth it is split into contiguous row shards decoded on their own threads:
    /// the same paths as one thread, bit for bit.
    pub fn predict_paths(&self, series: &[Vec<f32>], horizon: usize, decoding: &Decoding) -> Paths {
        let threads = self.decode_threads(series, horizon, decoding);
        self.predict_paths_on(series, horizon, decoding, threads)
    }

    /// [`Self::predict_paths`] on up to `threads` threads, one contiguous row shard each (the
    /// calling thread takes the first).
    pub fn predict_paths_on(
        &self,
        series: &[Vec<f32>],
        horizon: usize,
        decoding: &Decoding,
        threads: usize,
    ) -> Paths {
        let shards = crate::parallel::row_shards(series.len(), threads);
        if shards.len() <= 1 {
            return self.predict_rows(series, 0, horizon, decoding);
        }
        let parts = crate::parallel::map_shards(self, &shards, |model, start, len| {
            model.predict_rows(&series[start..start + len], start, horizon, decoding)
        });
        Paths::concat_rows(parts)
    }

    /// Threads worth decoding `series`: a path's step costs about the decoder's weights in
    /// multiply-adds and every path of a series decodes `horizon` steps. Never on an autodiff
    /// device (training graphs stay on the caller's thread).
    fn decode_threads(&self, series: &[Vec<f32>], horizon: usize, decoding: &Decoding) -> usize {
        const MIN_WORK_PER_THREAD: usize = 1 << 26;
        if self.shared.weight.device().is_autodiff() {
            return 1;
        }
        let t5 = &self.config.t5;
        let samples = match decoding {
            Decoding::Greedy => 1,
            Decoding::Sample(options) => options.num_samples,
        };
        let per_step = t5.decoder_layers() * (4 * t5.inner_dim() + 2 * t5.d_ff) * t5.d_model
            + t5.d_model * t5.vocab_size;
        let work = series.len() * samples * horizon.max(1) * per_step;
        crate::parallel::threads_for(work, MIN_WORK_PER_THREAD)
    }

    /// [`Self::predict_paths`] on one thread for `series`, rows `first..` of the whole batch
    /// (which fixes their paths' random streams).
    fn predict_rows(
        &self,
        series: &[Vec<f32>],
        first: usize,
        horizon: usize,
        decoding: &Decoding,
    ) -> Paths {
        let rows = series.len();
        let mut picker = match decoding {
            Decoding::Greedy => Picker::Greedy,
            Decoding::Sample(options) => Picker::Sample {
                options,
                rngs: (first..first + rows)
                    .flat_map(|r| {
                        (0..options.num_samples)
                            .map(move |s| PathRng::new(options.seed, r as u64, s as u64))
                    })
                    .collect(),
            },
        };
        let samples = picker.samples();
        let mut contexts = series.to_vec();
        let mut values = vec![0f32; rows * samples * horizon];
        let mut tokens = vec![0i64; rows * samples * horizon];
        let mut done = 0;
        while done < horizon {
            let steps = (horizon - done).min(self.config.chronos.prediction_length);
            let (window, window_tokens) = self.decode_window(&contexts, steps, &mut picker);
            for path in 0..rows * samples {
                let (dst, src) = (path * horizon + done, path * steps);
                values[dst..dst + steps].copy_from_slice(&window[src..src + steps]);
                tokens[dst..dst + steps].copy_from_slice(&window_tokens[src..src + steps]);
            }
            done += steps;
            if done < horizon {
                for (row, context) in contexts.iter_mut().enumerate() {
                    for h in 0..steps {
                        let mut at: Vec<f32> = (0..samples)
                            .map(|s| window[(row * samples + s) * steps + h])
                            .collect();
                        at.sort_by(f32::total_cmp);
                        context.push(lower_median(&at));
                    }
                }
            }
        }
        Paths {
            rows,
            samples,
            horizon,
            values,
            tokens,
        }
    }

    /// One window of at most `prediction_length` steps for every series: values and tokens
    /// `[rows, samples, steps]`.
    fn decode_window(
        &self,
        contexts: &[Vec<f32>],
        steps: usize,
        picker: &mut Picker<'_>,
    ) -> (Vec<f32>, Vec<i64>) {
        let samples = picker.samples();
        let chunk = self.chunk_rows(contexts[0].len(), samples, steps);
        let mut values = Vec::with_capacity(contexts.len() * samples * steps);
        let mut tokens = Vec::with_capacity(contexts.len() * samples * steps);
        for (c, group) in contexts.chunks(chunk).enumerate() {
            let (v, t) = self.decode_chunk(group, c * chunk, steps, picker);
            values.extend(v);
            tokens.extend(t);
        }
        (values, tokens)
    }

    /// Decodes the series `group` (rows `first..` of the batch) with their samples together.
    fn decode_chunk(
        &self,
        group: &[Vec<f32>],
        first: usize,
        steps: usize,
        picker: &mut Picker<'_>,
    ) -> (Vec<f32>, Vec<i64>) {
        let lm = self.lm();
        let device = self.shared.weight.device();
        let samples = picker.samples();
        let batch = self.tokenize_contexts(group);
        let (ids, mask) = batch.tensors(&device);
        let memory = self
            .decoder
            .decoding_memory(lm.encode(ids, mask.clone()), mask);

        let paths = group.len() * samples;
        let vocab = self.config.t5.vocab_size;
        let eos = self.config.chronos.eos_token_id;
        let mut tokens = vec![self.config.t5.decoder_start_token_id() as i64; paths];
        let mut values = vec![0f32; paths * steps];
        let mut chosen = vec![0i64; paths * steps];
        let mut cache = DecoderCache::with_capacity(steps);
        let mut scratch = SampleScratch::default();
        for step in 0..steps {
            let ids =
                Tensor::<1, Int>::from_data(TensorData::new(tokens.clone(), [paths]), &device);
            let mut logits = lm
                .step(ids, &memory, &mut cache)
                .into_data()
                .try_into_vec::<f32>()
                .expect("f32 logits");
            for (path, row_logits) in logits.chunks_exact_mut(vocab).enumerate() {
                // `min_new_tokens = max_new_tokens`: EOS may never end a path early.
                row_logits[eos] = f32::NEG_INFINITY;
                let token = match picker {
                    Picker::Greedy => argmax(row_logits),
                    Picker::Sample { options, rngs } => {
                        let rng = &mut rngs[first * samples + path];
                        sample(row_logits, options, rng, &mut scratch)
                    }
                };
                tokens[path] = token as i64;
                chosen[path * steps + step] = token as i64;
                let scale = batch.scale[path / samples];
                values[path * steps + step] = self.tokenizer.output_transform(token as i64, scale);
            }
        }
        (values, chosen)
    }

    /// How many series to decode at once so that a chunk's encoder activations, cross- and
    /// self-attention caches and logits stay within [`CHUNK_BUDGET_BYTES`].
    fn chunk_rows(&self, context_len: usize, samples: usize, steps: usize) -> usize {
        let t5 = &self.config.t5;
        let tokens = context_len.min(self.config.chronos.context_length) + 1;
        let inner = t5.inner_dim();
        let floats = t5.decoder_layers() * 2 * tokens * inner // cross-attention keys/values
            + t5.decoder_layers() * 2 * samples * steps * inner // self-attention cache
            + 3 * t5.num_heads * tokens * tokens // encoder scores, bias, weights
            + tokens * (t5.d_ff + 4 * inner + 4 * t5.d_model) // encoder activations
            + samples * (t5.vocab_size + t5.num_heads * tokens + t5.d_ff + 4 * inner); // a step
        (CHUNK_BUDGET_BYTES / (4 * floats)).max(1)
    }
}
