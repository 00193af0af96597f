//! Host buffers <-> Burn tensors.
use burn::Tensor;
use burn::tensor::{Device, TensorData};

pub fn tensor3(values: Vec<f32>, shape: [usize; 3], device: &Device) -> Tensor<3> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

pub fn to_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .try_to_vec::<f32>()
        .expect("model outputs are f32 tensors")
}

/// granite-tsfm's frequency token for each window's sampling interval (minutes): what TTM
/// checkpoints trained with a resolution prefix read; every other model ignores it.
pub fn freq_tokens(
    intervals_min: impl IntoIterator<Item = u32>,
    device: &Device,
) -> Tensor<1, burn::tensor::Int> {
    let ids: Vec<i64> = intervals_min
        .into_iter()
        .map(|m| tsfm_models::ttm::default_frequency_token(u64::from(m) * 60))
        .collect();
    let n = ids.len();
    Tensor::from_data(TensorData::new(ids, [n]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freq_tokens_follow_granites_default_mapping() {
        let device = Device::flex();
        let ids = freq_tokens([5, 15, 60, 7, 1440], &device)
            .try_to_vec_as::<i64>()
            .unwrap();
        assert_eq!(ids, vec![3, 5, 7, 0, 8]);
    }
}
