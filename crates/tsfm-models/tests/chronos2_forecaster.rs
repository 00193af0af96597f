//! Chronos-2 through the [`Forecaster`] trait and [`AnyForecaster`]: forecasts equal the
//! pipeline fixture, the loss is the model's training loss, fine-tune modes freeze what they
//! say, and a few Adam steps lower the loss in full and LoRA mode.

#[path = "chronos_bolt_common/mod.rs"]
mod bolt;

use std::collections::HashMap;
use std::path::PathBuf;

use bolt::{Adam, assert_close, assert_close_scaled, load, to_host, to_tensor};
use burn::Tensor;
use burn::module::Module;
use burn::tensor::Device;
use tsfm_models::checkpoint::{HostTensor, TensorMap};
use tsfm_models::chronos_bolt::loss::Target;
use tsfm_models::chronos2::Chronos2Input;
use tsfm_models::chronos2::pipeline::left_pad;
use tsfm_models::lora::{LoraConfig, TargetModules};
use tsfm_models::nn::hf_tensors_unmerged;
use tsfm_models::{
    AnyForecaster, Chronos2Model, FinetuneMode, ForecastInput, ForecastOptions, Forecaster,
    LoadOptions, LossKind, load_forecaster_in,
};

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
    Chronos2Model::from_pretrained(&model_dir(), device)
        .unwrap()
        .0
}

/// The pipeline fixture's four series (lengths 64, 50, 40, 84) as windows of one channel,
/// NaN-padded on the left to the longest, and each row's largest |value| in the last 64 steps
/// (the forecast tolerance's scale).
fn pipeline_batch(device: &Device) -> (ForecastInput, Vec<f32>) {
    let inputs = fixture("inputs.safetensors");
    let series: Vec<Vec<f32>> = (0..4)
        .map(|i| inputs[&format!("predict_input_{i}")].data.clone())
        .collect();
    let scales = series
        .iter()
        .map(|s| {
            s[s.len().saturating_sub(64)..]
                .iter()
                .filter(|v| v.is_finite())
                .fold(1f32, |m, v| m.max(v.abs()))
        })
        .collect();
    let context = left_pad(&series, device);
    // NaN where missing, as a data batch carries it.
    let nan = context.observed.clone().lower_equal_elem(0.0);
    let values = context.values.mask_fill(nan, f32::NAN);
    (ForecastInput::context(values.unsqueeze_dim::<3>(2)), scales)
}

#[test]
fn forecasts_through_the_trait_equal_the_pipeline() {
    let device = Device::flex();
    let loaded = load_forecaster_in(&model_dir(), &device).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let model = loaded.model;
    assert!(matches!(model, AnyForecaster::Chronos2(_)));
    assert_eq!(model.model_type(), "chronos2");
    assert_eq!(model.prediction_length(), 32);
    assert_eq!(model.context_length(), 64);
    let expected = fixture("outputs.safetensors");
    let (input, scales) = pipeline_batch(&device);
    model.check_input(&input).unwrap();
    let options = ForecastOptions {
        horizon: Some(24),
        quantile_levels: Some(vec![0.1, 0.5, 0.9]),
        ..Default::default()
    };
    let f = model.forecast_with(&input, &options).unwrap();
    // `[b, h, 1, 3]` has the layout of the pipeline's `[b, h, 3]`.
    let mut q = to_host(f.quantiles.unwrap());
    q.shape = vec![4, 24, 3];
    assert_close_scaled(
        "predict_quantiles_q",
        &q,
        &expected["predict_quantiles_q"],
        &scales,
    );
    let mut point = to_host(f.point);
    point.shape = vec![4, 24];
    assert_close_scaled(
        "predict_quantiles_mean",
        &point,
        &expected["predict_quantiles_mean"],
        &scales,
    );
    // The default: the model's own 13 levels. The trait's limit is the context length (64):
    // the pipeline's 70-step forecast makes the same first two passes (2 + 2 patches), so its
    // first pass is checked here (the unrolled steps in `chronos2_parity`).
    let options = ForecastOptions {
        horizon: Some(64),
        ..Default::default()
    };
    let f = model.forecast_with(&input, &options).unwrap();
    assert_eq!(f.quantile_levels.len(), 13);
    assert_eq!(f.point.dims(), [4, 64, 1]);
    let got = f.quantiles.unwrap().squeeze_dim::<3>(2).swap_dims(1, 2);
    let want = &expected["predict_h70"];
    let want = to_tensor::<3>(want, &device).narrow(2, 0, 32);
    assert_close_scaled(
        "predict_h70[..32]",
        &to_host(got.narrow(2, 0, 32)),
        &to_host(want),
        &scales,
    );
    // Beyond the limit, and covariates that do not fit the batch: errors, not panics.
    let too_long = ForecastOptions {
        horizon: Some(65),
        ..Default::default()
    };
    assert!(model.forecast_with(&input, &too_long).is_err());
    let mut shorter = input.clone();
    shorter.past_covariates = Some(Tensor::zeros([4, 80, 1], &device));
    let err = model.check_input(&shorter).unwrap_err().to_string();
    assert!(err.contains("same 4 windows x 84 steps"), "{err}");
    let mut future_only = input.clone();
    future_only.future_covariates = Some(Tensor::zeros([4, 24, 1], &device));
    let err = model.check_input(&future_only).unwrap_err().to_string();
    assert!(err.contains("at most 0 channels"), "{err}");
    let mut short_future = input.clone();
    short_future.past_covariates = Some(Tensor::zeros([4, 84, 1], &device));
    short_future.future_covariates = Some(Tensor::zeros([4, 10, 1], &device));
    let err = model
        .forecast_with(&short_future, &options)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cover 10 steps, the horizon is 64"), "{err}");
}

