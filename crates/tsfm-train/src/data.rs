//! What the trainer reads, and the order it reads it in.
//!
//! The order of an epoch is a pure function of `(data_seed, epoch)`, so a resumed run
//! recomputes it and continues at the exact batch where the checkpoint was taken.

use burn::tensor::Device;
use tsfm_models::ForecastInput;

/// A set of windows addressable by index.
pub trait WindowSource {
    /// Number of windows.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The windows at `indices`, stacked in that order, with `future_values` set.
    fn batch(&self, indices: &[usize], device: &Device) -> ForecastInput;
}

/// SplitMix64: a tiny, fully specified generator, so orders never change with a crate update.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by rejection so there is no modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }
}

/// A seed for a sub-stream, mixed so that nearby inputs give unrelated streams.
pub fn derive_seed(seed: u64, parts: &[u64]) -> u64 {
    let mut rng = SplitMix64::new(seed);
    let mut out = rng.next_u64();
    for &p in parts {
        rng = SplitMix64::new(out ^ p.wrapping_mul(0xD1B5_4A32_D192_ED03));
        out = rng.next_u64();
    }
    out
}

/// The shuffled order of windows for `epoch` (Fisher-Yates).
pub fn epoch_order(data_seed: u64, epoch: u64, len: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    let mut rng = SplitMix64::new(derive_seed(data_seed, &[0x5348_5546, epoch]));
    for i in (1..len).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    order
}

/// Batches of one epoch: consecutive chunks of the order; a short last one is kept unless
/// `drop_last` (HF `dataloader_drop_last`).
pub fn epoch_batches(order: &[usize], batch_size: usize, drop_last: bool) -> Vec<&[usize]> {
    order
        .chunks(batch_size)
        .filter(|b| !drop_last || b.len() == batch_size)
        .collect()
}

/// Number of batches per epoch.
pub fn batches_per_epoch(len: usize, batch_size: usize, drop_last: bool) -> usize {
    if drop_last {
        len / batch_size
    } else {
        len.div_ceil(batch_size)
    }
}
