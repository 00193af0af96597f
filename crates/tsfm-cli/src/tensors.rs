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
