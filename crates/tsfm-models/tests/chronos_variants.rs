//! Chronos-T5 against chronos-forecasting 2.3.2 / transformers 5.24 on the training fixture
//! and three variants (`tools/reference/make_chronos_fixtures.py`):
//! - `gated-untied`: gated-GELU feed-forward, its own `lm_head.weight`, unscaled decoder output,
//!   3 encoder / 2 decoder layers;
//! - `buckets`: 8 relative-position buckets with max distance 12, 64 tokens on [-4, 6],
//!   context_length 48 under a 64-value input;
//! - `no-eos`: `use_eos_token: false`, 200 tokens, 3 heads of 6 (inner 18 != d_model 16).
//!
//! Each: tokenizer, encoder states, teacher-forced logits, greedy tokens and values, the
//! greedy rollout to 2H+3 steps with its quantiles, and train.py's loss with the gradient of
//! every parameter.

mod chronos_common;

use burn::tensor::Device;
use chronos_common::*;
use tsfm_models::checkpoint::HostTensor;
use tsfm_models::{ChronosModel, Decoding, ForecastOptions, Forecaster, LossKind, SamplingOptions};

const VARIANTS: [&str; 3] = [
    "chronos-t5-variants/gated-untied",
    "chronos-t5-variants/buckets",
    "chronos-t5-variants/no-eos",
];

fn load(f: &Fixture, device: &Device) -> ChronosModel {
    let (model, warnings) = ChronosModel::from_pretrained(&f.model_dir(), device).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    model
}

fn mask_of(f: &Fixture, name: &str) -> Vec<f32> {
    f.ints("outputs.safetensors", name)
        .1
        .iter()
        .map(|&m| m as f32)
        .collect()
}

/// Values of a row compared with `atol = 1e-5 x scale`: values are bin centres x scale.
fn assert_values(name: &str, got: &[f32], want: &[f32], scale: f32) {
    let n = got.len();
    assert_close_tol(
        name,
        &HostTensor::new(vec![n], got.to_vec()),
        &HostTensor::new(vec![n], want.to_vec()),
        1e-5 * scale,
        0.0,
    );
}

#[test]
fn variant_tokenizers_encoders_and_teacher_forced_logits_match() {
    let device = Device::flex();
    for name in VARIANTS {
        let f = Fixture::new(name);
        let model = load(&f, &device);
        let out = f.floats("outputs.safetensors");
        assert_eq!(
            model.tokenizer.centers, out["tokenizer_centers"].data,
            "{name}"
        );
        assert_eq!(
            model.tokenizer.boundaries, out["tokenizer_boundaries"].data,
            "{name}"
        );
        let batch = model.tokenize_contexts(&f.series("context"));
        assert_eq!(
            batch.ids,
            f.ints("outputs.safetensors", "input_ids").1,
            "{name}"
        );
        assert_eq!(batch.mask, mask_of(&f, "attention_mask"), "{name}");
        assert_close(
            &format!("{name} scale"),
            &HostTensor::new(vec![batch.rows], batch.scale.clone()),
            &out["scale"],
        );
        let (ids, mask) = batch.tensors(&device);
        assert_close(
            &format!("{name} encoder_hidden_states"),
            &to_host(model.lm().encode(ids.clone(), mask.clone())),
            &out["encoder_hidden_states"],
        );
        let (shape, dec) = f.ints("outputs.safetensors", "decoder_input_ids");
        let logits = model
            .lm()
            .forward(ids, mask, int_tensor(&shape, &dec, &device));
        assert_close(
            &format!("{name} decoder_logits"),
            &to_host(logits),
            &out["decoder_logits"],
        );
    }
}

