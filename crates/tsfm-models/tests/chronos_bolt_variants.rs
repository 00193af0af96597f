//! Chronos-Bolt configurations other than the reference fixture's, each against the package:
//! gated-GELU, no `[REG]` token, overlapping patches, a context length that is not a multiple
//! of the patch with a longer input, and 3/1 layers with `heads x d_kv != d_model` and five
//! quantile levels. Every intermediate, the pipeline at H and 3H, `predict_quantiles` with
//! interpolated levels, the loss and every gradient.

mod chronos_bolt_common;

use burn::tensor::Device;
use chronos_bolt_common::*;
use tsfm_models::checkpoint::TensorMap;
use tsfm_models::chronos_bolt::ChronosBoltModel;
use tsfm_models::chronos_bolt::loss::Target;
use tsfm_models::chronos_bolt::scaler::{Context, instance_norm, patchify};

/// The levels the fixture asks `predict_quantiles` for (not all among any variant's).
const LEVELS: [f32; 7] = [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95];

struct Variant {
    model: ChronosBoltModel,
    inputs: TensorMap,
    expected: TensorMap,
    grads: TensorMap,
    /// Per-series scales: data-unit outputs carry the normalised error times the scale.
    scales: Vec<f32>,
}

fn variant(name: &str, device: &Device) -> Variant {
    let dir = fixture_dir("chronos-bolt-variants").join(name);
    let (model, warnings) = ChronosBoltModel::from_pretrained(&dir.join("model"), device).unwrap();
    assert!(warnings.is_empty(), "{name}: {warnings:?}");
    let expected = load(&dir.join("outputs.safetensors"));
    Variant {
        model,
        inputs: load(&dir.join("inputs.safetensors")),
        scales: expected["scale"].data.clone(),
        expected,
        grads: load(&dir.join("grads.safetensors")),
    }
}

fn check_forward(name: &str, v: &Variant, device: &Device) {
    let context = Context::from_nan(to_tensor::<2>(&v.inputs["context"], device), None);
    let chronos = &v.model.config.chronos;
    let last = context.clone().last(chronos.context_length);
    let (scaled, _) = instance_norm(&last);
    let (patches, _) = patchify(
        scaled,
        last.observed,
        chronos.input_patch_size,
        chronos.input_patch_stride,
    );
    let out = v.model.forward(context);
    let e = &v.expected;
    let check = |what: &str, actual| assert_close(&format!("{name} {what}"), &actual, &e[what]);
    check("loc", to_host(out.loc_scale.loc.clone()));
    check("scale", to_host(out.loc_scale.scale.clone()));
    check("patched_context", to_host(patches));
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
    check(
        "quantile_preds_normalized",
        to_host(out.normalised_quantiles.clone()),
    );
    assert_close_scaled(
        &format!("{name} quantile_preds"),
        &to_host(out.quantile_preds()),
        &e["quantile_preds"],
        &v.scales,
    );
}

fn check_pipeline(name: &str, v: &Variant, device: &Device) {
    let context = Context::from_nan(to_tensor::<2>(&v.inputs["context"], device), None);
    let h = v.model.config.chronos.prediction_length;
    let names = [
        (
            h,
            "pipeline_predict",
            "predict_quantiles_q",
            "predict_quantiles_mean",
        ),
        (
            3 * h,
            "pipeline_predict_3h",
            "predict_quantiles_3h_q",
            "predict_quantiles_3h_mean",
        ),
    ];
    for (steps, predict, quantiles, mean) in names {
        let close = |what: &str, actual| {
            let (label, e) = (format!("{name} {what}"), &v.expected[what]);
            if steps > h {
                assert_close_rollout(&label, &actual, e, &v.scales);
            } else {
                assert_close_scaled(&label, &actual, e, &v.scales);
            }
        };
        close(predict, to_host(v.model.predict(context.clone(), steps)));
        let (q, m) = v.model.predict_quantiles(context.clone(), steps, &LEVELS);
        close(quantiles, to_host(q));
        close(mean, to_host(m));
    }
}

fn check_training(name: &str) {
    let device = Device::flex().autodiff();
    let v = variant(name, &device);
    let model = v.model.with_dropout(false);
    let get = |what: &str| to_tensor::<2>(&v.inputs[what], &device);
    let context = Context::from_nan(get("context"), Some(get("mask")));
    let target = Target::from_nan(get("target"), Some(get("target_mask")));
    let loss = model.quantile_loss(context, target);
    assert_close(
        &format!("{name} loss"),
        &to_host(loss.clone()),
        &v.expected["loss"],
    );
    let grads = model.hf_gradients(&loss.backward());
    assert_grads_close(name, &grads, &v.grads);
}

fn check(name: &str) {
    let device = Device::flex();
    let v = variant(name, &device);
    check_forward(name, &v, &device);
    check_pipeline(name, &v, &device);
    check_training(name);
}

#[test]
fn gated_gelu() {
    check("gated-gelu");
}

#[test]
fn no_reg_token() {
    check("no-reg");
}

#[test]
fn overlapping_patches() {
    check("patch16-stride8");
}

#[test]
fn context_not_a_multiple_of_the_patch_and_longer_input() {
    check("ctx60-long");
}

#[test]
fn asymmetric_layers_and_five_quantiles() {
    check("asym-layers");
}
