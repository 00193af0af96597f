//! The owned kernels (`tsfm_models::kernels`) against Burn's composition of the same
//! expressions, forward (inference, no autodiff) and forward + backward (autodiff), at TTM-r2
//! 512-96's shapes with batch 64: GELU on the patch mixer's hidden layer (`[64, 1, 8, 384]`),
//! layer norm and the softmax gate over `d_model` (`[64, 1, 8, 192]`) and over patches
//! (`[64, 1, 192, 8]`, the patch mixer's gate), and RMS norm at a
//! Chronos-Bolt-small width (`[64, 33, 512]`); the attention softmax at Chronos-T5-tiny's
//! cross-attention shape, and with its bias or mask in one pass (`softmax_biased`) at T5's
//! encoder, cross-attention and decoding-step shapes (inference); T5's decoding cross-attention
//! and its encoder self-attention through `panel_attention` against Burn's matmuls.
//!
//! Run: `cargo bench -p tsfm-models --bench kernels` (criterion; filter with a name, e.g.
//! `-- gelu`).

use burn::Tensor;
use burn::tensor::{Device, Distribution, activation};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tsfm_models::kernels;

fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), device)
}

/// Forces the lazy work and keeps the result alive.
fn finish<const D: usize>(t: Tensor<D>) -> f32 {
    t.into_data().as_slice::<f32>().map(|s| s[0]).unwrap_or(0.0)
}

type Unary<const D: usize> = fn(Tensor<D>) -> Tensor<D>;

fn bench_unary<const D: usize>(
    c: &mut Criterion,
    name: &str,
    shape: [usize; D],
    sides: [(&str, Unary<D>); 2],
) {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(shape.iter().product::<usize>() as u64));
    for (side, f) in sides {
        let device = Device::flex();
        let x = random(shape, &device);
        group.bench_function(BenchmarkId::new("forward", side), |b| {
            b.iter(|| finish(f(x.clone())))
        });
        let device = Device::flex().autodiff();
        let x = random(shape, &device).require_grad();
        let upstream = random(shape, &device);
        group.bench_function(BenchmarkId::new("forward+backward", side), |b| {
            b.iter(|| {
                let grads = (f(x.clone()) * upstream.clone()).sum().backward();
                finish(x.grad(&grads).expect("gradient"))
            })
        });
    }
    group.finish();
}

const TTM_HIDDEN: [usize; 4] = [64, 1, 8, 384];
const TTM_MODEL: [usize; 4] = [64, 1, 8, 192];
const TTM_PATCHES: [usize; 4] = [64, 1, 192, 8];
const BOLT: [usize; 3] = [64, 33, 512];

fn gelu(c: &mut Criterion) {
    bench_unary(
        c,
        "gelu",
        TTM_HIDDEN,
        [("kernel", kernels::gelu), ("burn", activation::gelu)],
    );
}

fn layer_norm(c: &mut Criterion) {
    fn with_kernel(x: Tensor<4>) -> Tensor<4> {
        let (w, b) = affine(&x);
        kernels::layer_norm(x, w, b, 1e-5)
    }
    fn with_burn(x: Tensor<4>) -> Tensor<4> {
        let (w, b) = affine(&x);
        burn::tensor::module::layer_norm(x, w, Some(b), 1e-5)
    }
    fn affine(x: &Tensor<4>) -> (Tensor<1>, Tensor<1>) {
        let d = x.dims()[3];
        let w = Tensor::<1>::ones([d], &x.device()) * 1.1;
        (w.clone(), w * 0.1)
    }
    bench_unary(
        c,
        "layer_norm",
        TTM_MODEL,
        [("kernel", with_kernel), ("burn", with_burn)],
    );
}

fn rms_norm(c: &mut Criterion) {
    fn weight(x: &Tensor<3>) -> Tensor<1> {
        Tensor::<1>::ones([x.dims()[2]], &x.device()) * 0.9
    }
    fn with_kernel(x: Tensor<3>) -> Tensor<3> {
        let w = weight(&x);
        kernels::rms_norm(x, w, 1e-6)
    }
    fn with_burn(x: Tensor<3>) -> Tensor<3> {
        let w = weight(&x);
        let variance = x.clone().powi_scalar(2).mean_dim(2);
        x * (variance + 1e-6).sqrt().recip() * w.unsqueeze::<3>()
    }
    bench_unary(
        c,
        "rms_norm",
        BOLT,
        [("kernel", with_kernel), ("burn", with_burn)],
    );
}

fn softmax_gate(c: &mut Criterion) {
    // The gate's logits come from a linear layer of x; a fixed affine map stands in for it.
    fn with_kernel(x: Tensor<4>) -> Tensor<4> {
        let logits = x.clone() * 2.0 + 0.5;
        kernels::softmax_gate(x, logits)
    }
    fn with_burn(x: Tensor<4>) -> Tensor<4> {
        let logits = x.clone() * 2.0 + 0.5;
        x * activation::softmax(logits, 3)
    }
    let sides: [(&str, Unary<4>); 2] = [("kernel", with_kernel), ("burn", with_burn)];
    bench_unary(c, "softmax_gate", TTM_MODEL, sides);
    // The patch mixer gates over patches: rows of 8.
    bench_unary(c, "softmax_gate_rows_of_8", TTM_PATCHES, sides);
}

/// Chronos-T5-tiny's cross-attention weights while decoding 7 series x 20 samples: rows of 513
/// encoder positions (`[7, 4, 20, 513]`).
const T5_CROSS: [usize; 4] = [7, 4, 20, 513];

fn softmax(c: &mut Criterion) {
    fn with_burn(x: Tensor<4>) -> Tensor<4> {
        activation::softmax(x, 3)
    }
    bench_unary(
        c,
        "softmax t5 cross-attention [7,4,20,513]",
        T5_CROSS,
        [("kernel", kernels::softmax), ("burn", with_burn)],
    );
}