/// Rows `rows` of a `[n, t]` fixture tensor as `[rows.len() / c, t, c]` windows: window `w`'s
/// channel `k` is row `rows[w * c + k]`.
fn windows(t: &HostTensor, rows: &[usize], c: usize, device: &Device) -> Tensor<3> {
    let len = t.shape[1];
    let b = rows.len() / c;
    let mut data = vec![0f32; rows.len() * len];
    for (i, &r) in rows.iter().enumerate() {
        let (w, k) = (i / c, i % c);
        for step in 0..len {
            data[(w * len + step) * c + k] = t.data[r * len + step];
        }
    }
    Tensor::from_data(burn::tensor::TensorData::new(data, [b, len, c]), device)
}

/// The pipeline's grouped call (two tasks of [target, past-only `pc`, known-future `kc`])
/// through the trait: each window is a group, `past_covariates` = [pc, kc], `future_covariates`
/// = kc's next values. One pass (24) and unrolled (40) equal the package.
#[test]
fn covariates_through_the_trait_equal_the_grouped_pipeline() {
    let device = Device::flex();
    let model = AnyForecaster::Chronos2(model(&device));
    assert!(model.reads_any_covariates());
    let inputs = fixture("inputs.safetensors");
    let expected = fixture("outputs.safetensors");
    let batch = &expected["grouped_batch_context"];
    let mut input = ForecastInput::context(windows(batch, &[0, 3], 1, &device));
    input.past_covariates = Some(windows(batch, &[1, 2, 4, 5], 2, &device));
    let scales: Vec<f32> = [0usize, 3]
        .iter()
        .map(|&r| {
            batch.data[r * 64..(r + 1) * 64]
                .iter()
                .filter(|v| v.is_finite())
                .fold(1f32, |m, v| m.max(v.abs()))
        })
        .collect();
    for h in [24usize, 40] {
        let kc: Vec<f32> = (0..h)
            .flat_map(|t| (0..2).map(move |task| (task, t)))
            .map(|(task, t)| inputs[&format!("grouped_future_kc_{task}")].data[t])
            .collect();
        // Window-major `[2, h, 1]`.
        let mut future = vec![0f32; 2 * h];
        for (i, v) in kc.into_iter().enumerate() {
            let (t, task) = (i / 2, i % 2);
            future[task * h + t] = v;
        }
        input.future_covariates = Some(Tensor::from_data(
            burn::tensor::TensorData::new(future, [2, h, 1]),
            &device,
        ));
        model.check_input(&input).unwrap();
        let f = model
            .forecast_with(
                &input,
                &ForecastOptions {
                    horizon: Some(h),
                    ..Default::default()
                },
            )
            .unwrap();
        let got = f.quantiles.unwrap().squeeze_dim::<3>(2).swap_dims(1, 2);
        let name = format!("grouped_predict_h{h}");
        assert_close_scaled(&name, &to_host(got), &expected[&name], &scales);
    }
}

