//! Numerical parity with granite-tsfm 0.3.11 on the `ttm-tiny` fixture (three adaptive
//! patching levels, decoder with adapter): outputs, every hidden state, the masked case, the MSE
//! loss and the gradient of every one of the 134 parameters.

mod ttm_common;

use burn::tensor::Device;
use tsfm_models::ttm::{TtmInput, TtmModel};
use tsfm_models::{ForecastInput, Forecaster, LossKind};
use ttm_common::*;

fn load(device: &Device) -> TtmModel {
    let (model, warnings) = TtmModel::from_pretrained(&model_dir(), device).expect("fixture loads");
    assert!(warnings.is_empty(), "{warnings:?}");
    model
}

#[test]
fn forward_matches_prediction_loc_scale_and_every_hidden_state() {
    let device = Device::flex();
    let model = load(&device);
    let inputs = fixture("inputs.safetensors");
    let expected = fixture("outputs.safetensors");
    let past = to_tensor::<3>(&inputs["past_values"], &device);
    let out = model.forward(&TtmInput::new(past), true);

    assert_close(
        "prediction_outputs",
        &to_host(out.prediction),
        &expected["prediction_outputs"],
    );
    assert_close("loc", &to_host(out.loc), &expected["loc"]);
    assert_close("scale", &to_host(out.scale), &expected["scale"]);
    assert_close(
        "backbone_hidden_state",
        &to_host(out.backbone_hidden_state),
        &expected["backbone_hidden_state"],
    );
    assert_close(
        "decoder_hidden_state",
        &to_host(out.decoder_hidden_state),
        &expected["decoder_hidden_state"],
    );
    let hidden = out.hidden_states.expect("requested");
    let n_expected = expected
        .keys()
        .filter(|k| k.starts_with("hidden_states."))
        .count();
    assert_eq!(n_expected, 18);
    assert_eq!(hidden.len(), n_expected);
    for (i, h) in hidden.into_iter().enumerate() {
        let name = format!("hidden_states.{i}");
        assert_close(&name, &to_host(h), &expected[&name]);
    }
}

#[test]
fn masked_context_matches_reference() {
    let device = Device::flex();
    let model = load(&device);
    let inputs = fixture("inputs.safetensors");
    let expected = fixture("outputs.safetensors");
    let mut input = TtmInput::new(to_tensor::<3>(&inputs["masked_past_values"], &device));
    input.past_observed_mask = Some(to_tensor::<3>(
        &inputs["masked_past_observed_mask"],
        &device,
    ));
    let out = model.forward(&input, false);
    assert_close(
        "masked_prediction_outputs",
        &to_host(out.prediction),
        &expected["masked_prediction_outputs"],
    );
    assert_close("masked_loc", &to_host(out.loc), &expected["masked_loc"]);
    assert_close(
        "masked_scale",
        &to_host(out.scale),
        &expected["masked_scale"],
    );
}

#[test]
fn forecaster_forecast_equals_reference_prediction() {
    let device = Device::flex();
    let model = load(&device);
    let inputs = fixture("inputs.safetensors");
    let expected = fixture("outputs.safetensors");
    let f = model
        .forecast(&ForecastInput::context(to_tensor::<3>(
            &inputs["past_values"],
            &device,
        )))
        .unwrap();
    assert!(f.quantiles.is_none());
    assert!(f.quantile_levels.is_empty());
    assert_close(
        "forecast.point",
        &to_host(f.point),
        &expected["prediction_outputs"],
    );
}

#[test]
fn mse_loss_and_all_134_gradients_match_reference() {
    let device = Device::flex().autodiff();
    let model = load(&device);
    let inputs = fixture("inputs.safetensors");
    let expected = fixture("outputs.safetensors");
    let expected_grads = fixture("grads.safetensors");
    assert_eq!(expected_grads.len(), 134);

    let mut batch = ForecastInput::context(to_tensor::<3>(&inputs["past_values"], &device));
    batch.future_values = Some(to_tensor::<3>(&inputs["future_values"], &device));
    // The reference ran in eval mode: dropout off, gradients on.
    let model = model.with_dropout(false);
    let loss = model.loss(&batch, LossKind::Mse);
    assert_close("loss_mse", &to_host(loss.clone()), &expected["loss_mse"]);

    let grads = loss.backward();
    let ours = model.hf_gradients(&grads);
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        expected_grads.keys().collect::<Vec<_>>(),
        "gradient names"
    );
    for (name, g) in &expected_grads {
        assert_close(&format!("grad {name}"), &ours[name], g);
    }
}
