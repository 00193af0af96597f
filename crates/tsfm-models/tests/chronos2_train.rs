//! Chronos-2 fine-tuning on the fixture model: `fit`'s longer context and horizon recorded in
//! the saved config (positions unchanged), and the loss falling over Adam steps in full and
//! LoRA mode, univariate on a horizon beyond the checkpoint's output patches and grouped with a
//! past-only and a known-future covariate (the package's training batch).

#[path = "chronos_bolt_common/mod.rs"]
mod bolt;

use std::collections::HashMap;
use std::path::PathBuf;

use bolt::{Adam, load, to_host, to_tensor};
use burn::Tensor;
use burn::module::Module;
use burn::tensor::Device;
use tsfm_models::checkpoint::{HostTensor, TensorMap};
use tsfm_models::lora::{LoraConfig, TargetModules};
use tsfm_models::nn::hf_tensors_unmerged;
use tsfm_models::{
    Chronos2Model, FinetuneMode, ForecastInput, ForecastOptions, Forecaster, LoadOptions, LossKind,
};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/chronos2")
}

fn model_dir() -> PathBuf {
    data_dir().join("model")
}

fn model(device: &Device) -> Chronos2Model {
    Chronos2Model::from_pretrained(&model_dir(), device)
        .unwrap()
        .0
}

/// The fixture's two 64-step series: `context` steps of history, the next `horizon` as targets.
fn batch(context: usize, horizon: usize, device: &Device) -> ForecastInput {
    let x = &load(&data_dir().join("inputs.safetensors"))["multivariate_input"];
    let x = to_tensor::<2>(x, device).unsqueeze_dim::<3>(2);
    let mut input = ForecastInput::context(x.clone().narrow(1, 0, context));
    input.future_values = Some(x.narrow(1, context, horizon));
    input
}

#[test]
fn fit_lengths_grow_the_context_and_output_patches_and_the_saved_config_records_them() {
    let device = Device::flex();
    let original = model(&device);
    assert_eq!(
        (original.context_length(), original.prediction_length()),
        (64, 32)
    );
    // Shorter than the checkpoint's: nothing changes but the pinned time scale.
    let same = model(&device).fit_lengths(32, 16);
    assert_eq!((same.context_length(), same.prediction_length()), (64, 32));
    assert_eq!(same.config.chronos.time_encoding_scale, Some(64));

    let grown = model(&device).fit_lengths(128, 40);
    assert_eq!(grown.context_length(), 128);
    // ceil(40 / 16) = 3 output patches of 16.
    assert_eq!(grown.config.chronos.max_output_patches, 3);
    assert_eq!(grown.prediction_length(), 48);

    // A 40-step context reads the same positions (the time encoding keeps its divisor): the
    // first two patches of the grown model's one pass are the original model's forecast.
    let input = batch(40, 24, &device);
    let options = ForecastOptions {
        horizon: Some(32),
        ..Default::default()
    };
    let want = to_host(original.forecast_with(&input, &options).unwrap().point);
    let got = to_host(grown.forecast_with(&input, &options).unwrap().point);
    assert_eq!(got.data, want.data);

    let dir = tempfile::tempdir().unwrap();
    grown.save_pretrained(dir.path()).unwrap();
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    let c = &config["chronos_config"];
    assert_eq!(c["context_length"], 128);
    assert_eq!(c["max_output_patches"], 3);
    assert_eq!(c["time_encoding_scale"], 64);
    let reloaded = Chronos2Model::from_pretrained(dir.path(), &device)
        .unwrap()
        .0;
    assert_eq!(
        (reloaded.context_length(), reloaded.prediction_length()),
        (128, 48)
    );
}

fn adam_losses(
    mut model: Chronos2Model,
    input: &ForecastInput,
    steps: i32,
) -> (Vec<f32>, Chronos2Model) {
    let mut moments = HashMap::new();
    let mut losses = Vec::new();
    for step in 1..=steps {
        let loss = model.loss(input, LossKind::Native);
        losses.push(to_host(loss.clone()).data[0]);
        let grads = loss.backward();
        model = model.map(&mut Adam {
            grads: &grads,
            moments: &mut moments,
            step,
            lr: 5e-3,
        });
    }
    losses.push(to_host(model.loss(input, LossKind::Native)).data[0]);
    (losses, model)
}

