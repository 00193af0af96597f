//! TimesFM 2.5 fine-tuning: the recipe's loss (transformers' `TimesFm2_5ModelForPrediction`
//! loss with the quantile levels paired with their own channels) and every gradient against
//! tests/data/timesfm/train, with and without flip invariance and the continuous quantile head;
//! the same through `Forecaster::loss`; a few Adam steps lowering it, in full and LoRA mode.

mod timesfm_common;

use std::collections::HashMap;

use burn::Tensor;
use burn::module::Module;
use burn::tensor::{Device, TensorData};
use timesfm_common::*;
use tsfm_models::checkpoint::{HostTensor, TensorMap};
use tsfm_models::chronos_bolt::loss::Target;
use tsfm_models::lora::{LoraConfig, TargetModules};
use tsfm_models::nn::hf_tensors_unmerged;
use tsfm_models::timesfm::{ForecastConfig, ForecastSettings, TimesFmModel};
use tsfm_models::{FinetuneMode, ForecastInput, Forecaster, LoadOptions, LossKind};

fn train(file: &str) -> TensorMap {
    fixture("train", file)
}

/// The fixture's context rows with NaN where masked, and its targets.
fn batch() -> (Vec<Vec<f32>>, HostTensor) {
    let inputs = train("inputs.safetensors");
    let (context, masks) = (&inputs["context"], &inputs["masks"]);
    let data: Vec<f32> = context
        .data
        .iter()
        .zip(&masks.data)
        .map(|(v, m)| if *m != 0.0 { f32::NAN } else { *v })
        .collect();
    (
        data.chunks(64).map(<[f32]>::to_vec).collect(),
        inputs["targets"].clone(),
    )
}

fn settings(flip_and_continuous: bool) -> ForecastSettings {
    ForecastSettings {
        max_context: 64,
        max_horizon: None,
        normalize_inputs: true,
        use_continuous_quantile_head: flip_and_continuous,
        force_flip_invariance: flip_and_continuous,
        infer_is_positive: false,
        fix_quantile_crossing: false,
    }
}

fn check_case(case: &str, flip_and_continuous: bool) {
    let device = Device::flex().autodiff();
    let model = model(&device);
    let (rows, targets) = batch();
    let expected = train("outputs.safetensors");
    let fc: ForecastConfig = settings(flip_and_continuous).config(16);
    let (preds, _) = model.normalised_forecast(&rows, 12, &fc).unwrap();
    assert_close(
        &format!("{case} predictions"),
        &to_host(preds),
        &expected[&format!("pred_normalized_{case}")],
    );
    let target = Target::from_nan(to_tensor::<2>(&targets, &device), None);
    let loss = model
        .recipe_loss(&rows, target, &fc, LossKind::Native)
        .unwrap();
    assert_close(
        &format!("{case} loss"),
        &to_host(loss.clone()),
        &expected[&format!("loss_{case}")],
    );
    let mut grads = model.hf_gradients(&loss.backward());
    // Parameters outside the graph (the quantile head without the continuous head) have no
    // gradient here; PyTorch reports zeros for them.
    for (name, e) in train(&format!("grads_{case}.safetensors")) {
        grads
            .entry(name)
            .or_insert_with(|| HostTensor::new(e.shape.clone(), vec![0.0; e.data.len()]));
    }
    assert_grads_close(case, &grads, &train(&format!("grads_{case}.safetensors")));

    // The same loss through the Forecaster, from a `[rows, t, 1]` batch with masks.
    let model = model.with_forecast_settings(settings(flip_and_continuous));
    let input = forecast_input(&device);
    for kind in [LossKind::Native, LossKind::Quantile] {
        assert_close(
            &format!("{case} Forecaster::loss"),
            &to_host(model.loss(&input, kind)),
            &expected[&format!("loss_{case}")],
        );
    }
}

