//! Shared helpers for the TimesFM tests: fixture paths, the fixture model, tensor helpers (the
//! tolerance helpers are the Chronos-Bolt tests').
#![allow(dead_code)]

#[path = "../chronos_bolt_common/mod.rs"]
mod bolt;

use std::path::PathBuf;

#[allow(unused_imports)]
pub use bolt::{
    Adam, assert_close, assert_close_scaled, assert_grads_close, load, to_host, to_tensor,
};
use burn::tensor::Device;
use tsfm_models::LoadOptions;
use tsfm_models::checkpoint::{HostTensor, TensorMap};
use tsfm_models::timesfm::{DecodeInput, TimesFmModel};

/// `tests/data/timesfm/<name>`.
pub fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/timesfm")
        .join(name)
}

/// The tiny random-init fixture model (patch 8, output patch 16, 2 layers).
pub fn model_dir() -> PathBuf {
    dir("model")
}

pub fn model(device: &Device) -> TimesFmModel {
    TimesFmModel::from_pretrained_with(&model_dir(), device, &LoadOptions::default())
        .expect("fixture model loads")
        .0
}

/// `dir/file` as tensors.
pub fn fixture(set: &str, file: &str) -> TensorMap {
    load(&dir(set).join(file))
}

/// The rows of a `[b, t]` tensor.
pub fn rows(t: &HostTensor) -> Vec<Vec<f32>> {
    t.data.chunks(t.shape[1]).map(<[f32]>::to_vec).collect()
}

/// Largest |value| of each row (at least 1): the scale forecasts' errors grow with.
pub fn row_scales(rows: &[Vec<f32>]) -> Vec<f32> {
    rows.iter()
        .map(|r| {
            r.iter()
                .filter(|v| v.is_finite())
                .fold(1f32, |m, v| m.max(v.abs()))
        })
        .collect()
}

pub fn host(shape: Vec<usize>, data: Vec<f32>) -> HostTensor {
    HostTensor::new(shape, data)
}

/// `decode`'s input from fixture tensors: `[rows, len]` values and masks (1 = padded).
pub fn decode_input(values: &HostTensor, masks: &HostTensor) -> DecodeInput {
    DecodeInput {
        rows: values.shape[0],
        len: values.shape[1],
        values: values.data.clone(),
        masked: masks.data.iter().map(|m| *m != 0.0).collect(),
    }
}

/// `decode`'s three outputs against a fixture's (`point`, `spread`, `ar` are its key names),
/// shapes `[rows, patches, o, q]`, `[rows, os, q]`, `[rows, steps, o, q]`.
pub fn assert_decoded(
    decoded: tsfm_models::timesfm::Decoded,
    expected: &TensorMap,
    keys: [&str; 3],
    scales: &[f32],
) {
    let [point, spread, ar] = keys.map(|k| &expected[k]);
    assert_close_scaled(
        keys[0],
        &host(point.shape.clone(), decoded.point),
        point,
        scales,
    );
    assert_close_scaled(
        keys[1],
        &host(spread.shape.clone(), decoded.quantile_spread),
        spread,
        scales,
    );
    assert_close_scaled(
        keys[2],
        &host(ar.shape.clone(), decoded.autoregressive),
        ar,
        scales,
    );
}
