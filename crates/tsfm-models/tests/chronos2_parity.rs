//! Chronos-2 against chronos-forecasting 2.3.2 on the reference fixture
//! (tests/data/chronos2, made by the reference `make_reference.py`, `ref_chronos2`): every
//! intermediate of one forward pass, the grouped call with past-only and known-future
//! covariates, the training loss with every gradient, and the `save_pretrained` round trip.

#[path = "chronos_bolt_common/mod.rs"]
mod bolt;

use std::path::PathBuf;

use bolt::{assert_close, assert_close_scaled, assert_grads_close, load, to_host, to_tensor};
use burn::tensor::Device;
use tsfm_models::checkpoint::{HostTensor, TensorMap, load_safetensors};
use tsfm_models::chronos_bolt::loss::Target;
use tsfm_models::chronos_bolt::scaler::Context;
use tsfm_models::chronos2::pipeline::left_pad;
use tsfm_models::chronos2::{Chronos2Input, Chronos2Model, FutureCovariates};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/chronos2")
}

fn model_dir() -> PathBuf {
    data_dir().join("model")
}

fn fixture(file: &str) -> TensorMap {
    load(&data_dir().join(file))
}

fn model(device: &Device) -> Chronos2Model {
    let (model, warnings) = Chronos2Model::from_pretrained(&model_dir(), device).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    model
}

/// Largest |value| of each row of a `[rows, t]` input, at least 1: forecasts in data units
/// carry the normalised-space error times about this much (the manifest's forecast tolerance).
fn row_scales(t: &HostTensor) -> Vec<f32> {
    t.data
        .chunks(t.shape[1])
        .map(|r| {
            r.iter()
                .filter(|v| v.is_finite())
                .fold(1f32, |m, v| m.max(v.abs()))
        })
        .collect()
}

fn ids(t: &HostTensor) -> Vec<i64> {
    t.data.iter().map(|&v| v as i64).collect()
}

#[test]
fn forward_matches_every_intermediate() {
    let device = Device::flex();
    let model = model(&device);
    let inputs = fixture("inputs.safetensors");
    let expected = fixture("outputs.safetensors");
    let context = Context::from_nan(to_tensor::<2>(&inputs["context"], &device), None);
    let out = model
        .forward_with_attentions(Chronos2Input::univariate(context, 2))
        .unwrap();
    let check = |name: &str, actual| assert_close(name, &actual, &expected[name]);
    check("loc", to_host(out.normaliser.loc_scale.loc.clone()));
    check("scale", to_host(out.normaliser.loc_scale.scale.clone()));
    check("patched_context", to_host(out.patched_context.clone()));
    check(
        "context_patch_mask",
        to_host(out.context_patch_mask.clone()),
    );
    check("patched_future", to_host(out.patched_future.clone()));
    check("input_embeds", to_host(out.input_embeds.clone()));
    check("attention_mask", to_host(out.attention_mask.clone()));
    assert_eq!(out.encoder.blocks.len(), 2);
    for (i, block) in out.encoder.blocks.iter().enumerate() {
        check(
            &format!("block{i}_after_time_attention"),
            to_host(block.after_time_attention.clone()),
        );
        check(
            &format!("block{i}_after_group_attention"),
            to_host(block.after_group_attention.clone()),
        );
        check(
            &format!("block{i}_after_feed_forward"),
            to_host(block.after_feed_forward.clone()),
        );
        check(
            &format!("time_attention_weights_{i}"),
            to_host(block.time_attention_weights.clone().unwrap()),
        );
        check(
            &format!("group_attention_weights_{i}"),
            to_host(block.group_attention_weights.clone().unwrap()),
        );
    }
    check(
        "encoder_last_hidden_state",
        to_host(out.encoder.last_hidden_state.clone()),
    );
    check(
        "quantile_preds_normalized",
        to_host(out.normalised_quantiles.clone()),
    );
    assert_close_scaled(
        "quantile_preds",
        &to_host(out.quantile_preds()),
        &expected["quantile_preds"],
        &row_scales(&inputs["context"]),
    );
}

