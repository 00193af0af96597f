//! The shared T5 stack against transformers 5.24 on the Chronos-T5 fixture (2+2 layers,
//! ReLU, tied embeddings): encoder states and teacher-forced logits from the fixture's own
//! token ids, and the KV-cached incremental decoder against the uncached pass.

mod chronos_common;

use burn::Tensor;
use burn::tensor::{Device, Int, TensorData};
use chronos_common::*;
use tsfm_models::checkpoint::{load_checkpoint_tensors, read_config_json};
use tsfm_models::kernels::attention::PANEL;
use tsfm_models::nn::{Embedding, Linear, WeightSource};
use tsfm_models::t5::attention::CrossKeys;
use tsfm_models::t5::{
    DecoderCache, T5Config, T5Decoder, T5Encoder, T5Lm, load_lm_head, load_shared,
};

struct Parts {
    config: T5Config,
    shared: Embedding,
    encoder: T5Encoder,
    decoder: T5Decoder,
    lm_head: Option<Linear>,
}

impl Parts {
    fn lm(&self) -> T5Lm<'_> {
        T5Lm {
            config: &self.config,
            shared: &self.shared,
            encoder: &self.encoder,
            decoder: &self.decoder,
            lm_head: self.lm_head.as_ref(),
        }
    }
}

fn load(device: &Device) -> Parts {
    let raw = read_config_json(&model_dir()).unwrap();
    let parsed = T5Config::from_json(raw, "config.json", &["chronos_config"]).unwrap();
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let config = parsed.config;
    let ff = config.feed_forward("config.json").unwrap();
    let source = WeightSource::new(load_checkpoint_tensors(&model_dir()).unwrap());
    let vb = source.root(device);
    let shared = load_shared(&vb, &config).unwrap();
    let parts = Parts {
        encoder: T5Encoder::load(&vb.pp("encoder"), &config, ff).unwrap(),
        decoder: T5Decoder::load(&vb.pp("decoder"), &config, ff).unwrap(),
        lm_head: load_lm_head(&vb, &config, &shared).unwrap(),
        shared,
        config,
    };
    assert_eq!(source.unused(), Vec::<String>::new());
    parts
}

fn ids(name: &str, device: &Device) -> Tensor<2, Int> {
    let (shape, data) = int_fixture("outputs.safetensors", name);
    int_tensor(&shape, &data, device)
}

fn mask(device: &Device) -> Tensor<2> {
    let (shape, data) = int_fixture("outputs.safetensors", "attention_mask");
    let data: Vec<f32> = data.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(data, [shape[0], shape[1]]), device)
}

#[test]
fn encoder_states_match_transformers() {
    let device = Device::flex();
    let parts = load(&device);
    let expected = fixture("outputs.safetensors");
    let hidden = parts.lm().encode(ids("input_ids", &device), mask(&device));
    assert_close(
        "encoder_hidden_states",
        &to_host(hidden),
        &expected["encoder_hidden_states"],
    );
}

#[test]
fn teacher_forced_logits_match_transformers() {
    let device = Device::flex();
    let parts = load(&device);
    let expected = fixture("outputs.safetensors");
    let logits = parts.lm().forward(
        ids("input_ids", &device),
        mask(&device),
        ids("decoder_input_ids", &device),
    );
    assert_close(
        "decoder_logits",
        &to_host(logits),
        &expected["decoder_logits"],
    );
}

#[test]
fn cached_decoding_equals_the_uncached_pass_and_samples_share_the_encoder() {
    let device = Device::flex();
    let parts = load(&device);
    let hidden = parts.lm().encode(ids("input_ids", &device), mask(&device));
    let memory = parts.decoder.memory(hidden, mask(&device));
    check_cached_decoding(&parts, &memory, &device);
}

