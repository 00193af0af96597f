//! Shared helpers for the Chronos-T5 tests: fixture paths, integer tensors, tolerances.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::Tensor;
use burn::tensor::{Device, Int, TensorData};
use safetensors::SafeTensors;
use safetensors::tensor::Dtype;
use tsfm_models::checkpoint::{HostTensor, TensorMap};

/// Tolerances from the reference manifest (`suggested_tolerance`).
pub const ATOL: f32 = 1e-5;
pub const RTOL: f32 = 1e-4;

pub fn data_dir() -> PathBuf {
    Fixture::new("chronos-t5").dir
}

pub fn model_dir() -> PathBuf {
    Fixture::new("chronos-t5").model_dir()
}

/// The float tensors of a file of the base fixture.
pub fn fixture(file: &str) -> TensorMap {
    Fixture::new("chronos-t5").floats(file)
}

/// An integer tensor of a file of the base fixture.
pub fn int_fixture(file: &str, name: &str) -> (Vec<usize>, Vec<i64>) {
    Fixture::new("chronos-t5").ints(file, name)
}

/// One reference fixture directory under `tests/data` (`chronos-t5`, `chronos-t5-train`,
/// `chronos-t5-variants/<name>`).
pub struct Fixture {
    pub dir: PathBuf,
}

impl Fixture {
    pub fn new(name: &str) -> Self {
        Self {
            dir: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data")
                .join(name),
        }
    }

    /// The checkpoint the fixture was made with (`model_dir` of its manifest, else `model`).
    pub fn model_dir(&self) -> PathBuf {
        let manifest = std::fs::read_to_string(self.dir.join("manifest.json")).ok();
        let rel = manifest
            .and_then(|m| serde_json::from_str::<serde_json::Value>(&m).ok())
            .and_then(|m| m["model_dir"].as_str().map(String::from))
            .filter(|d| !d.starts_with("models/"))
            .unwrap_or_else(|| "model".into());
        self.dir.join(rel)
    }

    /// The float tensors of a fixture file (integer tensors are read with [`Fixture::ints`]).
    pub fn floats(&self, file: &str) -> TensorMap {
        let bytes = std::fs::read(self.dir.join(file)).expect("fixture file");
        let st = SafeTensors::deserialize(&bytes).expect("safetensors");
        st.tensors()
            .into_iter()
            .filter(|(_, v)| v.dtype() == Dtype::F32)
            .map(|(name, v)| {
                let data = v
                    .data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect();
                (name, HostTensor::new(v.shape().to_vec(), data))
            })
            .collect()
    }

    /// An integer (i64 or u8) tensor of a fixture file: shape and values.
    pub fn ints(&self, file: &str, name: &str) -> (Vec<usize>, Vec<i64>) {
        let bytes = std::fs::read(self.dir.join(file)).expect("fixture file");
        let st = SafeTensors::deserialize(&bytes).expect("safetensors");
        let view = st.tensor(name).expect("tensor in fixture");
        let data = match view.dtype() {
            Dtype::I64 => view
                .data()
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            Dtype::U8 => view.data().iter().map(|&b| i64::from(b)).collect(),
            other => panic!("{name}: {other:?} is not an integer dtype"),
        };
        (view.shape().to_vec(), data)
    }

    /// A `[rows, t]` float tensor of `inputs.safetensors` as one series per row (NaN kept).
    pub fn series(&self, name: &str) -> Vec<Vec<f32>> {
        let t = &self.floats("inputs.safetensors")[name];
        t.data.chunks(t.shape[1]).map(<[f32]>::to_vec).collect()
    }
}

pub fn to_tensor<const D: usize>(t: &HostTensor, device: &Device) -> Tensor<D> {
    assert_eq!(t.shape.len(), D, "rank");
    Tensor::from_data(TensorData::new(t.data.clone(), t.shape.clone()), device)
}

pub fn int_tensor(shape: &[usize], data: &[i64], device: &Device) -> Tensor<2, Int> {
    Tensor::from_data(TensorData::new(data.to_vec(), [shape[0], shape[1]]), device)
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
    assert_close_tol(name, actual, expected, ATOL, RTOL);
}

pub fn assert_close_tol(
    name: &str,
    actual: &HostTensor,
    expected: &HostTensor,
    atol: f32,
    rtol: f32,
) {
    assert_eq!(actual.shape, expected.shape, "{name}: shape");
    let mut worst = (0usize, 0f32);
    for (i, (a, e)) in actual.data.iter().zip(&expected.data).enumerate() {
        let excess = (a - e).abs() - (atol + rtol * e.abs());
        if excess > worst.1 || excess.is_nan() {
            worst = (i, excess);
        }
    }
    assert!(
        worst.1 <= 0.0,
        "{name}: element {} is {} but expected {} (beyond atol {atol} + rtol {rtol})",
        worst.0,
        actual.data[worst.0],
        expected.data[worst.0]
    );
}

/// `[b, t, 1]` values (missing = 0) with their 1/0 mask, from one series per row (NaN =
/// missing), and the same for the targets when given.
pub fn univariate_batch(
    past: &[Vec<f32>],
    future: Option<&[Vec<f32>]>,
    device: &Device,
) -> tsfm_models::ForecastInput {
    let to = |rows: &[Vec<f32>]| {
        let (b, t) = (rows.len(), rows[0].len());
        let flat = rows.concat();
        let values: Vec<f32> = flat
            .iter()
            .map(|v| if v.is_nan() { 0.0 } else { *v })
            .collect();
        let mask: Vec<f32> = flat
            .iter()
            .map(|v| if v.is_nan() { 0.0 } else { 1.0 })
            .collect();
        (
            Tensor::<3>::from_data(TensorData::new(values, [b, t, 1]), device),
            Tensor::<3>::from_data(TensorData::new(mask, [b, t, 1]), device),
        )
    };
    let (values, mask) = to(past);
    let mut input = tsfm_models::ForecastInput::context(values);
    input.past_observed_mask = Some(mask);
    if let Some(future) = future {
        let (values, mask) = to(future);
        input.future_values = Some(values);
        input.future_observed_mask = Some(mask);
    }
    input
}
