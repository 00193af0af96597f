//! P(glucose < 3.9 mmol/L) per forecast step, from the forecast's quantiles.
//!
//! The quantiles give points (value q_k, level τ_k) of the forecast's CDF; the probability is
//! that CDF at the threshold, interpolated linearly between neighbouring points. Below the
//! lowest quantile it is τ_0 / 2 and above the highest (1 + τ_K) / 2 (the middle of the tail
//! mass: nothing is known about the shape out there). This is the CDF `tsfm evaluate` scores
//! with its Brier score of the same event ([`tsfm_eval::metrics::probabilistic::interp_cdf`]),
//! so the reported Brier score measures exactly these probabilities. With the default deciles
//! a probability is therefore never below 0.05: ask for wider levels (e.g. 0.025 ... 0.975)
//! to resolve smaller ones.
use tsfm_eval::metrics::probabilistic::interp_cdf;

/// Level-1 hypoglycaemia in the unit, as the evaluation's Brier score uses it (3.9 mmol/L or
/// 70 mg/dL, the consensus pair); `None` for a unit that is not glucose.
pub fn threshold(unit: &str) -> Option<f64> {
    match unit.trim().to_ascii_lowercase().as_str() {
        "mmol/l" => Some(3.9),
        "mg/dl" => Some(70.0),
        _ => None,
    }
}

/// P(y < threshold) at each step; `quantiles` is `[level][step]`. Empty levels: `None`.
pub fn p_below(levels: &[f64], quantiles: &[Vec<f32>], threshold: f64) -> Option<Vec<f64>> {
    let steps = quantiles.first()?.len();
    Some(
        (0..steps)
            .map(|h| {
                let at: Vec<f64> = quantiles.iter().map(|q| f64::from(q[h])).collect();
                interp_cdf(levels, &at, threshold)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cdf_is_interpolated_between_quantiles_with_half_tails() {
        let levels = [0.1, 0.5, 0.9];
        // Step 0: 3.9 is halfway between q0.1 = 3.0 and q0.5 = 4.8 -> 0.3.
        // Step 1: below every quantile -> 0.05; step 2: above every one -> 0.95.
        let q = vec![
            vec![3.0, 5.0, 2.0],
            vec![4.8, 6.0, 2.5],
            vec![6.0, 7.0, 3.0],
        ];
        let p = p_below(&levels, &q, 3.9).unwrap();
        assert!((p[0] - 0.3).abs() < 1e-6, "{p:?}");
        assert_eq!(p[1], 0.05);
        assert_eq!(p[2], 0.95);
        assert_eq!(p_below(&[], &[], 3.9), None);
        assert_eq!(threshold("mmol/L"), Some(3.9));
        assert_eq!(threshold("mg/dL"), Some(70.0));
        assert_eq!(threshold("kW"), None);
    }
}
