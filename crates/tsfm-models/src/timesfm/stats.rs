//! TimesFM's normalisation on the host: per-patch running mean and (population) standard
//! deviation combined patch by patch as `util.update_running_stats` does, and RevIN. They read
//! only input values (no parameter), so no gradient flows through them and a few hundred
//! scalars per row are cheaper here than as tensor operations.

/// Below this a standard deviation normalises by 1 instead (`util._TOLERANCE`).
pub const TOLERANCE: f32 = 1e-6;

/// Count, mean and standard deviation of the readings seen so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunningStats {
    pub n: f32,
    pub mu: f32,
    pub sigma: f32,
}

impl RunningStats {
    /// `update_running_stats(n, mu, sigma, x, mask)` for one patch of one row (`masked[i]`:
    /// padded or missing). Sums in f64 then rounded, as close to PyTorch's reductions as f32
    /// allows; every other step in f32, in the package's order.
    pub fn update(self, x: &[f32], masked: &[bool]) -> Self {
        let legit = || x.iter().zip(masked).filter(|(_, m)| !**m).map(|(v, _)| *v);
        let inc_n = legit().count() as f32;
        let inc_n_safe = if inc_n == 0.0 { 1.0 } else { inc_n };
        let sum: f64 = legit().map(f64::from).sum();
        let inc_mu = if inc_n == 0.0 {
            0.0
        } else {
            sum as f32 / inc_n_safe
        };
        let sq: f64 = legit()
            .map(|v| f64::from((v - inc_mu) * (v - inc_mu)))
            .sum();
        let inc_var = if inc_n == 0.0 {
            0.0
        } else {
            sq as f32 / inc_n_safe
        };
        let inc_sigma = inc_var.sqrt();
        let new_n = self.n + inc_n;
        let new_n_safe = if new_n == 0.0 { 1.0 } else { new_n };
        let new_mu = if new_n == 0.0 {
            0.0
        } else {
            (self.n * self.mu + inc_mu * inc_n) / new_n_safe
        };
        let term1 = self.n * self.sigma.powi(2);
        let term2 = inc_n * inc_sigma.powi(2);
        let term3 = self.n * (self.mu - new_mu).powi(2);
        let term4 = inc_n * (inc_mu - new_mu).powi(2);
        let new_var = if new_n == 0.0 {
            0.0
        } else {
            (term1 + term2 + term3 + term4) / new_n_safe
        };
        Self {
            n: new_n,
            mu: new_mu,
            sigma: new_var.max(0.0).sqrt(),
        }
    }
}

/// `revin(x, mu, sigma)`: normalise by the patch's running statistics.
pub fn normalise(x: f32, mu: f32, sigma: f32) -> f32 {
    (x - mu) / if sigma < TOLERANCE { 1.0 } else { sigma }
}

/// `revin(x, mu, sigma, reverse=True)` (the standard deviation as is, however small).
pub fn denormalise(x: f32, mu: f32, sigma: f32) -> f32 {
    x * sigma + mu
}

/// The patches of one row, normalised by the running statistics after each patch (masked
/// readings as 0), with those statistics: what the model's first call reads.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalisedPatches {
    /// `[patches * p]`.
    pub values: Vec<f32>,
    /// Statistics after each patch.
    pub stats: Vec<RunningStats>,
}

/// Normalises `x` (`patches * p` readings; `masked` alike) patch by patch, continuing `start`.
pub fn normalise_patches(
    x: &[f32],
    masked: &[bool],
    p: usize,
    start: RunningStats,
) -> NormalisedPatches {
    let mut stats = Vec::with_capacity(x.len() / p);
    let mut values = Vec::with_capacity(x.len());
    let mut s = start;
    for (patch, mask) in x.chunks(p).zip(masked.chunks(p)) {
        s = s.update(patch, mask);
        stats.push(s);
        values.extend(patch.iter().zip(mask).map(|(v, m)| {
            if *m {
                0.0
            } else {
                normalise(*v, s.mu, s.sigma)
            }
        }));
    }
    NormalisedPatches { values, stats }
}

/// Mean and unbiased standard deviation of a row of `len` readings of which only `values`
/// (the last ones) are non-zero: `torch.mean` / `torch.std` over a row zero-padded in front.
pub fn padded_mean_std(values: &[f32], len: usize) -> (f32, f32) {
    let n = len as f64;
    let sum: f64 = values.iter().map(|v| f64::from(*v)).sum();
    let mean = sum / n;
    let zeros = (len - values.len()) as f64;
    let sq: f64 = values
        .iter()
        .map(|v| (f64::from(*v) - mean).powi(2))
        .sum::<f64>()
        + zeros * mean * mean;
    let std = if len > 1 {
        (sq / (n - 1.0)).sqrt()
    } else {
        f64::NAN
    };
    (mean as f32, std as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_stats_over_patches_equal_the_stats_of_everything_seen() {
        let x = [1.0, 2.0, 3.0, 4.0, 10.0, 20.0];
        let masked = [true, false, false, false, false, false];
        let out = normalise_patches(&x, &masked, 3, RunningStats::default());
        let last = out.stats[1];
        // Readings seen: 2, 3, 4, 10, 20.
        assert_eq!(last.n, 5.0);
        assert!((last.mu - 7.8).abs() < 1e-6);
        let var = [2.0f32, 3.0, 4.0, 10.0, 20.0]
            .iter()
            .map(|v| (v - 7.8).powi(2))
            .sum::<f32>()
            / 5.0;
        assert!((last.sigma - var.sqrt()).abs() < 1e-5);
        assert_eq!(out.values[0], 0.0, "masked readings normalise to 0");
    }

    #[test]
    fn a_constant_patch_normalises_by_one() {
        let out = normalise_patches(&[5.0; 4], &[false; 4], 4, RunningStats::default());
        assert_eq!(out.stats[0].sigma, 0.0);
        assert_eq!(out.values, vec![0.0; 4]);
        assert_eq!(denormalise(1.5, 5.0, 0.0), 5.0);
    }

    #[test]
    fn padded_statistics_count_the_zeros() {
        let (m, s) = padded_mean_std(&[4.0, 8.0], 4);
        assert_eq!(m, 3.0);
        // [0, 0, 4, 8]: squared deviations 9 + 9 + 1 + 25 = 44, / 3.
        assert!((s - (44.0f32 / 3.0).sqrt()).abs() < 1e-6);
    }
}
