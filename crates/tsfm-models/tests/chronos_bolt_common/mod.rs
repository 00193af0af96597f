//! Shared helpers for the Chronos-Bolt integration tests: fixture paths, tensor conversion,
//! tolerances.
#![allow(dead_code)]

use std::path::PathBuf;

use std::collections::HashMap;

use burn::Tensor;
use burn::module::{ModuleMapper, Param, ParamId};
use burn::tensor::{Device, Gradients, TensorData};
use safetensors::SafeTensors;
use safetensors::tensor::Dtype;
use tsfm_models::checkpoint::{HostTensor, TensorMap};

/// Tolerances from the reference manifest.
pub const ATOL: f32 = 1e-5;
pub const RTOL: f32 = 1e-4;

/// `tests/data/<name>`.
pub fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The reference fixture `tests/data/chronos-bolt`.
pub fn data_dir() -> PathBuf {
    fixture_dir("chronos-bolt")
}

pub fn model_dir() -> PathBuf {
    data_dir().join("model")
}

pub fn fixture(file: &str) -> TensorMap {
    load(&data_dir().join(file))
}

/// Every tensor of a fixture file as `f32`; boolean masks (stored as `u8`) become 0/1, `i64`
/// ids their values.
pub fn load(path: &std::path::Path) -> TensorMap {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = SafeTensors::deserialize(&bytes).expect("safetensors");
    st.tensors()
        .into_iter()
        .map(|(name, view)| {
            let b = view.data();
            let data: Vec<f32> = match view.dtype() {
                Dtype::F32 => b
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
                Dtype::U8 | Dtype::BOOL => b.iter().map(|&x| f32::from(x)).collect(),
                // Ids and counts (group ids, numbers of patches): small, exact in f32.
                Dtype::I64 => b
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                    .collect(),
                other => panic!("{name}: unexpected dtype {other:?}"),
            };
            (name, HostTensor::new(view.shape().to_vec(), data))
        })
        .collect()
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

/// Every gradient the package has, and no other, within tolerance. Gradients are sums over the
/// batch and the horizon, so the absolute tolerance scales with the tensor's largest gradient.
pub fn assert_grads_close(case: &str, actual: &TensorMap, expected: &TensorMap) {
    let names: Vec<&String> = expected.keys().collect();
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        names,
        "{case}: gradient names"
    );
    for (name, e) in expected {
        let peak = e.data.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert_close_scaled(&format!("{case} grad {name}"), &actual[name], e, &[peak]);
    }
}

/// [`assert_close_scaled`] for forecasts rolled out beyond one block: each block re-reads the
/// previous one, and the random fixture models amplify float rounding by one to two orders of
/// magnitude per block. The package itself moves its 3H forecast by up to 4e-6 of a series'
/// largest value when its input moves by two ulps, so the absolute tolerance also allows
/// 2e-5 of each series' largest expected value.
pub fn assert_close_rollout(
    name: &str,
    actual: &HostTensor,
    expected: &HostTensor,
    scales: &[f32],
) {
    let per_row = expected.data.len() / scales.len();
    let row_tol: Vec<f32> = expected
        .data
        .chunks(per_row)
        .zip(scales)
        .map(|(row, s)| {
            let peak = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            s.max(1.0) + 2.0 * peak
        })
        .collect();
    assert_close_scaled(name, actual, expected, &row_tol);
}

/// Adam (PyTorch's defaults: betas 0.9/0.999, eps 1e-8, no weight decay) over the parameters
/// that have a gradient.
pub struct Adam<'a> {
    pub grads: &'a Gradients,
    pub moments: &'a mut HashMap<ParamId, (Tensor<1>, Tensor<1>)>,
    pub step: i32,
    pub lr: f64,
}

impl ModuleMapper for Adam<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(grad) = param.val().grad(self.grads) else {
            return param;
        };
        let (id, tensor, mapper) = param.consume();
        let dims = tensor.dims();
        let n = grad.shape().num_elements();
        let g: Tensor<1> = grad.reshape([n]);
        let (m, v) = self
            .moments
            .remove(&id)
            .unwrap_or_else(|| (g.zeros_like(), g.zeros_like()));
        let m = m * 0.9 + g.clone() * 0.1;
        let v = v * 0.999 + g.clone() * g * 0.001;
        let m_hat = m.clone() / (1.0 - 0.9f64.powi(self.step));
        let v_hat = v.clone() / (1.0 - 0.999f64.powi(self.step));
        let update = m_hat / (v_hat.sqrt() + 1e-8) * self.lr;
        self.moments.insert(id, (m, v));
        let value: Tensor<1> = tensor.inner().reshape([n]) - update;
        let value: Tensor<D> = value.reshape(dims).autodiff().require_grad();
        Param::from_mapped_value(id, value, mapper)
    }
}
