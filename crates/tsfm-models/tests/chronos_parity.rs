//! Chronos-T5 against chronos-forecasting 2.3.2 on the fixture: the tokenizer (ids, mask,
//! scale, centres, boundaries), the encoder over our own tokens, greedy tokens and values
//! through the `Forecaster` API, and the sampler: seeded reproducibility, top-k 1 = greedy,
//! and the distribution of the first sampled token against the softmax of the reference
//! logits.

mod chronos_common;

use burn::Tensor;
use burn::tensor::{Device, TensorData};
use chronos_common::*;
use tsfm_models::checkpoint::HostTensor;
use tsfm_models::{
    ChronosModel, Decoding, ForecastInput, ForecastOptions, Forecaster, SamplingOptions,
};

fn load(device: &Device) -> ChronosModel {
    let (model, warnings) = ChronosModel::from_pretrained(&model_dir(), device).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    model
}

/// The fixture's contexts as the package sees them: one row per series, NaN = missing.
fn contexts() -> Vec<Vec<f32>> {
    let c = &fixture("inputs.safetensors")["context"];
    c.data.chunks(c.shape[1]).map(<[f32]>::to_vec).collect()
}

/// The same contexts as a `[4, 64, 1]` batch: missing values are 0 with mask 0.
fn batch(device: &Device) -> ForecastInput {
    let rows = contexts();
    let (b, t) = (rows.len(), rows[0].len());
    let flat: Vec<f32> = rows.concat();
    let values: Vec<f32> = flat
        .iter()
        .map(|v| if v.is_nan() { 0.0 } else { *v })
        .collect();
    let mask: Vec<f32> = flat
        .iter()
        .map(|v| if v.is_nan() { 0.0 } else { 1.0 })
        .collect();
    let mut input = ForecastInput::context(Tensor::from_data(
        TensorData::new(values, [b, t, 1]),
        device,
    ));
    input.past_observed_mask = Some(Tensor::from_data(TensorData::new(mask, [b, t, 1]), device));
    input
}

fn sampling(num_samples: usize, top_k: usize, seed: u64) -> ForecastOptions {
    ForecastOptions {
        decoding: Some(Decoding::Sample(SamplingOptions {
            num_samples,
            temperature: 1.0,
            top_k,
            top_p: 1.0,
            seed,
        })),
        ..ForecastOptions::default()
    }
}

#[test]
fn tokenizer_matches_the_package_exactly() {
    let model = load(&Device::flex());
    let expected = fixture("outputs.safetensors");
    assert_eq!(model.tokenizer.centers, expected["tokenizer_centers"].data);
    assert_eq!(
        model.tokenizer.boundaries,
        expected["tokenizer_boundaries"].data
    );
    let batch = model.tokenize_contexts(&contexts());
    assert_eq!((batch.rows, batch.len), (4, 65));
    assert_eq!(batch.ids, int_fixture("outputs.safetensors", "input_ids").1);
    let mask: Vec<f32> = int_fixture("outputs.safetensors", "attention_mask")
        .1
        .iter()
        .map(|&m| m as f32)
        .collect();
    assert_eq!(batch.mask, mask);
    assert_close(
        "scale",
        &HostTensor::new(vec![4], batch.scale),
        &expected["scale"],
    );
}

#[test]
fn encoder_over_our_tokens_matches_the_package() {
    let device = Device::flex();
    let model = load(&device);
    let expected = fixture("outputs.safetensors");
    let (ids, mask) = model.tokenize_contexts(&contexts()).tensors(&device);
    assert_close(
        "encoder_hidden_states",
        &to_host(model.lm().encode(ids, mask)),
        &expected["encoder_hidden_states"],
    );
}

#[test]
fn greedy_tokens_are_exact_and_values_match() {
    let device = Device::flex();
    let model = load(&device);
    let expected = fixture("outputs.safetensors");
    let paths = model.predict_paths(&contexts(), 8, &Decoding::Greedy);
    assert_eq!(paths.samples, 1);
    assert_eq!(
        paths.tokens,
        int_fixture("outputs.safetensors", "greedy_tokens").1
    );

    let options = ForecastOptions {
        decoding: Some(Decoding::Greedy),
        ..ForecastOptions::default()
    };
    let forecast = model.forecast_with(&batch(&device), &options).unwrap();
    assert!(forecast.quantiles.is_none() && forecast.quantile_levels.is_empty());
    let point = to_host(forecast.point);
    assert_eq!(point.shape, vec![4, 8, 1]);
    // Values are centre x scale: compare with atol 1e-5 x scale per series.
    let greedy = &expected["greedy_values"];
    for (row, scale) in expected["scale"].data.iter().enumerate() {
        let got = HostTensor::new(vec![8], point.data[row * 8..(row + 1) * 8].to_vec());
        let want = HostTensor::new(vec![8], greedy.data[row * 8..(row + 1) * 8].to_vec());
        assert_close_tol(
            &format!("greedy_values[{row}]"),
            &got,
            &want,
            1e-5 * scale,
            0.0,
        );
    }
}

