//! Summaries of the sample paths, computed as the pipeline's PyTorch calls do in `f32`.

/// `torch.quantile(values, q)` (linear interpolation) of `sorted` (ascending, non-empty).
pub fn quantile(sorted: &[f32], q: f32) -> f32 {
    let rank = q * (sorted.len() - 1) as f32;
    let below = rank.floor();
    let weight = rank - below;
    let lo = sorted[below as usize];
    let hi = sorted[rank.ceil() as usize];
    lerp(lo, hi, weight)
}

/// `torch.lerp`: exact at both ends, from the nearer end in between.
fn lerp(a: f32, b: f32, w: f32) -> f32 {
    if w < 0.5 {
        a + w * (b - a)
    } else {
        b - (b - a) * (1.0 - w)
    }
}

/// `torch.median` (what `ChronosPipeline.predict` appends to the context when it rolls out):
/// the lower of the two middle values for an even count.
pub fn lower_median(sorted: &[f32]) -> f32 {
    sorted[(sorted.len() - 1) / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_and_the_median_is_the_lower_one() {
        let v = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 8.0);
        // rank 0.1 * 3 = 0.3 between 1 and 2.
        assert!((quantile(&v, 0.1) - 1.3).abs() < 1e-6);
        assert_eq!(lower_median(&v), 2.0);
        assert_eq!(lower_median(&[5.0, 6.0, 7.0]), 6.0);
        assert_eq!(quantile(&[3.5], 0.9), 3.5);
    }
}
