//! Shared helpers for the TTM integration tests: fixture paths, tensor conversion, tolerances.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::Tensor;
use burn::tensor::{Device, TensorData};
use tsfm_models::checkpoint::{HostTensor, TensorMap, load_safetensors};

/// Tolerances from the reference manifest.
pub const ATOL: f32 = 1e-5;
pub const RTOL: f32 = 1e-4;

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/ttm-tiny")
}

pub fn model_dir() -> PathBuf {
    data_dir().join("model")
}

pub fn fixture(file: &str) -> TensorMap {
    load_safetensors(&data_dir().join(file)).expect("fixture file")
}

pub fn to_tensor<const D: usize>(t: &HostTensor, device: &Device) -> Tensor<D> {
    assert_eq!(t.shape.len(), D, "rank");
    Tensor::from_data(TensorData::new(t.data.clone(), t.shape.clone()), device)
}

pub fn to_host<const D: usize>(t: Tensor<D>) -> HostTensor {
    let shape = t.dims().to_vec();
    let data = t
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 data");
    HostTensor::new(shape, data)
}

/// Asserts shape equality and `|a - b| <= atol + rtol * |b|` element-wise, naming the tensor.
pub fn assert_close(name: &str, actual: &HostTensor, expected: &HostTensor) {
    assert_eq!(actual.shape, expected.shape, "{name}: shape");
    let mut worst = (0usize, 0f32);
    for (i, (a, e)) in actual.data.iter().zip(&expected.data).enumerate() {
        let excess = (a - e).abs() - (ATOL + RTOL * e.abs());
        if excess > worst.1 || excess.is_nan() {
            worst = (i, excess);
        }
    }
    assert!(
        worst.1 <= 0.0,
        "{name}: element {} is {} but expected {} (beyond atol {ATOL} + rtol {RTOL})",
        worst.0,
        actual.data[worst.0],
        expected.data[worst.0]
    );
}