#[test]
fn variant_greedy_decoding_and_rollout_match() {
    let device = Device::flex();
    for name in VARIANTS {
        let f = Fixture::new(name);
        let model = load(&f, &device);
        let out = f.floats("outputs.safetensors");
        let context = f.series("context");
        let h = model.prediction_length();
        let scale = &out["scale"].data;

        let paths = model.predict_paths(&context, h, &Decoding::Greedy);
        assert_eq!(
            paths.tokens,
            f.ints("outputs.safetensors", "greedy_tokens").1,
            "{name}"
        );
        for (row, &scale) in scale.iter().enumerate() {
            let r = row * h..(row + 1) * h;
            assert_values(
                &format!("{name} greedy_values[{row}]"),
                &paths.values[r.clone()],
                &out["greedy_values"].data[r],
                scale,
            );
        }

        // 2H+3 steps: three windows, the median path appended between them.
        let long = 2 * h + 3;
        let input = univariate_batch(&context, None, &device);
        let greedy = ForecastOptions {
            horizon: Some(long),
            decoding: Some(Decoding::Greedy),
            ..ForecastOptions::default()
        };
        let point = to_host(model.forecast_with(&input, &greedy).unwrap().point);
        assert_eq!(point.shape, vec![4, long, 1]);
        // pipe.predict(num_samples=1, top_k=1) and predict_quantiles at 0.1 / 0.5 / 0.9.
        let top1 = ForecastOptions {
            horizon: Some(long),
            quantile_levels: Some(vec![0.1, 0.5, 0.9]),
            decoding: Some(Decoding::Sample(SamplingOptions {
                num_samples: 1,
                temperature: 1.0,
                top_k: 1,
                top_p: 1.0,
                seed: 9,
            })),
        };
        let sampled = model.forecast_with(&input, &top1).unwrap();
        let q = to_host(sampled.quantiles.unwrap());
        let rollout = &out["rollout_predict"];
        let quantiles = &out["rollout_predict_quantiles_q"];
        for (row, &scale) in scale.iter().enumerate() {
            let r = row * long..(row + 1) * long;
            // Later windows have their own scale: bound the tolerance by the largest value.
            let bound = rollout.data[r.clone()]
                .iter()
                .fold(scale, |m, v| m.max(v.abs()));
            assert_values(
                &format!("{name} rollout[{row}]"),
                &point.data[r.clone()],
                &rollout.data[r.clone()],
                bound,
            );
            assert_values(
                &format!("{name} top-1 rollout[{row}]"),
                &to_host(sampled.point.clone()).data[r.clone()],
                &rollout.data[r],
                bound,
            );
            let qr = row * long * 3..(row + 1) * long * 3;
            assert_values(
                &format!("{name} rollout quantiles[{row}]"),
                &q.data[qr.clone()],
                &quantiles.data[qr],
                bound,
            );
        }
    }
}

/// train.py's batch of a fixture: our tokens, labels and decoder inputs equal the package's,
/// and so do the loss, the logits and the gradient of every parameter.
fn check_training(name: &str) {
    let f = Fixture::new(name);
    let device = Device::flex().autodiff();
    let model = load(&f, &device).with_dropout(false);
    let out = f.floats("outputs.safetensors");
    let context = f.series("train_context");
    let target = f.series("train_target");

    let batch = model.tokenize_contexts(&context);
    assert_eq!(
        batch.ids,
        f.ints("outputs.safetensors", "train_input_ids").1,
        "{name}"
    );
    assert_eq!(batch.mask, mask_of(&f, "train_attention_mask"), "{name}");
    assert_close(
        &format!("{name} train_scale"),
        &HostTensor::new(vec![batch.rows], batch.scale.clone()),
        &out["train_scale"],
    );
    let targets = model.training_targets(&target, &batch.scale);
    assert_eq!(
        targets.labels,
        f.ints("outputs.safetensors", "train_labels").1,
        "{name}"
    );
    let (shape, dec) = f.ints("outputs.safetensors", "train_decoder_input_ids");
    assert_eq!(targets.decoder_input_ids, dec, "{name}");

    let (ids, mask) = batch.tensors(&device);
    let logits = model
        .lm()
        .forward(ids, mask, int_tensor(&shape, &dec, &device));
    assert_close(
        &format!("{name} train_logits"),
        &to_host(logits),
        &out["train_logits"],
    );

    let input = univariate_batch(&context, Some(&target), &device);
    let loss = model.loss(&input, LossKind::Native);
    assert_close(
        &format!("{name} train_loss"),
        &to_host(loss.clone()),
        &out["train_loss"],
    );
    let grads = model.hf_gradients(&loss.backward());
    let expected = f.floats("grads.safetensors");
    assert_eq!(
        grads.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{name}: gradient names"
    );
    for (param, g) in &expected {
        assert_close(&format!("{name} grad {param}"), &grads[param], g);
    }
}

#[test]
fn base_model_training_loss_and_all_47_gradients_match() {
    assert_eq!(
        Fixture::new("chronos-t5-train")
            .floats("grads.safetensors")
            .len(),
        47
    );
    check_training("chronos-t5-train");
}

#[test]
fn variant_training_losses_and_gradients_match() {
    for name in VARIANTS {
        check_training(name);
    }
}
