//! The `Forecaster` side of TTM: fine-tune modes, parameter counts, loss kinds, context length.

mod ttm_common;

use burn::Tensor;
use burn::tensor::Device;
use tsfm_models::ttm::{TtmInput, TtmModel};
use tsfm_models::{FinetuneMode, ForecastInput, Forecaster, LossKind};
use ttm_common::*;

fn load(device: &Device) -> TtmModel {
    TtmModel::from_pretrained(&model_dir(), device).unwrap().0
}

#[test]
fn finetune_modes_set_trainable_counts_and_stop_gradients() {
    let device = Device::flex().autodiff();
    let full = load(&device);
    assert_eq!(full.param_counts().total, 11_230);
    assert_eq!(full.param_counts().trainable, 11_230);
    let frozen = load(&device).apply_finetune_mode(FinetuneMode::FrozenBackbone);
    assert_eq!(frozen.param_counts().trainable, 1_128 + 528);
    let head = load(&device)
        .apply_finetune_mode(FinetuneMode::HeadOnly)
        .with_dropout(false);
    assert_eq!(head.param_counts().trainable, 528);

    let inputs = fixture("inputs.safetensors");
    let mut batch = ForecastInput::context(to_tensor::<3>(&inputs["past_values"], &device));
    batch.future_values = Some(to_tensor::<3>(&inputs["future_values"], &device));
    let grads = head.loss(&batch, LossKind::Mse).backward();
    let names: Vec<String> = head.hf_gradients(&grads).into_keys().collect();
    assert_eq!(
        names,
        vec![
            "head.base_forecast_block.bias",
            "head.base_forecast_block.weight"
        ]
    );
}

#[test]
fn loss_kinds_follow_their_definitions() {
    let device = Device::flex();
    let model = load(&device);
    assert!(model.supports_loss(LossKind::Mse));
    assert!(!model.supports_loss(LossKind::Quantile));
    let pred = Tensor::<3>::from_data([[[1.0f32], [2.0], [4.0]]], &device);
    let target = Tensor::<3>::from_data([[[1.5f32], [0.0], [4.0]]], &device);
    let value = |k| to_host(model.loss_from_prediction(pred.clone(), &target, None, k)).data[0];
    assert!((value(LossKind::Mse) - (0.25 + 4.0) / 3.0).abs() < 1e-6);
    assert!((value(LossKind::Mae) - 2.5 / 3.0).abs() < 1e-6);
    // Huber(delta 1): 0.5*0.5^2 = 0.125 and 1*(2-0.5) = 1.5.
    assert!((value(LossKind::Huber { delta: 1.0 }) - 1.625 / 3.0).abs() < 1e-6);
    let mask = Tensor::<3>::from_data([[[1.0f32], [0.0], [1.0]]], &device);
    let masked = model.loss_from_prediction(pred, &target, Some(&mask), LossKind::Mse);
    assert!((to_host(masked).data[0] - 0.125).abs() < 1e-6);
}

#[test]
fn longer_context_keeps_the_last_steps_and_short_context_is_left_padded() {
    let device = Device::flex();
    let model = load(&device);
    let past = to_tensor::<3>(&fixture("inputs.safetensors")["past_values"], &device);
    let reference = to_host(
        model
            .forward(&TtmInput::new(past.clone()), false)
            .prediction,
    );
    let longer = Tensor::cat(
        vec![Tensor::<3>::ones([4, 5, 1], &device) * 7.0, past.clone()],
        1,
    );
    assert_eq!(
        to_host(model.forward(&TtmInput::new(longer), false).prediction),
        reference
    );

    let short = past.clone().narrow(1, 8, 24);
    let mut a = TtmInput::new(short.clone());
    a.past_observed_mask = Some(short.ones_like());
    let padded = Tensor::cat(vec![Tensor::<3>::zeros([4, 8, 1], &device), short], 1);
    let mut b = TtmInput::new(padded);
    b.past_observed_mask = Some(Tensor::cat(
        vec![
            Tensor::<3>::zeros([4, 8, 1], &device),
            Tensor::ones([4, 24, 1], &device),
        ],
        1,
    ));
    assert_eq!(
        to_host(model.forward(&a, false).prediction),
        to_host(model.forward(&b, false).prediction)
    );
}

#[test]
fn forecast_with_truncates_and_refuses_what_a_point_model_cannot_do() {
    use tsfm_models::{Decoding, ForecastOptions};
    let device = Device::flex();
    let model = load(&device).with_dropout(false);
    let inputs = fixture("inputs.safetensors");
    let batch = ForecastInput::context(to_tensor::<3>(&inputs["past_values"], &device));
    let full = model.forecast(&batch).unwrap().point;
    let [b, h, c] = full.dims();
    assert_eq!(model.max_horizon(), Some(h));
    let short = model
        .forecast_with(
            &batch,
            &ForecastOptions {
                horizon: Some(2),
                ..Default::default()
            },
        )
        .unwrap()
        .point;
    assert_eq!(short.dims(), [b, 2, c]);
    assert_eq!(
        to_host(short).data,
        to_host(full.slice([0..b, 0..2, 0..c])).data
    );
    let err = |o: ForecastOptions| model.forecast_with(&batch, &o).unwrap_err().to_string();
    assert_eq!(
        err(ForecastOptions {
            horizon: Some(h + 1),
            ..Default::default()
        }),
        format!(
            "a ttm checkpoint forecasts at most {h} steps; {} were asked for (lower the horizon)",
            h + 1
        )
    );
    assert_eq!(
        err(ForecastOptions {
            decoding: Some(Decoding::Greedy),
            ..Default::default()
        }),
        "ttm forecasts are deterministic: decoding options (greedy/sampling) do not apply"
    );
    assert_eq!(
        err(ForecastOptions {
            quantile_levels: Some(vec![0.5]),
            ..Default::default()
        }),
        "this model gives no quantiles of its own"
    );
}

/// Rows forecast on several threads (as a large batch is) equal the one-thread forecast.
#[test]
fn row_shards_on_threads_forecast_what_one_thread_does() {
    let device = Device::flex();
    let model = load(&device);
    let inputs = fixture("inputs.safetensors");
    let past = to_tensor::<3>(&inputs["past_values"], &device);
    // 7 rows from the fixture's windows repeated with an offset, so shards differ.
    let rows = past.dims()[0];
    let seven = Tensor::cat(
        (0..7)
            .map(|i| {
                past.clone()
                    .narrow(0, i % rows, 1)
                    .add_scalar(i as f32 * 0.25)
            })
            .collect(),
        0,
    );
    let input = ForecastInput::context(seven);
    let forecast = |threads| {
        tsfm_models::parallel::forecast_rows(&model, &input, threads, |m, part| m.forecast(part))
            .unwrap()
            .point
            .into_data()
    };
    let one = forecast(1);
    let values = one.as_slice::<f32>().unwrap();
    assert_eq!(values.len(), 7 * model.prediction_length());
    assert!(values.iter().all(|v| v.is_finite()));
    for threads in [2, 3, 7, 9] {
        assert_eq!(forecast(threads), one, "{threads} threads");
    }
}
