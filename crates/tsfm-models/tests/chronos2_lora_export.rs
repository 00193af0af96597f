//! Chronos-2 with LoRA adapters (the package's default targets: q, k, v, o of every attention
//! and the output patch embedding's output layer), saved the two ways the official package
//! reads: merged into an ordinary checkpoint (`save_pretrained`) and as a PEFT adapter
//! directory. Both must reload here and forecast as the adapted model did.
//!
//! With `TSFM_CHRONOS2_EXPORT_DIR` set, the two directories are written there (`merged/`,
//! `adapter/`, and `base/`: the fixture re-saved, as a control), each with `forecasts.safetensors` (the inputs and the adapted model's
//! forecasts), for `tools/reference/check_saved_chronos2.py` to check in the package.

mod lora_common;

#[path = "chronos_bolt_common/mod.rs"]
mod bolt;

use std::path::{Path, PathBuf};

use bolt::{assert_close_scaled, load, to_host};
use burn::tensor::Device;
use lora_common::perturb;
use tsfm_models::AnyForecaster;
use tsfm_models::LoadOptions;
use tsfm_models::checkpoint::{HostTensor, TensorMap, save_safetensors};
use tsfm_models::chronos2::Chronos2Model;
use tsfm_models::chronos2::pipeline::left_pad;
use tsfm_models::lora::peft::load_adapter_dir;
use tsfm_models::lora::{LoraConfig, TargetModules, save_adapter};

/// One pass (24 steps) and an unrolled horizon (40 > 2 patches x 16).
const HORIZONS: [usize; 2] = [24, 40];
const SERIES: usize = 4;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/chronos2")
}

fn lora() -> LoraConfig {
    LoraConfig {
        rank: 2,
        alpha: 4.0,
        dropout: 0.0,
        target_modules: TargetModules::Default,
        use_rslora: false,
        seed: 11,
    }
}

/// The fixture's four pipeline inputs (lengths 64, 50, 40, 84; NaN = missing).
fn inputs() -> Vec<Vec<f32>> {
    let t = load(&data_dir().join("inputs.safetensors"));
    (0..SERIES)
        .map(|i| t[&format!("predict_input_{i}")].data.clone())
        .collect()
}

/// `pipe.predict(inputs, h)` for each horizon: `quantiles_h{h}` `[4, Q, h]`.
fn forecasts(model: &Chronos2Model, device: &Device) -> TensorMap {
    HORIZONS
        .iter()
        .map(|&h| {
            let out = model.predict(left_pad(&inputs(), device), None, h).unwrap();
            (format!("quantiles_h{h}"), to_host(out))
        })
        .collect()
}

fn scales() -> Vec<f32> {
    inputs()
        .iter()
        .map(|s| {
            s.iter()
                .filter(|v| v.is_finite())
                .fold(1f32, |m, v| m.max(v.abs()))
        })
        .collect()
}

fn assert_same_forecasts(case: &str, actual: &TensorMap, expected: &TensorMap) {
    for (name, e) in expected {
        assert_close_scaled(&format!("{case} {name}"), &actual[name], e, &scales());
    }
}

/// The inputs and forecasts as the check script reads them.
fn write_forecasts(dir: &Path, forecasts: &TensorMap) {
    let mut file = forecasts.clone();
    for (i, s) in inputs().into_iter().enumerate() {
        file.insert(format!("input_{i}"), HostTensor::new(vec![s.len()], s));
    }
    save_safetensors(&dir.join("forecasts.safetensors"), &file).unwrap();
}

fn max_abs_diff(a: &TensorMap, b: &TensorMap) -> f32 {
    a.iter()
        .flat_map(|(k, t)| t.data.iter().zip(&b[k].data).map(|(x, y)| (x - y).abs()))
        .fold(0.0, f32::max)
}

#[test]
fn adapted_model_saves_merged_and_as_peft_adapter() {
    let device = Device::flex();
    let base_dir = data_dir().join("model");
    let (base, _) = Chronos2Model::from_pretrained(&base_dir, &device).unwrap();
    let options = LoadOptions {
        lora: Some(lora()),
        ..Default::default()
    };
    let (adapted, warnings) =
        Chronos2Model::from_pretrained_with(&base_dir, &device, &options).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    // A fresh adapter (B = 0) changes nothing.
    let base_out = forecasts(&base, &device);
    assert_eq!(forecasts(&adapted, &device), base_out);

    let trained = perturb(adapted);
    let expected = forecasts(&trained, &device);
    let moved = max_abs_diff(&expected, &base_out);
    println!("the adapters move the forecasts by up to {moved}");
    assert!(
        moved > 1e-2,
        "the adapters must matter: forecasts moved by {moved}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let root = std::env::var_os("TSFM_CHRONOS2_EXPORT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());

    // The control: the fixture itself, re-saved, with its own forecasts.
    let base_copy = root.join("base");
    base.save_pretrained_dir(&base_copy).unwrap();
    write_forecasts(&base_copy, &base_out);

    // (a) merged: an ordinary checkpoint, no adapter tensors left.
    let merged_dir = root.join("merged");
    trained.save_pretrained_dir(&merged_dir).unwrap();
    let (merged, warnings) = Chronos2Model::from_pretrained(&merged_dir, &device).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_same_forecasts("merged", &forecasts(&merged, &device), &expected);
    write_forecasts(&merged_dir, &expected);

    // (b) a PEFT adapter directory on the fixture checkpoint.
    let adapter_dir = root.join("adapter");
    let base_spec = base_dir.display().to_string();
    save_adapter(&trained, &lora(), "chronos2", &base_spec, &adapter_dir).unwrap();
    // `Chronos2Pipeline.from_pretrained(adapter_dir)` goes through peft's `AutoPeftModel`,
    // which needs the base class when `task_type` is null (PEFT writes the same).
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(adapter_dir.join("adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        config["auto_mapping"],
        serde_json::json!({
            "base_model_class": "Chronos2Model",
            "parent_library": "chronos.chronos2.model",
        })
    );
    let loaded = load_adapter_dir(&adapter_dir, &device, &LoadOptions::default()).unwrap();
    let AnyForecaster::Chronos2(reloaded) = loaded.model else {
        panic!("the adapter's base is the Chronos-2 fixture");
    };
    // The same factors, unmerged: bit for bit.
    assert_eq!(forecasts(&reloaded, &device), expected);
    write_forecasts(&adapter_dir, &expected);
}
