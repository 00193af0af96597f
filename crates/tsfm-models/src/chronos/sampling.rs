//! Choosing the next token from the logits, as HF `generate` does for Chronos: EOS is
//! forbidden (the pipeline sets `min_new_tokens = max_new_tokens`), then greedy takes the
//! first maximum, or sampling applies temperature, top-k and top-p in that order and draws
//! from the softmax of what is left.
//!
//! Draws cannot equal PyTorch's bit for bit (its generator is not ours), so each sample path
//! has its own seeded stream: the same seed gives the same paths, whatever the batch is
//! split into.

use crate::forecaster::{ModelError, SamplingOptions};

/// xoshiro256** (Blackman and Vigna 2018) seeded through SplitMix64.
#[derive(Debug, Clone)]
pub struct PathRng {
    s: [u64; 4],
}

fn split_mix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl PathRng {
    /// The stream of sample path `sample` of series `row` under `seed`.
    pub fn new(seed: u64, row: u64, sample: u64) -> Self {
        let mut state = seed;
        // Mix the path's coordinates in one at a time so nearby paths are unrelated.
        for part in [row, sample] {
            state = split_mix64(&mut state) ^ part;
        }
        let mut s = [0u64; 4];
        for v in &mut s {
            *v = split_mix64(&mut state);
        }
        Self { s }
    }

    fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Checks sampling options before a forecast (HF raises on the same values).
pub fn check_sampling(options: &SamplingOptions) -> Result<(), ModelError> {
    if options.num_samples == 0 {
        return Err(ModelError::Invalid(
            "sampling needs at least 1 sample path (num_samples)".into(),
        ));
    }
    if !(options.temperature > 0.0 && options.temperature.is_finite()) {
        return Err(ModelError::Invalid(format!(
            "temperature {} must be a positive number (use greedy decoding for a deterministic path)",
            options.temperature
        )));
    }
    if !(options.top_p > 0.0 && options.top_p <= 1.0) {
        return Err(ModelError::Invalid(format!(
            "top_p {} must be in (0, 1]",
            options.top_p
        )));
    }
    Ok(())
}

/// The index of the first maximum (`torch.argmax`).
pub fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best
}

/// `f32::total_cmp`'s order as integers: `a.total_cmp(&b) == key(a).cmp(&key(b))`.
fn order_key(x: f32) -> i32 {
    let bits = x.to_bits() as i32;
    bits ^ (((bits >> 31) as u32) >> 1) as i32
}

fn from_order_key(key: i32) -> f32 {
    f32::from_bits((key ^ (((key >> 31) as u32) >> 1) as i32) as u32)
}

/// How many columns [`kth_largest`] folds the scores into (at least `k`).
const COLUMNS: usize = 256;

/// The `k`-th largest of `scores` (`1 <= k <= scores.len()`), ties counted: the `k`-th
/// element of the scores sorted in descending order (by `total_cmp`). `keys` and `maxima` are
/// scratch space.
///
/// The scores are laid out as rows of `C >= k` columns; the `k`-th largest of the column
/// maxima is a lower bound of the answer (those `k` maxima are `k` distinct scores), so only
/// the scores at or above it are selected from. A Chronos vocabulary's logits rise and fall
/// smoothly along the token ids (its bins are ordered by value), so the column maxima are the
/// `C` scores around the mode and few scores pass the bound; a selection over all 4,096
/// (score, token) pairs was 5 % of Chronos-T5 sampling.
fn kth_largest(
    scores: impl Iterator<Item = f32>,
    k: usize,
    keys: &mut Vec<i32>,
    maxima: &mut Vec<i32>,
) -> f32 {
    keys.clear();
    keys.extend(scores.map(order_key));
    let columns = COLUMNS.max(k).min(keys.len());
    maxima.clear();
    maxima.extend_from_slice(&keys[..columns]);
    for row in keys[columns..].chunks(columns) {
        for (m, &v) in maxima.iter_mut().zip(row) {
            *m = (*m).max(v);
        }
    }
    let bound = *maxima.select_nth_unstable_by(k - 1, |a, b| b.cmp(a)).1;
    keys.retain(|&v| v >= bound);
    from_order_key(*keys.select_nth_unstable_by(k - 1, |a, b| b.cmp(a)).1)
}

/// Scratch space of [`sample`], reused between calls so that no token allocates.
#[derive(Debug, Default)]
pub struct SampleScratch {
    kept: Vec<(f32, usize)>,
    keys: Vec<i32>,
    maxima: Vec<i32>,
}