/// A known-future covariate's values are read for the forecast steps only: changing them
/// moves the forecast, changing values past the horizon does not (the package takes exactly
/// the horizon's values), and a past-only covariate's history moves it too.
#[test]
fn known_future_values_past_the_horizon_do_not_reach_the_forecast() {
    let device = Device::flex();
    let model = model(&device);
    let expected = fixture("outputs.safetensors");
    let batch = &expected["grouped_batch_context"];
    let mut input = ForecastInput::context(windows(batch, &[0, 3], 1, &device));
    input.past_covariates = Some(windows(batch, &[1, 2, 4, 5], 2, &device));
    let future = |tail: f32, head: f32| {
        let mut v = vec![0.5f32; 2 * 32];
        for w in 0..2 {
            v[w * 32] = head;
            for t in 24..32 {
                v[w * 32 + t] = tail;
            }
        }
        Tensor::<3>::from_data(burn::tensor::TensorData::new(v, [2, 32, 1]), &device)
    };
    let options = ForecastOptions {
        horizon: Some(24),
        ..Default::default()
    };
    let run = |input: &ForecastInput| to_host(model.forecast_with(input, &options).unwrap().point);
    input.future_covariates = Some(future(0.5, 0.5));
    let base = run(&input);
    input.future_covariates = Some(future(1e3, 0.5));
    assert_eq!(
        run(&input),
        base,
        "values after the horizon moved the forecast"
    );
    input.future_covariates = Some(future(0.5, 9.0));
    assert_ne!(
        run(&input),
        base,
        "the known future did not reach the forecast"
    );
    input.future_covariates = Some(future(0.5, 0.5));
    let pc = windows(batch, &[1, 4], 1, &device) * 3.0;
    let kc = windows(batch, &[2, 5], 1, &device);
    input.past_covariates = Some(Tensor::cat(vec![pc, kc], 2));
    assert_ne!(
        run(&input),
        base,
        "the past-only covariate did not reach the forecast"
    );
}

/// Two windows of one channel from the multivariate fixture rows: 40 context steps, 24 target.
fn training_batch(device: &Device) -> ForecastInput {
    let x = to_tensor::<2>(&fixture("inputs.safetensors")["multivariate_input"], device);
    let x = x.unsqueeze_dim::<3>(2);
    let mut input = ForecastInput::context(x.clone().narrow(1, 0, 40));
    input.future_values = Some(x.narrow(1, 40, 24));
    input
}

/// The fixture's training batch (two tasks of [target, past-only, known-future]) through the
/// trait: the loss and every gradient equal `model(**batch).loss` of the package.
#[test]
fn the_trait_loss_with_covariates_is_the_packages_training_loss() {
    let device = Device::flex().autodiff();
    let model = model(&device).with_dropout(false);
    let inputs = fixture("inputs.safetensors");
    let expected = fixture("outputs.safetensors");
    let context = &inputs["train_context"];
    let mut input = ForecastInput::context(windows(context, &[0, 3], 1, &device));
    input.past_covariates = Some(windows(context, &[1, 2, 4, 5], 2, &device));
    input.future_values = Some(windows(&inputs["train_future_target"], &[0, 3], 1, &device));
    input.future_covariates = Some(windows(
        &inputs["train_future_covariates"],
        &[2, 5],
        1,
        &device,
    ));
    model.check_input(&input).unwrap();
    let loss = model.loss(&input, LossKind::Native);
    assert_close(
        "train_loss",
        &to_host(loss.clone()),
        &expected["train_loss"],
    );
    let grads = model.hf_gradients(&loss.backward());
    bolt::assert_grads_close("train (trait)", &grads, &fixture("grads.safetensors"));
}

#[test]
fn the_trait_loss_is_the_models_training_loss() {
    // The fixture's `train_loss` needs groups and covariates (not wired through the trait
    // yet); here the trait's loss is checked against the model's own loss on the same rows.
    let device = Device::flex();
    let model = model(&device);
    let input = training_batch(&device);
    let x = &fixture("inputs.safetensors")["multivariate_input"];
    let rows = |a: usize, n: usize| to_tensor::<2>(x, &device).narrow(1, a, n);
    let context = tsfm_models::chronos_bolt::scaler::Context::from_nan(rows(0, 40), None);
    let (want, out) = model
        .quantile_loss(
            Chronos2Input::univariate(context, 2),
            Target::from_nan(rows(40, 24), None),
        )
        .unwrap();
    for kind in [LossKind::Native, LossKind::Quantile] {
        assert_close(
            "loss",
            &to_host(model.loss(&input, kind)),
            &to_host(want.clone()),
        );
    }
    // MSE on the median in data units, over the 24 target steps.
    let preds = to_host(out.quantile_preds());
    let target = to_host(rows(40, 24));
    let mut sum = 0f64;
    for r in 0..2 {
        for t in 0..24 {
            let m = preds.data[(r * 13 + 6) * 32 + t];
            let y = target.data[r * 24 + t];
            sum += f64::from((m - y) * (m - y));
        }
    }
    let mse = HostTensor {
        shape: vec![1],
        data: vec![(sum / 48.0) as f32],
    };
    let got = to_host(model.loss(&input, LossKind::Mse));
    assert!(
        (got.data[0] - mse.data[0]).abs() <= 1e-4 * mse.data[0].abs().max(1.0),
        "{got:?} vs {mse:?}"
    );
}

