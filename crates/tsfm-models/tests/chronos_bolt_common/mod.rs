//! Shared helpers for the Chronos-Bolt integration tests: fixture paths, tensor conversion,
//! tolerances.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::Tensor;
use burn::tensor::{Device, TensorData};
use tsfm_models::checkpoint::{HostTensor, TensorMap, load_safetensors};

/// Tolerances from the reference manifest.
pub const ATOL: f32 = 1e-5;
pub const RTOL: f32 = 1e-4;

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/chronos-bolt")
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

/// Asserts shape equality and `|a - b| <= atol * row_scale + rtol * |b|` element-wise, where
/// `row_scale[i]` (one per leading index, at least 1) scales the absolute tolerance of row `i`:
/// forecasts in data units carry the normalised-space error times the series' scale.
pub fn assert_close_scaled(
    name: &str,
    actual: &HostTensor,
    expected: &HostTensor,
    row_scale: &[f32],
) {
    assert_eq!(actual.shape, expected.shape, "{name}: shape");
    let per_row = expected.data.len() / row_scale.len();
    let mut worst = (0usize, 0f32);
    for (i, (a, e)) in actual.data.iter().zip(&expected.data).enumerate() {
        let atol = ATOL * row_scale[i / per_row].max(1.0);
        let excess = (a - e).abs() - (atol + RTOL * e.abs());
        if excess > worst.1 || excess.is_nan() {
            worst = (i, excess);
        }
    }
    assert!(
        worst.1 <= 0.0,
        "{name}: element {} is {} but expected {} (beyond atol {ATOL} x scale + rtol {RTOL})",
        worst.0,
        actual.data[worst.0],
        expected.data[worst.0]
    );
}

/// [`assert_close_scaled`] with an absolute tolerance of `ATOL` everywhere.
pub fn assert_close(name: &str, actual: &HostTensor, expected: &HostTensor) {
    assert_close_scaled(name, actual, expected, &[1.0]);
}