fn forecast_input(device: &Device) -> ForecastInput {
    let inputs = train("inputs.safetensors");
    let as3 = |t: &HostTensor| {
        Tensor::<3>::from_data(TensorData::new(t.data.clone(), [4, t.shape[1], 1]), device)
    };
    let observed: Vec<f32> = inputs["masks"].data.iter().map(|m| 1.0 - m).collect();
    let mut input = ForecastInput::context(as3(&inputs["context"]));
    input.past_observed_mask = Some(as3(&HostTensor::new(vec![4, 64], observed)));
    input.future_values = Some(as3(&inputs["targets"]));
    input
}

#[test]
fn loss_and_every_gradient_match_with_flip_invariance_and_the_continuous_head() {
    check_case("flip_cont", true);
}

#[test]
fn loss_and_every_gradient_match_without_them() {
    check_case("plain", false);
}

#[test]
fn point_losses_train_the_median_in_the_normalised_space() {
    let device = Device::flex();
    let model = model(&device).with_forecast_settings(settings(false));
    let expected = train("outputs.safetensors");
    let preds = &expected["pred_normalized_plain"];
    let y = &expected["targets_normalized"];
    let median: Vec<f32> = preds.data.chunks(10).map(|c| c[5]).collect();
    let mse = median
        .iter()
        .zip(&y.data)
        .map(|(p, t)| (p - t).powi(2))
        .sum::<f32>()
        / 48.0;
    let got = to_host(model.loss(&forecast_input(&device), LossKind::Mse)).data[0];
    assert!((got - mse).abs() < 1e-4 * mse.max(1.0), "{got} vs {mse}");
}

fn adam_losses(mut model: TimesFmModel, device: &Device) -> (Vec<f32>, TimesFmModel) {
    let input = forecast_input(device);
    let mut moments = HashMap::new();
    let mut losses = Vec::new();
    for step in 1..=8 {
        let loss = model.loss(&input, LossKind::Native);
        losses.push(to_host(loss.clone()).data[0]);
        let grads = loss.backward();
        model = model.map(&mut Adam {
            grads: &grads,
            moments: &mut moments,
            step,
            lr: 1e-2,
        });
    }
    losses.push(to_host(model.loss(&input, LossKind::Native)).data[0]);
    (losses, model)
}

#[test]
fn a_few_adam_steps_lower_the_loss_in_full_and_lora_mode() {
    let device = Device::flex().autodiff();
    let (full, _) = adam_losses(
        model(&device).with_forecast_settings(settings(true)),
        &device,
    );
    assert!(
        full.iter().all(|l| l.is_finite()) && full[8] < 0.8 * full[0],
        "{full:?}"
    );

    let options = LoadOptions {
        lora: Some(LoraConfig {
            rank: 4,
            alpha: 8.0,
            dropout: 0.0,
            target_modules: TargetModules::Default,
            use_rslora: false,
            seed: 3,
        }),
        timesfm: Some(settings(true)),
    };
    let lora = TimesFmModel::from_pretrained_with(&model_dir(), &device, &options)
        .unwrap()
        .0;
    let lora = lora.with_finetune_mode(FinetuneMode::Lora);
    let base = |m: &TimesFmModel| -> TensorMap {
        hf_tensors_unmerged(m)
            .into_iter()
            .filter(|(n, _)| !n.contains("lora_"))
            .collect()
    };
    // Every linear layer has an adapter (rank 4: 4 x (in + out) parameters each).
    let per_linear: usize = base(&lora)
        .into_iter()
        .filter(|(n, t)| n.ends_with(".weight") && t.shape.len() == 2)
        .map(|(_, t)| 4 * (t.shape[0] + t.shape[1]))
        .sum();
    assert_eq!(lora.param_counts().trainable, per_linear);
    let before = base(&lora);
    let (losses, trained) = adam_losses(lora, &device);
    assert!(losses[8] < 0.95 * losses[0], "{losses:?}");
    // Only the adapters train: the base weights are where they were.
    assert_eq!(base(&trained), before);
}