#[test]
fn sampling_is_seeded_and_top_k_one_is_greedy() {
    let device = Device::flex();
    let model = load(&device);
    let input = batch(&device);
    let run = |o: &ForecastOptions| {
        let f = model.forecast_with(&input, o).unwrap();
        (to_host(f.point), to_host(f.quantiles.unwrap()))
    };
    let a = run(&sampling(6, 50, 7));
    assert_eq!(a, run(&sampling(6, 50, 7)), "same seed, same forecast");
    assert_ne!(a, run(&sampling(6, 50, 8)), "another seed, other paths");

    let greedy = model.predict_paths(&contexts(), 8, &Decoding::Greedy);
    let Some(Decoding::Sample(top1)) = sampling(3, 1, 11).decoding else {
        unreachable!()
    };
    let paths = model.predict_paths(&contexts(), 8, &Decoding::Sample(top1));
    for row in 0..4 {
        for s in 0..3 {
            let start = (row * 3 + s) * 8;
            assert_eq!(
                paths.tokens[start..start + 8],
                greedy.tokens[row * 8..(row + 1) * 8],
                "series {row} sample {s}"
            );
        }
    }
}

#[test]
fn row_shards_on_threads_decode_the_paths_one_thread_does() {
    let device = Device::flex();
    let model = load(&device);
    let Some(Decoding::Sample(o)) = sampling(3, 50, 21).decoding else {
        unreachable!()
    };
    // Past `prediction_length`: the rollout appends each series' median and decodes again.
    let horizon = model.config.chronos.prediction_length + 3;
    let decoding = Decoding::Sample(o);
    let one = model.predict_paths_on(&contexts(), horizon, &decoding, 1);
    assert_eq!((one.rows, one.samples, one.horizon), (4, 3, horizon));
    assert!(one.values.iter().all(|v| v.is_finite()));
    for threads in [2, 3, 4, 9] {
        let sharded = model.predict_paths_on(&contexts(), horizon, &decoding, threads);
        assert_eq!(sharded, one, "{threads} threads");
    }
    let greedy = model.predict_paths_on(&contexts(), horizon, &Decoding::Greedy, 1);
    let sharded = model.predict_paths_on(&contexts(), horizon, &Decoding::Greedy, 3);
    assert_eq!(sharded, greedy, "greedy on 3 threads");
}

#[test]
fn forecast_point_and_quantiles_summarise_the_paths_as_torch_quantile() {
    let device = Device::flex();
    let model = load(&device);
    let options = sampling(5, 50, 3);
    let Some(Decoding::Sample(o)) = options.decoding.clone() else {
        unreachable!()
    };
    let paths = model.predict_paths(&contexts(), 8, &Decoding::Sample(o));
    let f = model.forecast_with(&batch(&device), &options).unwrap();
    assert_eq!(
        f.quantile_levels,
        vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    );
    let point = to_host(f.point);
    let q = to_host(f.quantiles.unwrap());
    assert_eq!(q.shape, vec![4, 8, 1, 9]);
    for row in 0..4 {
        for h in 0..8 {
            let mut v = paths.at(row, h);
            v.sort_by(f32::total_cmp);
            // 5 samples: the median is the middle one; q0.1 = v0 + 0.4 (v1 - v0).
            assert_eq!(point.data[row * 8 + h], v[2]);
            let q10 = q.data[(row * 8 + h) * 9];
            assert!((q10 - (v[0] + 0.4 * (v[1] - v[0]))).abs() <= 1e-6 * v[1].abs().max(1.0));
            assert_eq!(q.data[(row * 8 + h) * 9 + 4], v[2]);
        }
    }
    // Requested levels are interpolated the same way.
    let mut custom = options.clone();
    custom.quantile_levels = Some(vec![0.25, 0.975]);
    let f = model.forecast_with(&batch(&device), &custom).unwrap();
    let q = to_host(f.quantiles.unwrap());
    let mut v = paths.at(0, 0);
    v.sort_by(f32::total_cmp);
    assert_eq!(q.data[0], v[1]);
    assert!((q.data[1] - (v[3] + 0.9 * (v[4] - v[3]))).abs() <= 1e-6 * v[4].abs().max(1.0));
}

#[test]
fn the_first_sampled_token_follows_the_reference_distribution() {
    let device = Device::flex();
    let model = load(&device);
    let expected = fixture("outputs.safetensors");
    let logits = &expected["decoder_logits"];
    let (vocab, steps) = (logits.shape[2], logits.shape[1]);
    let n = 4000;
    let Some(Decoding::Sample(o)) = sampling(n, 50, 5).decoding else {
        unreachable!()
    };
    let paths = model.predict_paths(&contexts(), 1, &Decoding::Sample(o));
    for row in 0..4 {
        // The first step's reference logits (decoder input = start token), EOS forbidden,
        // the 50 largest kept.
        let first = &logits.data[row * steps * vocab..row * steps * vocab + vocab];
        let mut l: Vec<f32> = first.to_vec();
        l[1] = f32::NEG_INFINITY;
        let mut sorted = l.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let kth = sorted[49];
        let max = sorted[0];
        let w: Vec<f64> = l
            .iter()
            .map(|&x| {
                if x >= kth {
                    f64::from(x - max).exp()
                } else {
                    0.0
                }
            })
            .collect();
        let total: f64 = w.iter().sum();
        let mut counts = vec![0usize; vocab];
        for s in 0..n {
            counts[paths.tokens[row * n + s] as usize] += 1;
        }
        for (token, &c) in counts.iter().enumerate() {
            let p = w[token] / total;
            let freq = c as f64 / n as f64;
            // 5 binomial standard deviations (plus a floor for tiny p).
            let tol = 5.0 * (p * (1.0 - p) / n as f64).sqrt() + 1e-3;
            assert!(
                (freq - p).abs() <= tol,
                "series {row} token {token}: frequency {freq} vs probability {p}"
            );
        }
    }
}