/// Draws one token from `logits` (one row; forbidden tokens already `-inf`) with HF's
/// `TemperatureLogitsWarper`, `TopKLogitsWarper` and `TopPLogitsWarper`, in that order.
/// The tokens left are drawn from in vocabulary order, so a path depends only on its seed.
pub fn sample(
    logits: &[f32],
    options: &SamplingOptions,
    rng: &mut PathRng,
    scratch: &mut SampleScratch,
) -> usize {
    let temperature = options.temperature;
    let score = |l: f32| {
        if temperature == 1.0 {
            l
        } else {
            l / temperature
        }
    };
    // Top-k keeps every score >= the k-th largest (ties at the threshold survive).
    let k = options.top_k.min(logits.len());
    let threshold = if k > 0 && k < logits.len() {
        kth_largest(
            logits.iter().map(|&l| score(l)),
            k,
            &mut scratch.keys,
            &mut scratch.maxima,
        )
    } else {
        f32::NEG_INFINITY
    };
    let scratch = &mut scratch.kept;
    scratch.clear();
    scratch.extend(
        logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (score(l), i))
            .filter(|&(s, _)| s >= threshold),
    );
    scratch.retain(|&(s, _)| s > f32::NEG_INFINITY);
    if scratch.is_empty() {
        // Every token forbidden: nothing left to draw from (cannot happen with a vocabulary
        // larger than the special tokens); fall back to the first maximum like greedy.
        return argmax(logits);
    }
    let max = scratch
        .iter()
        .map(|p| p.0)
        .fold(f32::NEG_INFINITY, f32::max);
    let mut probs: Vec<f64> = scratch
        .iter()
        .map(|&(s, _)| f64::from(s - max).exp())
        .collect();
    if options.top_p < 1.0 {
        // Top-p: sorted ascending, drop the tokens whose cumulative probability stays
        // <= 1 - top_p; the most likely token always stays.
        let total: f64 = probs.iter().sum();
        let mut order: Vec<usize> = (0..scratch.len()).collect();
        order.sort_by(|&a, &b| scratch[a].0.total_cmp(&scratch[b].0));
        let mut cumulative = 0.0;
        let last = order.len() - 1;
        for (rank, &i) in order.iter().enumerate() {
            cumulative += probs[i] / total;
            if rank < last && cumulative <= 1.0 - f64::from(options.top_p) {
                probs[i] = 0.0;
            }
        }
    }
    let total: f64 = probs.iter().sum();
    let target = rng.uniform() * total;
    let mut acc = 0.0;
    for (p, &(_, token)) in probs.iter().zip(scratch.iter()) {
        acc += p;
        if target < acc {
            return token;
        }
    }
    // Rounding left the target at the very end: the last token with mass.
    let i = probs.iter().rposition(|&p| p > 0.0).unwrap_or(0);
    scratch[i].1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(top_k: usize, top_p: f32, temperature: f32) -> SamplingOptions {
        SamplingOptions {
            num_samples: 1,
            temperature,
            top_k,
            top_p,
            seed: 0,
        }
    }

    fn frequencies(logits: &[f32], o: &SamplingOptions, n: usize) -> Vec<f64> {
        let mut rng = PathRng::new(42, 0, 0);
        let mut scratch = SampleScratch::default();
        let mut counts = vec![0usize; logits.len()];
        for _ in 0..n {
            counts[sample(logits, o, &mut rng, &mut scratch)] += 1;
        }
        counts.iter().map(|&c| c as f64 / n as f64).collect()
    }

    #[test]
    fn sampling_follows_the_softmax_and_the_filters() {
        // Probabilities 0.1, 0.2, 0.3, 0.4 (logits = ln p); EOS-like token forbidden.
        let logits: Vec<f32> = [0.1f32, 0.2, 0.3, 0.4, 0.0]
            .iter()
            .map(|p| if *p == 0.0 { f32::NEG_INFINITY } else { p.ln() })
            .collect();
        let n = 200_000;
        // Binomial sd at n = 200k is at most 0.0012; allow 5 sd.
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 0.006);
        let f = frequencies(&logits, &opts(0, 1.0, 1.0), n);
        assert!(close(&f, &[0.1, 0.2, 0.3, 0.4, 0.0]), "{f:?}");
        // Top-2 renormalises 0.3 and 0.4.
        let f = frequencies(&logits, &opts(2, 1.0, 1.0), n);
        assert!(close(&f, &[0.0, 0.0, 3.0 / 7.0, 4.0 / 7.0, 0.0]), "{f:?}");
        // Top-p 0.65: ascending cumsum 0.1, 0.3, 0.6, 1.0; <= 0.35 removed -> 0.3 and 0.4 stay.
        let f = frequencies(&logits, &opts(0, 0.65, 1.0), n);
        assert!(close(&f, &[0.0, 0.0, 3.0 / 7.0, 4.0 / 7.0, 0.0]), "{f:?}");
        // Temperature 0.5 squares the odds: 1, 4, 9, 16 over 30.
        let f = frequencies(&logits, &opts(0, 1.0, 0.5), n);
        assert!(
            close(&f, &[1.0 / 30.0, 4.0 / 30.0, 9.0 / 30.0, 16.0 / 30.0, 0.0]),
            "{f:?}"
        );
        // Top-k 1 is greedy.
        let f = frequencies(&logits, &opts(1, 1.0, 1.0), 1000);
        assert_eq!(f, vec![0.0, 0.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn order_keys_sort_as_total_cmp() {
        let xs = [
            f32::NEG_INFINITY,
            -3.5,
            -0.0,
            0.0,
            1e-40,
            2.0,
            f32::INFINITY,
            f32::MIN,
            f32::MAX,
        ];
        for a in xs {
            assert_eq!(from_order_key(order_key(a)).to_bits(), a.to_bits());
            for b in xs {
                assert_eq!(order_key(a).cmp(&order_key(b)), a.total_cmp(&b), "{a} {b}");
            }
        }
    }

    #[test]
    fn kth_largest_is_the_kth_of_a_descending_sort_ties_counted() {
        let mut rng = PathRng::new(7, 0, 0);
        let (mut keys, mut maxima) = (Vec::new(), Vec::new());
        for len in [1usize, 2, 5, 50, 51, 255, 256, 257, 600, 4096] {
            // Few distinct values (ties everywhere) and -inf entries, as forbidden tokens; a
            // smooth bump like a Chronos vocabulary's logits; a rising ramp.
            let random: Vec<f32> = (0..len)
                .map(|_| match (rng.uniform() * 12.0) as u32 {
                    0 => f32::NEG_INFINITY,
                    v => v as f32 * 0.5 - 2.0,
                })
                .collect();
            let bump: Vec<f32> = (0..len)
                .map(|i| -((i as f32 - len as f32 * 0.3) / 40.0).powi(2))
                .collect();
            let ramp: Vec<f32> = (0..len).map(|i| i as f32).collect();
            for scores in [random, bump, ramp] {
                let mut sorted = scores.clone();
                sorted.sort_by(|a, b| b.total_cmp(a));
                for k in [1, 2, 50, len / 2, len.saturating_sub(1), len] {
                    if k == 0 || k > len {
                        continue;
                    }
                    let got = kth_largest(scores.iter().copied(), k, &mut keys, &mut maxima);
                    assert_eq!(got.to_bits(), sorted[k - 1].to_bits(), "len {len}, k {k}");
                }
            }
        }
    }

    #[test]
    fn top_k_keeps_the_ties_at_the_threshold() {
        // Top-2 of 1, 3, 2, 3: the threshold is 3, both 3s stay, equally likely.
        let logits = [1.0f32, 3.0, 2.0, 3.0];
        let f = frequencies(&logits, &opts(2, 1.0, 1.0), 100_000);
        assert_eq!((f[0], f[2]), (0.0, 0.0));
        assert!((f[1] - 0.5).abs() < 0.01, "{f:?}");
        // Top-3: the threshold is 2; 1 never drawn.
        let f = frequencies(&logits, &opts(3, 1.0, 1.0), 1000);
        assert_eq!(f[0], 0.0);
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let draw = |seed, row, sample| {
            let mut r = PathRng::new(seed, row, sample);
            (0..4).map(|_| r.uniform()).collect::<Vec<_>>()
        };
        assert_eq!(draw(1, 2, 3), draw(1, 2, 3));
        assert_ne!(draw(1, 2, 3), draw(1, 3, 2));
        assert_ne!(draw(1, 2, 3), draw(2, 2, 3));
        assert!(draw(5, 0, 0).iter().all(|u| (0.0..1.0).contains(u)));
    }

    #[test]
    fn argmax_takes_the_first_maximum_and_bad_options_are_refused() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, f32::NEG_INFINITY]), 1);
        let e = check_sampling(&opts(0, 1.0, 0.0)).unwrap_err().to_string();
        assert!(e.contains("temperature 0 must be a positive number"), "{e}");
        let e = check_sampling(&opts(0, 0.0, 1.0)).unwrap_err().to_string();
        assert!(e.contains("top_p 0 must be in (0, 1]"), "{e}");
        let mut o = opts(0, 1.0, 1.0);
        o.num_samples = 0;
        assert!(check_sampling(&o).is_err());
    }
}