#[test]
fn the_decoding_layout_stores_the_keys_as_panels_and_decodes_the_same() {
    let device = Device::flex();
    let parts = load(&device);
    let hidden = parts.lm().encode(ids("input_ids", &device), mask(&device));
    let t = hidden.dims()[1];
    assert!(
        !t.is_multiple_of(PANEL),
        "the fixture's {t} positions fill whole panels: the padded last panel goes untested"
    );
    let memory = parts.decoder.decoding_memory(hidden.clone(), mask(&device));
    let reference = parts.decoder.memory(hidden.clone(), mask(&device));
    assert_eq!(memory.mask.dims()[3], t);
    for (kv, want) in memory.layers.iter().zip(&reference.layers) {
        let CrossKeys::Panels(panels) = &kv.keys else {
            panic!("decoding keys are not panels");
        };
        let [series, heads, blocks, d_kv, panel] = panels.dims();
        assert_eq!([blocks, panel], [t.div_ceil(PANEL), PANEL]);
        // The panels hold the same keys, zeros after the last position.
        assert_eq!(to_host(kv.key_t()).data, to_host(want.key_t()).data);
        let host = to_host(panels.clone());
        for m in 0..series * heads {
            for k in 0..d_kv {
                let last = &host.data[((m * blocks + blocks - 1) * d_kv + k) * PANEL..][..PANEL];
                assert!(last[t - (blocks - 1) * PANEL..].iter().all(|&v| v == 0.0));
            }
        }
    }
    check_cached_decoding(&parts, &memory, &device);
    let first_step = |m: &tsfm_models::t5::EncoderMemory| {
        let rows = m.series();
        let start = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64; rows], [rows]), &device);
        to_host(parts.lm().step(start, m, &mut DecoderCache::new())).data
    };
    // Not the same bits: Burn's GEMM sums the values over the positions in another order.
    assert_first_steps_agree(first_step(&memory), first_step(&reference), "masked");

    // A series that attends to no position gets uniform weights over its positions, as
    // transformers gives it; the panels' padding must not take a share.
    let none = Tensor::<2>::zeros(mask(&device).dims(), &device);
    let panels = parts.decoder.decoding_memory(hidden.clone(), none.clone());
    let reference = parts.decoder.memory(hidden, none);
    assert_first_steps_agree(first_step(&panels), first_step(&reference), "unmasked");
}

/// Logits within 1e-5 of the largest one.
fn assert_first_steps_agree(got: Vec<f32>, want: Vec<f32>, what: &str) {
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        worst <= 1e-5 * scale,
        "{what}: panel logits differ by {worst:e} (largest logit {scale:e})"
    );
}

/// Decodes the fixture's decoder ids one token at a time over `memory`, each series as 3
/// identical "sample" rows, and compares every step's logits with transformers'.
fn check_cached_decoding(parts: &Parts, memory: &tsfm_models::t5::EncoderMemory, device: &Device) {
    let lm = parts.lm();
    let expected = fixture("outputs.safetensors");
    let (shape, dec_ids) = int_fixture("outputs.safetensors", "decoder_input_ids");
    let [b, steps] = [shape[0], shape[1]];
    let samples = 3;
    let mut cache = DecoderCache::new();
    let mut step_logits = Vec::new();
    for s in 0..steps {
        let mut col = Vec::new();
        for i in 0..b {
            col.extend(std::iter::repeat_n(dec_ids[i * steps + s], samples));
        }
        let col = Tensor::<1, Int>::from_data(TensorData::new(col, [b * samples]), device);
        step_logits.push(lm.step(col, memory, &mut cache).unsqueeze_dim::<3>(1));
        assert_eq!(cache.len(), s + 1);
    }
    let logits = to_host(Tensor::cat(step_logits, 1));
    let vocab = parts.config.vocab_size;
    let reference = &expected["decoder_logits"];
    for i in 0..b {
        for k in 0..samples {
            let row = i * samples + k;
            let got = &logits.data[row * steps * vocab..(row + 1) * steps * vocab];
            let want = &reference.data[i * steps * vocab..(i + 1) * steps * vocab];
            assert_close(
                &format!("cached logits of series {i} sample {k}"),
                &tsfm_models::checkpoint::HostTensor::new(vec![steps, vocab], got.to_vec()),
                &tsfm_models::checkpoint::HostTensor::new(vec![steps, vocab], want.to_vec()),
            );
        }
    }
}