/// The model-level grouped call the pipeline makes for two tasks of [target, past-only
/// covariate, known-future covariate]: the batch, group ids and future covariates are the
/// fixture's (the pipeline's preprocessing is not exercised here).
#[test]
fn grouped_forward_with_covariates_matches() {
    let device = Device::flex();
    let model = model(&device);
    let expected = fixture("outputs.safetensors");
    let batch = &expected["grouped_batch_context"];
    let input = Chronos2Input {
        context: Context::from_nan(to_tensor::<2>(batch, &device), None),
        group_ids: Some(ids(&expected["grouped_batch_group_ids"])),
        future_covariates: Some(FutureCovariates::from_nan(to_tensor::<2>(
            &expected["grouped_batch_future_covariates"],
            &device,
        ))),
        num_output_patches: 2,
    };
    let preds = to_host(model.forward(input).unwrap().quantile_preds());
    let scales = row_scales(batch);
    assert_close_scaled(
        "grouped_forward_quantile_preds",
        &preds,
        &expected["grouped_forward_quantile_preds"],
        &scales,
    );
    // The pipeline's 24-step forecast is the target rows (0 and 3) of this call, cut to 24.
    let (q, h) = (preds.shape[1], preds.shape[2]);
    let mut cut = Vec::new();
    for row in [0, 3] {
        for level in 0..q {
            let start = (row * q + level) * h;
            cut.extend_from_slice(&preds.data[start..start + 24]);
        }
    }
    assert_close_scaled(
        "grouped_predict_h24",
        &HostTensor::new(vec![2, q, 24], cut),
        &expected["grouped_predict_h24"],
        &[scales[0], scales[3]],
    );
}

#[test]
fn training_loss_and_every_gradient_match() {
    let device = Device::flex().autodiff();
    // The reference is `model(**batch).loss` in eval mode: no dropout.
    let model = model(&device).with_dropout(false);
    let inputs = fixture("inputs.safetensors");
    let expected = fixture("outputs.safetensors");
    let n_out = inputs["train_num_output_patches"].data[0] as usize;
    let input = Chronos2Input {
        context: Context::from_nan(to_tensor::<2>(&inputs["train_context"], &device), None),
        group_ids: Some(ids(&inputs["train_group_ids"])),
        future_covariates: Some(FutureCovariates::from_nan(to_tensor::<2>(
            &inputs["train_future_covariates"],
            &device,
        ))),
        num_output_patches: n_out,
    };
    let target = Target::from_nan(
        to_tensor::<2>(&inputs["train_future_target"], &device),
        None,
    );
    let (loss, out) = model.quantile_loss(input, target).unwrap();
    assert_close(
        "train_loss",
        &to_host(loss.clone()),
        &expected["train_loss"],
    );
    assert_close(
        "train_quantile_preds_normalized",
        &to_host(out.normalised_quantiles.clone()),
        &expected["train_quantile_preds_normalized"],
    );
    assert_close_scaled(
        "train_quantile_preds",
        &to_host(out.quantile_preds()),
        &expected["train_quantile_preds"],
        &row_scales(&inputs["train_context"]),
    );
    let grads = model.hf_gradients(&loss.backward());
    assert_grads_close("train", &grads, &fixture("grads.safetensors"));
}

