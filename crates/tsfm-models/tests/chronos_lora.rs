//! LoRA on the Chronos families through the generic `nn::Linear` adapters: the default targets
//! (`q`, `k`, `v`, `o` of every attention), a fresh adapter changing nothing, only adapters
//! receiving gradients of the native loss, and the merged checkpoint forecasting as the
//! adapted model.

mod chronos_bolt_common;
mod lora_common;

use burn::Tensor;
use burn::tensor::{Device, TensorData};
use chronos_bolt_common::*;
use lora_common::perturb;
use tsfm_models::chronos::ChronosModel;
use tsfm_models::chronos_bolt::ChronosBoltModel;
use tsfm_models::lora::{LoraConfig, TargetModules};
use tsfm_models::nn::hf_grads;
use tsfm_models::{FinetuneMode, ForecastInput, Forecaster, LoadOptions, LossKind};

fn options() -> LoadOptions {
    LoadOptions {
        lora: Some(LoraConfig {
            rank: 2,
            alpha: 4.0,
            dropout: 0.0,
            target_modules: TargetModules::Default,
            use_rslora: false,
            seed: 5,
        }),
        ..Default::default()
    }
}

/// The Bolt fixture's context `[4, 64]` as a one-channel batch with a 16-step target.
fn bolt_batch(device: &Device) -> ForecastInput {
    let context = &fixture("inputs.safetensors")["context"];
    let (b, t) = (context.shape[0], context.shape[1]);
    let values: Vec<f32> = context
        .data
        .iter()
        .map(|v| if v.is_nan() { 0.0 } else { *v })
        .collect();
    let mask: Vec<f32> = context
        .data
        .iter()
        .map(|v| if v.is_nan() { 0.0 } else { 1.0 })
        .collect();
    let mut input = ForecastInput::context(Tensor::from_data(
        TensorData::new(values.clone(), [b, t, 1]),
        device,
    ));
    input.past_observed_mask = Some(Tensor::from_data(TensorData::new(mask, [b, t, 1]), device));
    // The last 16 observed values of each row, shifted, stand in for a target.
    let future: Vec<f32> = (0..b)
        .flat_map(|r| values[r * t + t - 16..(r + 1) * t].to_vec())
        .collect();
    input.future_values = Some(Tensor::from_data(
        TensorData::new(future, [b, 16, 1]),
        device,
    ));
    input
}

fn max_abs_diff(a: Tensor<3>, b: Tensor<3>) -> f32 {
    let (a, b) = (to_host(a), to_host(b));
    a.data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn bolt_adapters_train_alone_and_merge_into_an_ordinary_checkpoint() {
    let device = Device::flex();
    let (base, _) = ChronosBoltModel::from_pretrained(&model_dir(), &device).unwrap();
    let (adapted, _) =
        ChronosBoltModel::from_pretrained_with(&model_dir(), &device, &options()).unwrap();
    let batch = bolt_batch(&device);
    // B = 0: the adapted model is the base model, bit for bit.
    let (p0, p1) = (
        base.forecast(&batch).unwrap().point,
        adapted.forecast(&batch).unwrap().point,
    );
    assert_eq!(to_host(p0.clone()).data, to_host(p1).data);

    // Default targets: q, k, v, o of 2 encoder self-attentions and 2 x 2 decoder attentions.
    let auto = Device::flex().autodiff();
    let (model, _) =
        ChronosBoltModel::from_pretrained_with(&model_dir(), &auto, &options()).unwrap();
    let model = model
        .apply_finetune_mode(FinetuneMode::Lora)
        .with_dropout(false);
    // 24 adapted layers of 16 -> 16 at rank 2: 24 * 2 * (16 + 16) parameters.
    assert_eq!(model.param_counts().trainable, 24 * 2 * 32);
    let grads = model.loss(&bolt_batch(&auto), LossKind::Native).backward();
    let named = hf_grads(&model, &grads);
    assert_eq!(named.len(), 48);
    assert!(
        named
            .keys()
            .all(|k| k.ends_with(".lora_A.weight") || k.ends_with(".lora_B.weight")),
        "{:?}",
        named.keys()
    );

    // Trained adapters (perturbed B) merge into the weights: a plain reload forecasts the same.
    let trained = perturb(adapted);
    let p_trained = trained.forecast(&batch).unwrap().point;
    assert!(
        max_abs_diff(p_trained.clone(), p0) > 1e-3,
        "the adapters must matter"
    );
    let dir = tempfile::tempdir().unwrap();
    trained.save_pretrained(dir.path()).unwrap();
    let (merged, warnings) = ChronosBoltModel::from_pretrained(dir.path(), &device).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let diff = max_abs_diff(merged.forecast(&batch).unwrap().point, p_trained);
    assert!(diff < 1e-4, "merged vs adapted: {diff}");
}

#[test]
fn chronos_t5_adapters_train_alone() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/chronos-t5/model");
    let auto = Device::flex().autodiff();
    let (model, _) = ChronosModel::from_pretrained_with(&dir, &auto, &options()).unwrap();
    let model = model
        .apply_finetune_mode(FinetuneMode::Lora)
        .with_dropout(false);
    assert_eq!(model.param_counts().trainable, 24 * 2 * 32);
    let grads = model.loss(&bolt_batch(&auto), LossKind::Native).backward();
    let named = hf_grads(&model, &grads);
    assert!(!named.is_empty());
    assert!(
        named.keys().all(|k| k.contains(".lora_")),
        "{:?}",
        named.keys()
    );
}
