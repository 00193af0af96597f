//! Chronos-Bolt against chronos-forecasting 2.3.2 on the reference fixture: every intermediate
//! of one forward pass, the pipeline's forecast, its 2H rollout and `predict_quantiles`.

mod chronos_bolt_common;

use burn::tensor::Device;
use chronos_bolt_common::*;
use tsfm_models::chronos_bolt::ChronosBoltModel;
use tsfm_models::chronos_bolt::scaler::Context;

fn setup() -> (ChronosBoltModel, Context, Vec<f32>) {
    let device = Device::flex();
    let (model, warnings) = ChronosBoltModel::from_pretrained(&model_dir(), &device).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let context = to_tensor::<2>(&fixture("inputs.safetensors")["context"], &device);
    let scales = fixture("outputs.safetensors")["scale"].data.clone();
    (model, Context::from_nan(context, None), scales)
}

#[test]
fn forward_matches_every_intermediate() {
    let (model, context, scales) = setup();
    let expected = fixture("outputs.safetensors");
    let out = model.forward(context);
    let check = |name: &str, actual| assert_close(name, &actual, &expected[name]);
    check("loc", to_host(out.loc_scale.loc.clone()));
    check("scale", to_host(out.loc_scale.scale.clone()));
    check("input_embeds", to_host(out.input_embeds.clone()));
    check("attention_mask", to_host(out.attention_mask.clone()));
    check(
        "encoder_hidden_states",
        to_host(out.encoder_hidden_states.clone()),
    );
    check(
        "decoder_hidden_state",
        to_host(out.decoder_hidden_state.clone()),
    );
    assert_close_scaled(
        "quantile_preds",
        &to_host(out.quantile_preds()),
        &expected["quantile_preds"],
        &scales,
    );
}

#[test]
fn pipeline_predict_rollout_and_quantiles_match() {
    let (model, context, scales) = setup();
    let expected = fixture("outputs.safetensors");
    let one = model.predict(context.clone(), 16);
    assert_close_scaled(
        "pipeline_predict",
        &to_host(one),
        &expected["pipeline_predict"],
        &scales,
    );
    let two = model.predict(context.clone(), 32);
    assert_close_scaled(
        "pipeline_predict_2h",
        &to_host(two),
        &expected["pipeline_predict_2h"],
        &scales,
    );
    let (q, mean) = model.predict_quantiles(context, 16, &[0.1, 0.5, 0.9]);
    assert_close_scaled(
        "predict_quantiles_q",
        &to_host(q),
        &expected["predict_quantiles_q"],
        &scales,
    );
    assert_close_scaled(
        "predict_quantiles_mean",
        &to_host(mean),
        &expected["predict_quantiles_mean"],
        &scales,
    );
}
