//! The hot kernels of the CPU models, owned here: exact GELU (a vectorised erf), layer norm,
//! RMS norm, the attention softmax and the gated-attention softmax (`x * softmax(logits)`),
//! forward and backward.
//!
//! Models call the tensor functions below. On the flex (CPU) backend with `f32` tensors they run
//! `backend::Kernels` (one pass per row or element, SIMD through `pulp`'s runtime dispatch,
//! and one autodiff node with a hand-written backward); anywhere else (another backend or
//! dtype) they fall back to Burn's own composition of the same expression, which is also what
//! the tests compare them with.

pub mod attention;
mod backend;
pub mod math;
pub mod rows;

use burn::Tensor;
use burn::backend::{Dispatch, DispatchDevice};
use burn::tensor::DType;
use burn::tensor::activation;

use backend::Kernels;

// Shapes the kernels cannot take (a weight that does not match the last axis) go to Burn's
// composition too, which refuses them as it always did, rather than being read with another
// row length.

/// Whether `x` lives where the kernels run: non-empty `f32` on the flex backend (with or
/// without autodiff).
fn on_kernels<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == DType::F32
        && x.shape().num_elements() > 0
        && matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_))
}

/// Exact (erf) GELU, as `nn.functional.gelu`.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !on_kernels(&x) {
        return activation::gelu(x);
    }
    Tensor::from_dispatch(<Dispatch as Kernels>::fused_gelu(x.into_dispatch()))
}

/// `nn.LayerNorm` over the last axis (biased variance), with weight and bias.
pub fn layer_norm<const D: usize>(
    x: Tensor<D>,
    weight: Tensor<1>,
    bias: Tensor<1>,
    eps: f64,
) -> Tensor<D> {
    let d = x.dims()[D - 1];
    let fits = weight.dims() == [d] && bias.dims() == [d];
    if !on_kernels(&x) || !fits || weight.dtype() != DType::F32 || bias.dtype() != DType::F32 {
        return burn::tensor::module::layer_norm(x, weight, Some(bias), eps);
    }
    Tensor::from_dispatch(<Dispatch as Kernels>::fused_layer_norm(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        eps,
    ))
}

/// RMS norm over the last axis, `x / sqrt(mean(x^2) + eps) * weight` (T5's `T5LayerNorm`,
/// TimesFM's `RMSNorm`).
pub fn rms_norm<const D: usize>(x: Tensor<D>, weight: Tensor<1>, eps: f64) -> Tensor<D> {
    if !on_kernels(&x) || weight.dims() != [x.dims()[D - 1]] || weight.dtype() != DType::F32 {
        let variance = x.clone().powi_scalar(2).mean_dim(D - 1);
        let normed = x * (variance + eps).sqrt().recip();
        return normed * weight.unsqueeze::<D>();
    }
    Tensor::from_dispatch(<Dispatch as Kernels>::fused_rms_norm(
        x.into_dispatch(),
        weight.into_dispatch(),
        eps,
    ))
}

/// `x + bias` with `bias` along the last axis: a linear layer's bias, added in the matmul
/// output's own buffer (Burn's broadcast add walks strided runs and allocates).
pub fn add_bias<const D: usize>(x: Tensor<D>, bias: Tensor<1>) -> Tensor<D> {
    if !on_kernels(&x) || bias.dims() != [x.dims()[D - 1]] || bias.dtype() != DType::F32 {
        return x + bias.unsqueeze::<D>();
    }
    Tensor::from_dispatch(<Dispatch as Kernels>::fused_add_bias(
        x.into_dispatch(),
        bias.into_dispatch(),
    ))
}

/// `x * softmax(logits)` over the last axis (TTM's gated attention).
pub fn softmax_gate<const D: usize>(x: Tensor<D>, logits: Tensor<D>) -> Tensor<D> {
    if !on_kernels(&x) || logits.dtype() != DType::F32 || x.dims() != logits.dims() {
        return x * activation::softmax(logits, D - 1);
    }
    Tensor::from_dispatch(<Dispatch as Kernels>::fused_softmax_gate(
        x.into_dispatch(),
        logits.into_dispatch(),
    ))
}

