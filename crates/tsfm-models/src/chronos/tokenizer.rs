//! `MeanScaleUniformBins`: Chronos' value tokenizer, on the host, in `f32` exactly as
//! chronos-forecasting 2.3.2 computes it (so token ids match bit for bit).
//!
//! A series is divided by the mean absolute value of its observed steps, then each value
//! falls into one of `n_tokens - n_special_tokens - 1` uniform bins on `[low, high]`
//! (`bucketize(right=True)` over the bin midpoints); missing values become `pad_token_id`,
//! and an EOS token closes the sequence.

use super::config::ChronosConfig;

/// A series turned into tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Tokenized {
    /// Token ids, EOS last when the checkpoint uses one.
    pub ids: Vec<i64>,
    /// 1 for observed values (and EOS), 0 for missing ones.
    pub mask: Vec<f32>,
}

/// The tokenizer of one checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct MeanScaleUniformBins {
    /// Bin centres, `torch.linspace(low, high, n_tokens - n_special_tokens - 1)`.
    pub centers: Vec<f32>,
    /// `[-1e20, midpoints of the centres, 1e20]`.
    pub boundaries: Vec<f32>,
    n_special_tokens: i64,
    n_tokens: i64,
    pad_token_id: i64,
    eos_token_id: i64,
    use_eos_token: bool,
    context_length: usize,
}

/// `torch.linspace` on the CPU: the first half counts up from `start`, the second half down
/// from `end`, each value one fused multiply-add in `f32` (what PyTorch's kernel computes).
fn linspace(start: f32, end: f32, steps: usize) -> Vec<f32> {
    if steps == 1 {
        return vec![start];
    }
    let step = (end - start) / (steps - 1) as f32;
    let halfway = steps / 2;
    (0..steps)
        .map(|i| {
            if i < halfway {
                step.mul_add(i as f32, start)
            } else {
                (-step).mul_add((steps - 1 - i) as f32, end)
            }
        })
        .collect()
}

impl MeanScaleUniformBins {
    pub fn new(config: &ChronosConfig) -> Self {
        let n_bins = config.n_tokens - config.n_special_tokens - 1;
        let centers = linspace(config.low_limit(), config.high_limit(), n_bins);
        let mut boundaries = Vec::with_capacity(n_bins + 1);
        boundaries.push(-1e20);
        boundaries.extend(centers.windows(2).map(|w| (w[1] + w[0]) / 2.0));
        boundaries.push(1e20);
        Self {
            centers,
            boundaries,
            n_special_tokens: config.n_special_tokens as i64,
            n_tokens: config.n_tokens as i64,
            pad_token_id: config.pad_token_id as i64,
            eos_token_id: config.eos_token_id as i64,
            use_eos_token: config.use_eos_token,
            context_length: config.context_length,
        }
    }

    /// Mean `|x|` over the non-NaN values; 1 where that is not positive (all missing, all 0).
    /// Summed in `f64` and rounded once, as PyTorch's pairwise `f32` sum nearly always does.
    pub fn scale(values: &[f32]) -> f32 {
        let (sum, count) = values
            .iter()
            .filter(|v| !v.is_nan())
            .fold((0f64, 0usize), |(s, n), v| (s + f64::from(v.abs()), n + 1));
        let scale = sum as f32 / count as f32;
        if scale > 0.0 { scale } else { 1.0 }
    }

    /// `bucketize(x / scale, boundaries, right=True) + n_special_tokens`, clamped to the
    /// vocabulary; NaN -> `pad_token_id` with mask 0.
    fn tokens(&self, values: &[f32], scale: f32) -> Tokenized {
        let mut ids = Vec::with_capacity(values.len() + 1);
        let mut mask = Vec::with_capacity(values.len() + 1);
        for &v in values {
            if v.is_nan() {
                ids.push(self.pad_token_id);
                mask.push(0.0);
                continue;
            }
            let x = v / scale;
            // right=True: the number of boundaries <= x.
            let bucket = self.boundaries.partition_point(|&b| b <= x) as i64;
            ids.push((bucket + self.n_special_tokens).clamp(0, self.n_tokens - 1));
            mask.push(1.0);
        }
        if self.use_eos_token {
            ids.push(self.eos_token_id);
            mask.push(1.0);
        }
        Tokenized { ids, mask }
    }

    /// `context_input_transform`: the last `context_length` values, their scale, their tokens.
    pub fn context_input_transform(&self, context: &[f32]) -> (Tokenized, f32) {
        let start = context.len().saturating_sub(self.context_length);
        let context = &context[start..];
        let scale = Self::scale(context);
        (self.tokens(context, scale), scale)
    }

    /// `label_input_transform`: the target tokenised with the context's scale.
    pub fn label_input_transform(&self, label: &[f32], scale: f32) -> Tokenized {
        self.tokens(label, scale)
    }

    /// `output_transform`: `centers[token - n_special_tokens - 1]` (index clamped) x scale.
    pub fn output_transform(&self, token: i64, scale: f32) -> f32 {
        let last = self.centers.len() as i64 - 1;
        let index = (token - self.n_special_tokens - 1).clamp(0, last);
        self.centers[index as usize] * scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_is_symmetric_and_exact_at_the_ends() {
        // PyTorch 2.11: torch.linspace(-15, 15, 4093)[[0, 2046, 4092]] (the middle is not 0).
        let c = linspace(-15.0, 15.0, 4093);
        assert_eq!((c[0], c[2046], c[4092]), (-15.0, 1.396_983_9e-8, 15.0));
        assert_eq!(linspace(2.0, 4.0, 3), vec![2.0, 3.0, 4.0]);
        assert_eq!(linspace(2.0, 4.0, 1), vec![2.0]);
    }

    #[test]
    fn scale_ignores_missing_values_and_falls_back_to_one() {
        assert_eq!(MeanScaleUniformBins::scale(&[1.0, -3.0, f32::NAN]), 2.0);
        assert_eq!(MeanScaleUniformBins::scale(&[f32::NAN, f32::NAN]), 1.0);
        assert_eq!(MeanScaleUniformBins::scale(&[0.0, 0.0]), 1.0);
        assert_eq!(MeanScaleUniformBins::scale(&[]), 1.0);
    }
}