/// `softmax(scores + bias)` in one pass against Burn's broadcast add then the softmax kernel,
/// at Chronos-T5-tiny's shapes for 7 series: the encoder's scores with the position bias and
/// mask (`[7, 4, 513, 513]`), the decoder's cross-attention with the encoder mask
/// (`[7, 4, 20, 528]` + `[7, 1, 1, 528]`) and a decoding step's self-attention with the
/// position bias (`[140, 4, 1, 32]` + `[1, 4, 1, 32]`).
fn softmax_biased(c: &mut Criterion) {
    let device = Device::flex();
    let cases: [(&str, [usize; 4], [usize; 4]); 3] = [
        ("encoder", [7, 4, 513, 513], [7, 4, 513, 513]),
        ("cross-attention", [7, 4, 20, 528], [7, 1, 1, 528]),
        ("decoding step", [140, 4, 1, 32], [1, 4, 1, 32]),
    ];
    for (name, shape, bias_shape) in cases {
        let (x, bias) = (random(shape, &device), random(bias_shape, &device));
        let mut group = c.benchmark_group(format!("softmax_biased t5 {name} {shape:?}"));
        group.throughput(Throughput::Elements(shape.iter().product::<usize>() as u64));
        // `x * 1` stands for the scores product: a fresh buffer the kernel may take.
        group.bench_function("kernel", |b| {
            b.iter(|| {
                finish(kernels::softmax_biased(
                    x.clone().mul_scalar(1.0),
                    bias.clone(),
                ))
            })
        });
        group.bench_function("add then softmax", |b| {
            b.iter(|| finish(kernels::softmax(x.clone().mul_scalar(1.0) + bias.clone())))
        });
        group.finish();
    }
}

/// A Chronos-T5-tiny decoding step's cross-attention for one layer of a 7-series chunk (20
/// samples each, 513 encoder positions, 4 heads of 64): [`kernels::panel_attention`] over
/// the keys as panels against Burn's composition over the transposed keys (the product, the
/// biased softmax, the weighted values). Keys and values of 28 layers' worth of such calls
/// (30 MB, as a step reads them from L3 or memory) are cycled through so that neither side
/// reads them warm from L2.
fn panel_attention(c: &mut Criterion) {
    const COPIES: usize = 28;
    let device = Device::flex();
    let (series, samples, heads, d, t): (usize, usize, usize, usize, usize) = (7, 20, 4, 64, 513);
    let q = random([series, samples, heads, d], &device);
    let mask = random([series, 1, 1, t], &device);
    let memories: Vec<_> = (0..COPIES)
        .map(|_| {
            let key_t = random([series, heads, d, t], &device);
            let panels = kernels::key_panels(key_t.clone());
            let key_t = Tensor::<4>::from_data(key_t.into_data(), &device);
            (panels, key_t, random([series, heads, t, d], &device))
        })
        .collect();
    let mut group = c.benchmark_group("panel_attention t5 cross-attention [7, 20, 4, 64] x 513");
    group.throughput(Throughput::Elements(
        (2 * series * samples * heads * d * t) as u64,
    ));
    let mut i = 0;
    group.bench_function("kernel", |b| {
        b.iter(|| {
            i = (i + 1) % COPIES;
            let (panels, _, value) = &memories[i];
            finish(kernels::panel_attention(
                q.clone(),
                panels.clone(),
                value.clone(),
                mask.clone(),
            ))
        })
    });
    group.bench_function("burn matmuls", |b| {
        b.iter(|| {
            i = (i + 1) % COPIES;
            let (_, key_t, value) = &memories[i];
            let scores = q.clone().swap_dims(1, 2).matmul(key_t.clone());
            let weights = kernels::softmax_biased(scores, mask.clone());
            finish(weights.matmul(value.clone()).swap_dims(1, 2))
        })
    });
    group.finish();
}

/// A Chronos-T5-tiny encoder layer's self-attention for a 7-series chunk (513 positions, 4
/// heads of 64, the position bias with the mask added, a row per query): the keys packed as
/// panels then [`kernels::panel_attention`], against Burn's composition (the product, the
/// biased softmax over the `[7, 4, 513, 513]` scores, the weighted values).
fn encoder_attention(c: &mut Criterion) {
    let device = Device::flex();
    let (series, heads, d, t): (usize, usize, usize, usize) = (7, 4, 64, 513);
    let q = random([series, t, heads, d], &device);
    let key = random([series, heads, t, d], &device);
    let value = random([series, heads, t, d], &device);
    let bias = random([series, heads, t, t], &device);
    let mut group = c.benchmark_group("panel_attention t5 encoder self-attention [7, 513, 4, 64]");
    group.throughput(Throughput::Elements(
        (2 * series * heads * d * t * t) as u64,
    ));
    group.bench_function("kernel (keys packed per call)", |b| {
        b.iter(|| {
            let panels = kernels::key_panels(key.clone().swap_dims(2, 3));
            finish(kernels::panel_attention(
                q.clone(),
                panels,
                value.clone(),
                bias.clone(),
            ))
        })
    });
    group.bench_function("burn matmuls", |b| {
        b.iter(|| {
            let scores = q
                .clone()
                .swap_dims(1, 2)
                .matmul(key.clone().swap_dims(2, 3));
            let weights = kernels::softmax_biased(scores, bias.clone());
            finish(weights.matmul(value.clone()).swap_dims(1, 2))
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    panel_attention,
    encoder_attention,
    gelu,
    layer_norm,
    rms_norm,
    softmax_gate,
    softmax,
    softmax_biased
);
criterion_main!(benches);