fn adam_losses(mut model: Chronos2Model, input: &ForecastInput) -> (Vec<f32>, Chronos2Model) {
    let mut moments = HashMap::new();
    let mut losses = Vec::new();
    for step in 1..=8 {
        let loss = model.loss(input, LossKind::Native);
        losses.push(to_host(loss.clone()).data[0]);
        let grads = loss.backward();
        model = model.map(&mut Adam {
            grads: &grads,
            moments: &mut moments,
            step,
            lr: 1e-2,
        });
    }
    losses.push(to_host(model.loss(input, LossKind::Native)).data[0]);
    (losses, model)
}

#[test]
fn a_few_adam_steps_lower_the_loss_in_full_and_lora_mode() {
    let device = Device::flex().autodiff();
    device.seed(0);
    let input = training_batch(&device);
    let full = model(&device).with_dropout(false);
    let (losses, _) = adam_losses(full, &input);
    assert!(
        losses.iter().all(|l| l.is_finite()) && losses[8] < 0.8 * losses[0],
        "{losses:?}"
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
        timesfm: None,
    };
    let lora = Chronos2Model::from_pretrained_with(&model_dir(), &device, &options)
        .unwrap()
        .0
        .with_dropout(false)
        .apply_finetune_mode(FinetuneMode::Lora);
    let base = |m: &Chronos2Model| -> TensorMap {
        hf_tensors_unmerged(m)
            .into_iter()
            .filter(|(n, _)| !n.contains("lora_"))
            .collect()
    };
    // The package's default targets: q, k, v, o of both attention layers of both blocks
    // (d_model 24, inner 3 x 8 = 24) and the output patch embedding's output layer (48 -> 13 x 16).
    let attention = 2 * 2 * 4 * 4 * (24 + 24);
    let head = 4 * (48 + 13 * 16);
    assert_eq!(lora.param_counts().trainable, attention + head);
    let before = base(&lora);
    let (losses, trained) = adam_losses(lora, &input);
    assert!(losses[8] < 0.95 * losses[0], "{losses:?}");
    assert_eq!(base(&trained), before);
}

#[test]
fn finetune_modes_freeze_the_encoder_then_the_input_embedding() {
    let device = Device::flex();
    let counts = |mode| model(&device).apply_finetune_mode(mode).param_counts();
    let full = counts(FinetuneMode::Full);
    assert_eq!(full.trainable, full.total);
    let m = model(&device);
    let encoder = m.encoder.num_params() + m.shared.num_params();
    let input = m.input_patch_embedding.num_params();
    assert_eq!(
        counts(FinetuneMode::FrozenBackbone).trainable,
        full.total - encoder
    );
    assert_eq!(
        counts(FinetuneMode::HeadOnly).trainable,
        m.output_patch_embedding.num_params()
    );
    assert_eq!(
        full.total,
        encoder + input + m.output_patch_embedding.num_params()
    );
    // save_pretrained through the trait reloads to the same forecast.
    let dir = tempfile::tempdir().unwrap();
    Forecaster::save_pretrained(&m, dir.path()).unwrap();
    let again = model_from(dir.path(), &device);
    let (input, _) = pipeline_batch(&device);
    let a = to_host(m.forecast(&input).unwrap().point);
    let b = to_host(again.forecast(&input).unwrap().point);
    assert_eq!(a, b);
}

fn model_from(dir: &std::path::Path, device: &Device) -> Chronos2Model {
    Chronos2Model::from_pretrained(dir, device).unwrap().0
}

/// A window of several target channels is one group of target rows, as the package's
/// multivariate task: both channels forecast together equal `pipe.predict([2 x 64])`.
#[test]
fn several_targets_of_a_window_share_one_group() {
    let device = Device::flex();
    let model = model(&device);
    let inputs = fixture("inputs.safetensors");
    let expected = fixture("outputs.safetensors");
    let x = &inputs["multivariate_input"];
    let input = ForecastInput::context(windows(x, &[0, 1], 2, &device));
    let options = ForecastOptions {
        horizon: Some(24),
        ..Default::default()
    };
    let f = model.forecast_with(&input, &options).unwrap();
    // [1, h, 2, q] -> [2, q, h]
    let got = f.quantiles.unwrap().squeeze_dim::<3>(0).permute([1, 2, 0]);
    let scales: Vec<f32> = x
        .data
        .chunks(64)
        .map(|r| r.iter().fold(1f32, |m, v| m.max(v.abs())))
        .collect();
    assert_close_scaled(
        "multivariate_predict",
        &to_host(got),
        &expected["multivariate_predict"],
        &scales,
    );
    // Forecast alone, each channel differs: the group is what couples them.
    let alone = ForecastInput::context(windows(x, &[0, 1], 1, &device));
    let apart = to_host(model.forecast_with(&alone, &options).unwrap().point);
    let together = to_host(f.point.swap_dims(1, 2).reshape([2, 1, 24]).swap_dims(1, 2));
    assert_ne!(apart, together);
}
