//! `torch.quantile` (linear interpolation) as the pipeline uses it: to reduce the 9 x 9 rolled
//! out paths to 9 quantiles, and to interpolate quantile levels the head does not have.

use burn::Tensor;
use burn::tensor::{Int, TensorData};

/// Where `torch.quantile` reads level `q` among `n` sorted values: the index below, the index
/// above and the weight of the one above, computed in `f32` as torch does for a float32 `q`.
fn rank(q: f32, n: usize) -> (usize, usize, f32) {
    let r = q * (n - 1) as f32;
    let below = r as usize;
    let above = (r.ceil() as usize).min(n - 1);
    (below, above, r - below as f32)
}

/// `torch.quantile(x, q=levels, dim=1)` moved back to axis 1: `[a, n, c] -> [a, levels, c]`.
/// The values are sorted along axis 1 first, as torch does; NaN is not expected.
pub fn quantile_dim1(x: Tensor<3>, levels: &[f32]) -> Tensor<3> {
    let n = x.dims()[1];
    let device = x.device();
    let sorted = x.sort(1);
    let ranks: Vec<(usize, usize, f32)> = levels.iter().map(|&q| rank(q, n)).collect();
    let ids = |pick: fn(&(usize, usize, f32)) -> usize| {
        let v: Vec<i64> = ranks.iter().map(|r| pick(r) as i64).collect();
        Tensor::<1, Int>::from_data(TensorData::new(v, [levels.len()]), &device)
    };
    let below = sorted.clone().select(1, ids(|r| r.0));
    let above = sorted.select(1, ids(|r| r.1));
    let column =
        |v: Vec<f32>| Tensor::<3>::from_data(TensorData::new(v, [1, levels.len(), 1]), &device);
    // torch.lerp: `start + w * (end - start)` for w < 0.5, else `end - (end - start) * (1 - w)`.
    let low_w: Vec<f32> = ranks
        .iter()
        .map(|r| if r.2 < 0.5 { r.2 } else { 0.0 })
        .collect();
    let high_w: Vec<f32> = ranks
        .iter()
        .map(|r| if r.2 < 0.5 { 0.0 } else { 1.0 - r.2 })
        .collect();
    let use_high: Vec<f32> = ranks.iter().map(|r| f32::from(r.2 >= 0.5)).collect();
    let diff = above.clone() - below.clone();
    let from_below = below + diff.clone() * column(low_w);
    let from_above = above - diff * column(high_w);
    let high = column(use_high).greater_elem(0.5).expand(from_below.dims());
    from_below.mask_where(high, from_above)
}

/// `ChronosBoltPipeline.predict_quantiles` on predictions `[a, h, n_levels]` (the head's
/// levels, in order): the wanted levels if they are all among the head's, else
/// `torch.quantile` over the predictions with the lowest and highest level repeated at either
/// end (levels outside the head's range take its extreme quantile).
pub fn interpolate_levels(predictions: Tensor<3>, own: &[f32], wanted: &[f32]) -> Tensor<3> {
    let device = predictions.device();
    let positions: Option<Vec<i64>> = wanted
        .iter()
        .map(|w| own.iter().position(|l| l == w).map(|i| i as i64))
        .collect();
    if let Some(idx) = positions {
        let ids = Tensor::<1, Int>::from_data(TensorData::new(idx, [wanted.len()]), &device);
        return predictions.select(2, ids);
    }
    let [_, _, n] = predictions.dims();
    let augmented = Tensor::cat(
        vec![
            predictions.clone().narrow(2, 0, 1),
            predictions.clone(),
            predictions.narrow(2, n - 1, 1),
        ],
        2,
    );
    quantile_dim1(augmented.swap_dims(1, 2), wanted).swap_dims(1, 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn t3(v: Vec<f32>, shape: [usize; 3]) -> Tensor<3> {
        Tensor::from_data(TensorData::new(v, shape), &Device::flex())
    }

    fn vals(t: Tensor<3>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn ranks_follow_torch_in_f32() {
        assert_eq!(rank(0.1, 81), (8, 8, 0.0));
        assert_eq!(rank(0.5, 11), (5, 5, 0.0));
        let (b, a, w) = rank(0.25, 4);
        assert_eq!((b, a), (0, 1));
        assert_eq!(w, 0.75);
        assert_eq!(rank(0.999, 3).1, 2);
    }

    #[test]
    fn quantiles_sort_then_interpolate() {
        // torch.quantile(tensor([4., 1., 3., 2.]), q=[0.1, 0.5, 0.9]) = [1.3, 2.5, 3.7].
        let x = t3(vec![4.0, 1.0, 3.0, 2.0], [1, 4, 1]);
        let q = vals(quantile_dim1(x, &[0.1, 0.5, 0.9]));
        for (a, e) in q.iter().zip([1.3f32, 2.5, 3.7]) {
            assert!((a - e).abs() < 1e-6, "{q:?}");
        }
    }

    #[test]
    fn levels_are_selected_or_interpolated_like_predict_quantiles() {
        let own = [0.25f32, 0.5, 0.75];
        // One series, two steps, levels 0.25/0.5/0.75 (the second step unsorted).
        let p = t3(vec![1.0, 2.0, 4.0, 3.0, 1.0, 2.0], [1, 2, 3]);
        assert_eq!(
            vals(interpolate_levels(p.clone(), &own, &[0.75, 0.25])),
            vec![4.0, 1.0, 2.0, 3.0]
        );
        // Not a subset: quantiles of [1, 1, 2, 4, 4] at 0.5 (2) and 0.6 (rank 2.4: 2 + 0.4 * 2).
        let q = vals(interpolate_levels(p, &own, &[0.5, 0.6]));
        assert_eq!(q[0], 2.0);
        assert!((q[1] - 2.8).abs() < 1e-6, "{q:?}");
        // The second step is sorted first: [3, 3, 1, 2, 2] -> [1, 2, 2, 3, 3].
        assert_eq!(q[2], 2.0);
        assert!((q[3] - 2.4).abs() < 1e-6, "{q:?}");
    }
}
