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

/// Draws one token from `logits` (one row; forbidden tokens already `-inf`) with HF's
/// `TemperatureLogitsWarper`, `TopKLogitsWarper` and `TopPLogitsWarper`, in that order.
/// `scratch` is reused between calls to avoid allocating per token.
pub fn sample(
    logits: &[f32],
    options: &SamplingOptions,
    rng: &mut PathRng,
    scratch: &mut Vec<(f32, usize)>,
) -> usize {
    scratch.clear();
    let temperature = options.temperature;
    scratch.extend(logits.iter().enumerate().map(|(i, &l)| {
        (
            if temperature == 1.0 {
                l
            } else {
                l / temperature
            },
            i,
        )
    }));
    // Top-k keeps every score >= the k-th largest (ties at the threshold survive).
    let k = options.top_k.min(scratch.len());
    if k > 0 && k < scratch.len() {
        let (_, kth, _) = scratch.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        let threshold = kth.0;
        scratch.retain(|&(s, _)| s >= threshold);
    }
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
        let mut scratch = Vec::new();
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