/// A one-layer T5 encoder with heads a whole number of panels wide (the fixture's are 8), so
/// that inference runs its self-attention through the panel kernel; weights drawn at random.
fn panel_wide_encoder(device: &Device) -> (T5Config, T5Encoder) {
    let raw = serde_json::json!({
        "d_model": 32, "d_kv": PANEL, "d_ff": 48, "num_heads": 2, "num_layers": 1,
        "vocab_size": 40, "relative_attention_num_buckets": 8,
        "relative_attention_max_distance": 20, "feed_forward_proj": "relu",
        "dropout_rate": 0.0,
    });
    let raw = raw.as_object().unwrap().clone();
    let config = T5Config::from_json(raw, "config.json", &[]).unwrap().config;
    let ff = config.feed_forward("config.json").unwrap();
    let (d, inner) = (config.d_model, config.inner_dim());
    let mut state = 7u64;
    let mut tensor = |shape: Vec<usize>| {
        let data = (0..shape.iter().product::<usize>())
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.6
            })
            .collect();
        tsfm_models::checkpoint::HostTensor::new(shape, data)
    };
    let layer = "encoder.block.0.layer";
    let mut tensors = tsfm_models::checkpoint::TensorMap::new();
    for name in ["q", "k", "v"] {
        let key = format!("{layer}.0.SelfAttention.{name}.weight");
        tensors.insert(key, tensor(vec![inner, d]));
    }
    let o = format!("{layer}.0.SelfAttention.o.weight");
    tensors.insert(o, tensor(vec![d, inner]));
    let bias = format!("{layer}.0.SelfAttention.relative_attention_bias.weight");
    tensors.insert(bias, tensor(vec![8, 2]));
    tensors.insert(
        format!("{layer}.1.DenseReluDense.wi.weight"),
        tensor(vec![48, d]),
    );
    tensors.insert(
        format!("{layer}.1.DenseReluDense.wo.weight"),
        tensor(vec![d, 48]),
    );
    for norm in [
        format!("{layer}.0.layer_norm.weight"),
        format!("{layer}.1.layer_norm.weight"),
    ] {
        tensors.insert(norm, tensor(vec![d]));
    }
    tensors.insert("encoder.final_layer_norm.weight".into(), tensor(vec![d]));
    let source = WeightSource::new(tensors);
    let encoder = T5Encoder::load(&source.root(device).pp("encoder"), &config, ff).unwrap();
    assert_eq!(source.unused(), Vec::<String>::new());
    (config, encoder)
}

#[test]
fn the_encoders_panel_attention_equals_the_plain_attention() {
    // Inference (flex) runs the panel kernel; an autodiff device runs Burn's composition (the
    // config has no dropout, which an autodiff device would otherwise draw).
    let (rows, t) = (3, 37);
    let embeds = |device: &Device| {
        let values: Vec<f32> = (0..rows * t * 32)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 40.0)
            .collect();
        Tensor::<3>::from_data(TensorData::new(values, [rows, t, 32]), device)
    };
    let mask = |device: &Device| {
        // Row 1 has its first 5 positions missing (left padding), row 2 every other one.
        let values: Vec<f32> = (0..rows * t)
            .map(|i| match (i / t, i % t) {
                (1, j) if j < 5 => 0.0,
                (2, j) if j % 2 == 1 => 0.0,
                _ => 1.0,
            })
            .collect();
        Tensor::<2>::from_data(TensorData::new(values, [rows, t]), device)
    };
    let flex = Device::flex();
    let (_, encoder) = panel_wide_encoder(&flex);
    let got = to_host(encoder.forward(embeds(&flex), mask(&flex)));
    let autodiff = Device::flex().autodiff();
    let (_, plain) = panel_wide_encoder(&autodiff);
    let want = to_host(plain.forward(embeds(&autodiff), mask(&autodiff)));
    assert_eq!(got.shape, want.shape);
    for (i, (g, w)) in got.data.iter().zip(&want.data).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
            "element {i}: {g} against {w}"
        );
    }
}