/// Softmax over the last axis (attention weights).
pub fn softmax<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !on_kernels(&x) {
        return activation::softmax(x, D - 1);
    }
    Tensor::from_dispatch(<Dispatch as Kernels>::fused_softmax(x.into_dispatch()))
}

/// `buffer` with `new` written at positions `at..at + q` of `axis` (`new` has `buffer`'s shape
/// except `q` on `axis`): a decoder's cache taking a step's keys and values, in the cache's
/// own storage when nothing else holds it (Burn's `slice_assign` copies element by element
/// when the written part is strided, as transposed keys are). Autodiff devices get
/// `slice_assign`.
pub fn write_along(buffer: Tensor<4>, new: Tensor<4>, axis: usize, at: usize) -> Tensor<4> {
    let (dims, new_dims) = (buffer.dims(), new.dims());
    let q = new_dims[axis];
    let fits = axis < 4
        && at + q <= dims[axis]
        && (0..4).all(|i| i == axis || dims[i] == new_dims[i])
        && new.dtype() == DType::F32;
    if !on_kernels(&buffer) || buffer.device().is_autodiff() || !fits {
        let ranges: [std::ops::Range<usize>; 4] =
            std::array::from_fn(|i| if i == axis { at..at + q } else { 0..dims[i] });
        return buffer.slice_assign(ranges, new);
    }
    Tensor::from_dispatch(<Dispatch as Kernels>::fused_write_along(
        buffer.into_dispatch(),
        new.into_dispatch(),
        axis,
        at,
    ))
}

/// One decoding step's attention: `softmax(scale * q k^T + bias) v` of `q` (`[rows, heads, 1,
/// d_kv]`, one new query per row) over the first `len` positions of a key/value cache: keys
/// transposed (`keys_t`: `[rows, heads, d_kv, capacity]`), `values` `[rows, heads, capacity,
/// d_kv]`; `bias` additive `[1 | rows, heads, 1, len]`. Returns `[rows, heads, 1, d_kv]`. For
/// inference: autodiff devices (where attention weights could take dropout or need gradients)
/// get Burn's composition.
pub fn cached_attention(
    q: Tensor<4>,
    keys_t: Tensor<4>,
    values: Tensor<4>,
    bias: Tensor<4>,
    len: usize,
    scale: f64,
) -> Tensor<4> {
    let [rows, heads, q_len, d_kv] = q.dims();
    let [key_rows, key_heads, key_d, capacity] = keys_t.dims();
    let [bias_rows, bias_heads, bias_q, bias_len] = bias.dims();
    let fits = q_len == 1
        && (key_rows, key_heads, key_d) == (rows, heads, d_kv)
        && values.dims() == [rows, heads, capacity, d_kv]
        && (1..=capacity).contains(&len)
        && (bias_rows == 1 || bias_rows == rows)
        && (bias_heads, bias_q, bias_len) == (heads, 1, len)
        && [&keys_t, &values, &bias]
            .iter()
            .all(|t| t.dtype() == DType::F32);
    if !on_kernels(&q) || q.device().is_autodiff() || !fits {
        let keys_t = keys_t.narrow(3, 0, len);
        let values = values.narrow(2, 0, len);
        let scores = q.matmul(keys_t).mul_scalar(scale) + bias;
        return activation::softmax(scores, 3).matmul(values);
    }
    Tensor::from_dispatch(<Dispatch as Kernels>::fused_cached_attention(
        q.into_dispatch(),
        keys_t.into_dispatch(),
        values.into_dispatch(),
        bias.into_dispatch(),
        len,
        scale,
    ))
}

#[cfg(test)]
mod tests;
