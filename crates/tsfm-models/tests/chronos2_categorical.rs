//! Chronos-2 categorical covariates against chronos-forecasting 2.3.2 on the reference fixture
//! (tests/data/chronos2): two tasks of [target, known-future 'activity' in {none, meal,
//! exercise, sleep}], 'sleep' only in the future. The package target-encodes the column
//! (one target per task); the encoded rows and the 16-step forecast must match.

#[path = "chronos_bolt_common/mod.rs"]
mod bolt;

use std::path::PathBuf;

use bolt::{assert_close_scaled, load, to_host};
use burn::tensor::Device;
use tsfm_models::checkpoint::{HostTensor, TensorMap};
use tsfm_models::chronos2::Chronos2Model;
use tsfm_models::chronos2::categorical::{
    CategoricalColumn, EncodedColumn, Encoding, encode_column,
};
use tsfm_models::chronos2::pipeline::left_pad;

/// The fixture's category names: its codes index this list (the package got the strings).
const NAMES: [&str; 4] = ["none", "meal", "exercise", "sleep"];
const TASKS: usize = 2;
const HORIZON: usize = 16;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/chronos2")
}

fn fixture(file: &str) -> TensorMap {
    load(&data_dir().join(file))
}

fn names(codes: &HostTensor) -> Vec<Option<&'static str>> {
    codes
        .data
        .iter()
        .map(|&c| Some(NAMES[c as usize]))
        .collect()
}

/// Encodes the fixture's 'activity' column the way the package's `predict` does.
fn encoded(inputs: &TensorMap) -> (Vec<Vec<f32>>, Vec<EncodedColumn>) {
    let targets: Vec<Vec<f32>> = (0..TASKS)
        .map(|i| inputs[&format!("categorical_target_{i}")].data.clone())
        .collect();
    let columns: Vec<CategoricalColumn> = (0..TASKS)
        .map(|i| CategoricalColumn {
            past: names(&inputs[&format!("categorical_codes_past_{i}")]),
            future: Some(names(&inputs[&format!("categorical_codes_future_{i}")])),
        })
        .collect();
    let rows: Vec<&[f32]> = targets.iter().map(Vec::as_slice).collect();
    let out = encode_column("activity", &columns, Encoding::package_default(1, &rows)).unwrap();
    (targets, out)
}

/// Row 1 of the package's prepared context and future: the encoded column. f32 values that
/// the package computes in f64 and rounds once: equal to within one rounding.
#[test]
fn target_encoding_matches_the_package_preprocessing() {
    let inputs = fixture("inputs.safetensors");
    let expected = fixture("outputs.safetensors");
    let (_, out) = encoded(&inputs);
    let mut worst = 0f32;
    for (i, col) in out.iter().enumerate() {
        let context = &expected[&format!("categorical_encoded_context_{i}")];
        let future = &expected[&format!("categorical_encoded_future_{i}")];
        let (n, h) = (context.shape[1], future.shape[1]);
        let cases = [
            (&col.past, &context.data[n..2 * n]),
            (col.future.as_ref().unwrap(), &future.data[h..2 * h]),
        ];
        for (actual, expected) in cases {
            assert_eq!(actual.len(), expected.len(), "task {i}: length");
            for (a, e) in actual.iter().zip(expected) {
                worst = worst.max((a - e).abs());
            }
        }
        // Row 0 of the future is the target's: unknown.
        assert!(future.data[..h].iter().all(|v| v.is_nan()));
    }
    println!("encoded activity rows: largest difference from the package {worst}");
    assert!(worst <= 1e-6, "largest difference {worst}");
    // 'sleep' (never in any past; task 0's future step 2) takes the task's target mean.
    let sleep = out[0].future.as_ref().unwrap()[2];
    let target = &inputs["categorical_target_0"].data;
    let mean = target.iter().map(|&v| v as f64).sum::<f64>() / target.len() as f64;
    assert_eq!(sleep, mean as f32);
}

/// `pipe.predict(cat_dicts, 16)` through the model: each task is one group of rows
/// [target, encoded activity], the activity row known into the future; the forecast is the
/// target rows.
#[test]
fn forecast_with_encoded_categorical_matches_the_package() {
    let device = Device::flex();
    let (model, warnings) =
        Chronos2Model::from_pretrained(&data_dir().join("model"), &device).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let inputs = fixture("inputs.safetensors");
    let expected = fixture("outputs.safetensors");
    let (targets, encoded) = encoded(&inputs);
    let mut rows = Vec::new();
    let mut future = Vec::new();
    for (target, col) in targets.iter().zip(&encoded) {
        rows.push(target.clone());
        rows.push(col.past.clone());
        future.extend(std::iter::repeat_n(f32::NAN, HORIZON));
        future.extend_from_slice(col.future.as_ref().unwrap());
    }
    let context = left_pad(&rows, &device);
    let groups = vec![0, 0, 1, 1];
    let out = to_host(
        model
            .predict_with_future(context, Some(groups), Some((future, HORIZON)), HORIZON)
            .unwrap(),
    );
    let q = out.shape[1];
    let per_row = q * HORIZON;
    let mut data = Vec::new();
    for row in [0, 2] {
        data.extend_from_slice(&out.data[row * per_row..(row + 1) * per_row]);
    }
    let scales: Vec<f32> = targets
        .iter()
        .map(|t| t.iter().fold(1f32, |m, v| m.max(v.abs())))
        .collect();
    let want = &expected["categorical_predict"];
    let worst = data
        .iter()
        .zip(&want.data)
        .fold(0f32, |m, (a, e)| m.max((a - e).abs()));
    println!("categorical forecast: largest difference from the package {worst}");
    assert_close_scaled(
        "categorical_predict",
        &HostTensor::new(vec![TASKS, q, HORIZON], data),
        &expected["categorical_predict"],
        &scales,
    );
}