/// Every loss finite, the last well under the first, and no step more than 5 % above the
/// running best (Adam at this rate may wobble, never climb).
fn check_falls(losses: &[f32], factor: f32) {
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    assert!(*losses.last().unwrap() < factor * losses[0], "{losses:?}");
    let mut best = losses[0];
    for &l in losses {
        assert!(l <= 1.05 * best, "{losses:?}");
        best = best.min(l);
    }
}

#[test]
fn full_and_lora_fine_tuning_lower_the_loss_beyond_the_checkpoint_horizon() {
    let device = Device::flex().autodiff();
    device.seed(0);
    // 16 steps of history, 48 ahead: three output patches where the checkpoint has two.
    let input = batch(16, 48, &device);
    let full = model(&device).fit_lengths(16, 48).with_dropout(false);
    let (losses, _) = adam_losses(full, &input, 20);
    check_falls(&losses, 0.7);

    let options = LoadOptions {
        lora: Some(LoraConfig {
            rank: 8,
            alpha: 16.0,
            dropout: 0.0,
            target_modules: TargetModules::Default,
            use_rslora: false,
            seed: 3,
        }),
        timesfm: None,
    };
    let lora = Chronos2Model::from_pretrained_with(&model_dir(), &device, &options)
        .unwrap()
        .0
        .fit_lengths(16, 48)
        .with_dropout(false)
        .apply_finetune_mode(FinetuneMode::Lora);
    let base = |m: &Chronos2Model| -> TensorMap {
        hf_tensors_unmerged(m)
            .into_iter()
            .filter(|(n, _)| !n.contains("lora_"))
            .collect()
    };
    let before = base(&lora);
    let (losses, trained) = adam_losses(lora, &input, 20);
    check_falls(&losses, 0.9);
    assert_eq!(base(&trained), before);
}

/// Rows `rows` of a `[n, len]` fixture tensor as `[rows / c, len, c]`: window `w` takes rows
/// `rows[w * c .. (w + 1) * c]` as its channels.
fn windows(t: &HostTensor, rows: &[usize], c: usize, device: &Device) -> Tensor<3> {
    let len = t.shape[1];
    let mut data = vec![0f32; rows.len() * len];
    for (i, &r) in rows.iter().enumerate() {
        let (w, k) = (i / c, i % c);
        for step in 0..len {
            data[(w * len + step) * c + k] = t.data[r * len + step];
        }
    }
    Tensor::from_data(
        burn::tensor::TensorData::new(data, [rows.len() / c, len, c]),
        device,
    )
}

/// The package's training batch: two groups of [target, past-only, known-future], 64 steps of
/// history, 24 ahead, the known-future row's next values given.
fn grouped_batch(device: &Device) -> ForecastInput {
    let inputs = load(&data_dir().join("inputs.safetensors"));
    let context = &inputs["train_context"];
    let mut input = ForecastInput::context(windows(context, &[0, 3], 1, device));
    input.past_covariates = Some(windows(context, &[1, 2, 4, 5], 2, device));
    input.future_values = Some(windows(&inputs["train_future_target"], &[0, 3], 1, device));
    input.future_covariates = Some(windows(
        &inputs["train_future_covariates"],
        &[2, 5],
        1,
        device,
    ));
    input
}

#[test]
fn full_and_lora_fine_tuning_with_covariates_lower_the_loss() {
    let device = Device::flex().autodiff();
    device.seed(0);
    let input = grouped_batch(&device);
    let full = model(&device).with_dropout(false);
    full.check_input(&input).unwrap();
    let (losses, _) = adam_losses(full, &input, 20);
    check_falls(&losses, 0.7);

    let options = LoadOptions {
        lora: Some(LoraConfig {
            rank: 8,
            alpha: 16.0,
            dropout: 0.0,
            target_modules: TargetModules::Default,
            use_rslora: false,
            seed: 3,
        }),
        timesfm: None,
    };
    let lora = Chronos2Model::from_pretrained_with(&model_dir(), &device, &options)
        .unwrap()
        .0
        .with_dropout(false)
        .apply_finetune_mode(FinetuneMode::Lora);
    let (losses, _) = adam_losses(lora, &input, 20);
    check_falls(&losses, 0.9);
}
