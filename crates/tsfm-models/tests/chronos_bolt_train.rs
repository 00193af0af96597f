//! Chronos-Bolt training: the package's loss and every gradient (eval mode) on the training
//! fixture, through the model and through `Forecaster::loss`, and a fine-tuning smoke test.

mod chronos_bolt_common;

use std::collections::HashMap;

use burn::module::Module;
use burn::tensor::Device;
use chronos_bolt_common::*;
use tsfm_models::checkpoint::HostTensor;
use tsfm_models::chronos_bolt::ChronosBoltModel;
use tsfm_models::chronos_bolt::loss::Target;
use tsfm_models::chronos_bolt::scaler::Context;
use tsfm_models::{ForecastInput, Forecaster, LossKind};

fn train_file(file: &str) -> tsfm_models::checkpoint::TensorMap {
    load(&fixture_dir("chronos-bolt-train").join(file))
}

/// One case of the training fixture: loss, normalised predictions and gradients.
fn check_case(suffix: &str, explicit_masks: bool) {
    let device = Device::flex().autodiff();
    let model = ChronosBoltModel::from_pretrained(&model_dir(), &device)
        .unwrap()
        .0
        .with_dropout(false);
    let inputs = train_file("inputs.safetensors");
    let expected = train_file("outputs.safetensors");
    let get = |name: &str| to_tensor::<2>(&inputs[&format!("{name}{suffix}")], &device);
    let mask = |name: &str| explicit_masks.then(|| get(name));
    let context = Context::from_nan(get("context"), mask("mask"));
    let target = Target::from_nan(get("target"), mask("target_mask"));
    let out = model.forward(context.clone());
    let want = |name: &str| &expected[&format!("{name}{suffix}")];
    assert_close("loc", &to_host(out.loc_scale.loc.clone()), want("loc"));
    assert_close(
        "scale",
        &to_host(out.loc_scale.scale.clone()),
        want("scale"),
    );
    assert_close(
        "quantile_preds_normalized",
        &to_host(out.normalised_quantiles.clone()),
        want("quantile_preds_normalized"),
    );
    let loss = model.quantile_loss(context, target);
    let value = to_host(loss.clone());
    assert_close("loss", &value, want("loss"));
    let grads = loss.backward();
    let actual = model.hf_gradients(&grads);
    let file = format!("grads{suffix}.safetensors");
    assert_grads_close("chronos-bolt-train", &actual, &train_file(&file));

    // The same loss through the Forecaster: `[series, t, 1]` inputs with their masks.
    let as_input = |name: &str| get(name).unsqueeze_dim::<3>(2);
    let mut input = ForecastInput::context(as_input("context"));
    input.future_values = Some(as_input("target"));
    if explicit_masks {
        input.past_observed_mask = Some(as_input("mask"));
        input.future_observed_mask = Some(as_input("target_mask"));
    }
    for kind in [LossKind::Native, LossKind::Quantile] {
        let via_trait: HostTensor = to_host(model.loss(&input, kind));
        assert_close("Forecaster::loss", &via_trait, want("loss"));
    }
}

#[test]
fn loss_and_every_gradient_match_the_package_with_explicit_masks() {
    check_case("", true);
}

#[test]
fn loss_and_gradients_match_for_a_long_context_and_a_short_target() {
    check_case("_long", false);
}

#[test]
fn a_few_adam_steps_lower_the_quantile_loss() {
    let device = Device::flex().autodiff();
    device.seed(0);
    let mut model = ChronosBoltModel::from_pretrained(&model_dir(), &device)
        .unwrap()
        .0;
    // The fixture's series: the first 48 steps are the context, the next 16 the target.
    let context = fixture("inputs.safetensors")["context"].clone();
    let full = to_tensor::<2>(&context, &device).unsqueeze_dim::<3>(2);
    let observed = full.clone().is_nan().bool_not().float();
    let values = full.clone().mask_fill(full.is_nan(), 0.0);
    let mut input = ForecastInput::context(values.clone().narrow(1, 0, 48));
    input.past_observed_mask = Some(observed.clone().narrow(1, 0, 48));
    input.future_values = Some(values.narrow(1, 48, 16));
    input.future_observed_mask = Some(observed.narrow(1, 48, 16));

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
    let last = to_host(model.loss(&input, LossKind::Native)).data[0];
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    assert!(
        last < 0.8 * losses[0],
        "loss {} -> {last}: {losses:?}",
        losses[0]
    );
}