#[test]
fn save_pretrained_round_trips_names_shapes_and_values() {
    let device = Device::flex();
    let model = model(&device);
    let original = load_safetensors(&model_dir().join("model.safetensors")).unwrap();
    let state = model.hf_state_dict();
    assert_eq!(
        state.keys().collect::<Vec<_>>(),
        original.keys().collect::<Vec<_>>()
    );
    for (name, t) in &original {
        assert_eq!(&state[name], t, "{name}");
    }
    let dir = tempfile::tempdir().unwrap();
    model.save_pretrained_dir(dir.path()).unwrap();
    let saved = load_safetensors(&dir.path().join("model.safetensors")).unwrap();
    assert_eq!(saved, original);
    let read = |p: PathBuf| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    assert_eq!(
        read(dir.path().join("config.json")),
        read(model_dir().join("config.json"))
    );
    let (reloaded, warnings) = Chronos2Model::from_pretrained(dir.path(), &device).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(reloaded.config, model.config);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let device = Device::flex();
    let model = model(&device);
    let context = Context::from_nan(
        to_tensor::<2>(&fixture("inputs.safetensors")["context"], &device),
        None,
    );
    let err = |input: Chronos2Input| model.forward(input).unwrap_err().to_string();
    let mut input = Chronos2Input::univariate(context.clone(), 1);
    input.group_ids = Some(vec![0, 0, 1]);
    assert!(err(input).contains("3 group ids for 4 rows"));
    let mut input = Chronos2Input::univariate(context.clone(), 1);
    input.future_covariates = Some(FutureCovariates::from_nan(burn::Tensor::zeros(
        [4, 17],
        &device,
    )));
    let e = err(input);
    assert!(
        e.contains("17 steps, more than num_output_patches 1 x patch 16"),
        "{e}"
    );
    let e = err(Chronos2Input::univariate(context, 0));
    assert!(e.contains("num_output_patches must be at least 1"), "{e}");
}

/// The pipeline's four univariate inputs (lengths 64, 50, 40, 84) as one NaN-padded batch.
fn predict_inputs(inputs: &TensorMap, device: &Device) -> (Context, Vec<f32>) {
    let series: Vec<Vec<f32>> = (0..4)
        .map(|i| inputs[&format!("predict_input_{i}")].data.clone())
        .collect();
    let context_length = 64;
    let scales = series
        .iter()
        .map(|s| {
            s[s.len().saturating_sub(context_length)..]
                .iter()
                .filter(|v| v.is_finite())
                .fold(1f32, |m, v| m.max(v.abs()))
        })
        .collect();
    (left_pad(&series, device), scales)
}

#[test]
fn pipeline_predict_matches_one_pass_and_unrolled_horizons() {
    let device = Device::flex();
    let model = model(&device);
    let inputs = fixture("inputs.safetensors");
    let expected = fixture("outputs.safetensors");
    let (context, scales) = predict_inputs(&inputs, &device);
    let h24 = model.predict(context.clone(), None, 24).unwrap();
    assert_close_scaled(
        "predict_h24",
        &to_host(h24),
        &expected["predict_h24"],
        &scales,
    );
    let h70 = to_host(model.predict(context, None, 70).unwrap());
    let want = &expected["predict_h70"];
    // Steps 1-32 come from the first pass: the manifest's tolerance.
    let (got, exp) = (steps(&h70, 0, 32), steps(want, 0, 32));
    assert_close_scaled("predict_h70[..32]", &got, &exp, &scales);
    // Steps 33-70 read the first pass's forecasts back as context (twice for 65-70), so its
    // float32 differences go through two more normalisations, passes and weighted quantiles:
    // the worst element is 1.23x the forecast tolerance (atol x row scale + rtol); allow 2x.
    let (got, exp) = (steps(&h70, 32, 70), steps(want, 32, 70));
    let per_row = exp.data.len() / scales.len();
    let (at, worst) = got
        .data
        .iter()
        .zip(&exp.data)
        .enumerate()
        .map(|(i, (a, e))| {
            let tol = 1e-5 * scales[i / per_row].max(1.0) + 1e-4 * e.abs();
            (i, (a - e).abs() / tol)
        })
        .fold(
            (0, 0f32),
            |m, x| if x.1 > m.1 || x.1.is_nan() { x } else { m },
        );
    assert!(
        worst <= 2.0,
        "predict_h70[32..]: element {at} is {} but expected {} ({worst}x the tolerance)",
        got.data[at],
        exp.data[at]
    );
}

/// Steps `a..b` of a `[rows, q, h]` host tensor.
fn steps(t: &HostTensor, a: usize, b: usize) -> HostTensor {
    let h = t.shape[2];
    let data = t
        .data
        .chunks(h)
        .flat_map(|row| row[a..b].to_vec())
        .collect();
    HostTensor {
        shape: vec![t.shape[0], t.shape[1], b - a],
        data,
    }
}

#[test]
fn pipeline_predict_quantiles_picks_and_interpolates_levels() {
    let device = Device::flex();
    let model = model(&device);
    let inputs = fixture("inputs.safetensors");
    let expected = fixture("outputs.safetensors");
    let (context, scales) = predict_inputs(&inputs, &device);
    let (q, median) = model
        .predict_quantiles(context.clone(), None, 24, &[0.1, 0.5, 0.9])
        .unwrap();
    assert_close_scaled(
        "predict_quantiles_q",
        &to_host(q),
        &expected["predict_quantiles_q"],
        &scales,
    );
    assert_close_scaled(
        "predict_quantiles_mean",
        &to_host(median),
        &expected["predict_quantiles_mean"],
        &scales,
    );
    let (interp, _) = model
        .predict_quantiles(context, None, 24, &[0.025, 0.15, 0.5, 0.85, 0.995])
        .unwrap();
    assert_close_scaled(
        "predict_quantiles_interp",
        &to_host(interp),
        &expected["predict_quantiles_interp"],
        &scales,
    );
}

#[test]
fn pipeline_predict_multivariate_shares_one_group() {
    let device = Device::flex();
    let model = model(&device);
    let inputs = fixture("inputs.safetensors");
    let expected = fixture("outputs.safetensors");
    let x = &inputs["multivariate_input"];
    let context = Context::from_nan(to_tensor::<2>(x, &device), None);
    let out = model.predict(context, Some(vec![0, 0]), 24).unwrap();
    assert_close_scaled(
        "multivariate_predict",
        &to_host(out),
        &expected["multivariate_predict"],
        &row_scales(x),
    );
}

/// The pipeline's grouped call (two tasks of [target, past-only, known-future covariate]) at
/// the model level: the fixture's batch and group ids, the known future `kc` values, horizon
/// 24 (one pass) and 40 (unrolled: the `kc` rows' appended paths take their true future
/// values, the remaining 8 values fill the next pass's tokens).
#[test]
fn pipeline_predict_with_known_future_covariates_unrolls_like_the_package() {
    let device = Device::flex();
    let model = model(&device);
    let inputs = fixture("inputs.safetensors");
    let expected = fixture("outputs.safetensors");
    let batch = &expected["grouped_batch_context"];
    let scales = row_scales(batch);
    let context = Context::from_nan(to_tensor::<2>(batch, &device), None);
    let groups = ids(&expected["grouped_batch_group_ids"]);
    let targets = |t: &HostTensor, h: usize| {
        let q = t.shape[1];
        let mut data = Vec::new();
        for row in [0, 3] {
            data.extend_from_slice(&t.data[row * q * h..(row + 1) * q * h]);
        }
        HostTensor::new(vec![2, q, h], data)
    };
    for h in [24usize, 40] {
        let mut future = vec![f32::NAN; 6 * h];
        for (row, task) in [(2usize, 0usize), (5, 1)] {
            let kc = &inputs[&format!("grouped_future_kc_{task}")].data;
            future[row * h..(row + 1) * h].copy_from_slice(&kc[..h]);
        }
        let out = model
            .predict_with_future(context.clone(), Some(groups.clone()), Some((future, h)), h)
            .unwrap();
        let name = format!("grouped_predict_h{h}");
        assert_close_scaled(
            &name,
            &targets(&to_host(out), h),
            &expected[&name],
            &[scales[0], scales[3]],
        );
    }
}
