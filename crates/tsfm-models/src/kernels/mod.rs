//! The hot kernels of the CPU models, owned here: the linear layers' GEMM calls, exact GELU (a
//! vectorised erf), layer norm, RMS norm, the attention softmax (alone or with its additive mask
//! or position bias), the gated-attention softmax (`x * softmax(logits)`), rotary positions and
//! dropout, forward and backward; for inference only, attention of query groups over keys
//! stored as panels (T5's decoding cross-attention and its encoder's self-attention,
//! [`panel_attention`]); and the trainer's Adam / AdamW update ([`adam_step`]).
//!
//! Models call the tensor functions below. On the flex (CPU) backend with `f32` tensors they run
//! `backend::Kernels` (one pass per row or element, SIMD through `pulp`'s runtime dispatch,
//! and one autodiff node with a hand-written backward); anywhere else (another backend or
//! dtype) they fall back to Burn's own composition of the same expression, which is also what
//! the tests compare them with.

pub mod adam;
pub mod attention;
mod backend;
pub mod math;
pub mod rope;
pub mod rows;

use burn::Tensor;
use burn::backend::{Dispatch, DispatchDevice};
use burn::tensor::activation;
use burn::tensor::{DType, TensorData};

use adam::{AdamStep, MomentLerp};
pub use backend::DropoutMask;
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

/// `x @ weight + bias` over the last axis, `weight` `[d_in, d_out]` (Burn's linear layout): on
/// the flex backend, one GEMM over all of `x`'s rows into a buffer that is never zeroed first
/// (Burn's matmul zeroes every output, 10 % of TTM's inference), then the bias added in that
/// buffer; on an autodiff device the backward is two such GEMMs, `dx = grad @ weight^T` and
/// `dweight = x^T @ grad` over all rows at once, where Burn's batched matmul copied and zeroed
/// its operands and summed per-batch weight gradients (a quarter of a TTM-r2 training step).
/// The forward is the same floats as `burn::tensor::module::linear` and [`add_bias`] (what
/// other backends run), and so is `dx` for a contiguous weight (a transposed weight view sends
/// Burn's GEMMs through copies in another operand order: equal within rounding); `dweight`
/// sums its rows in one GEMM's order, as PyTorch's `linear` backward does.
pub fn linear<const D: usize>(
    x: Tensor<D>,
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
) -> Tensor<D> {
    let fits = x.dims()[D - 1] == weight.dims()[0] && weight.dtype() == DType::F32;
    let product = if on_kernels(&x) && fits {
        Tensor::from_dispatch(<Dispatch as Kernels>::fused_matmul_rows(
            x.into_dispatch(),
            weight.into_dispatch(),
        ))
    } else {
        burn::tensor::module::linear(x, weight, None)
    };
    match bias {
        Some(bias) => add_bias(product, bias),
        None => product,
    }
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

/// `softmax(x + bias)` over the last axis (attention weights with an additive mask or position
/// bias), `bias` broadcast to `x` as `+` broadcasts it: one pass in `x`'s buffer instead of a
/// sum tensor and a softmax tensor. The same floats as the composition. On an autodiff device
/// (training) it is that composition, the bias's broadcast gradient Burn's.
pub fn softmax_biased<const D: usize>(x: Tensor<D>, bias: Tensor<D>) -> Tensor<D> {
    let (dims, bias_dims) = (x.dims(), bias.dims());
    let broadcasts = (0..D).all(|i| bias_dims[i] == dims[i] || (bias_dims[i] == 1 && i + 1 < D));
    if !on_kernels(&x) || bias.dtype() != DType::F32 || !broadcasts {
        return softmax(x + bias);
    }
    Tensor::from_dispatch(<Dispatch as Kernels>::fused_softmax_biased(
        x.into_dispatch(),
        bias.into_dispatch(),
    ))
}

/// Attention of groups of queries over keys and values each group shares, in inference:
/// `softmax(q k^T + bias) v` per group and head, unscaled. `q` is `[groups, queries, heads,
/// d]` (a projection's rows with the heads still in place), the keys are panels
/// `[groups, heads, blocks, d, PANEL]` (`blocks` panels of
/// [`attention::PANEL`] positions, the last one padded), `value` is `[groups, heads,
/// positions, d]` and `bias` `[1 or groups, 1 or heads, 1 or queries, positions]`; the result is
/// `[groups, queries, heads, d]`, the heads in place for the output projection.
///
/// On the flex backend without autodiff it is [`attention::panel_attention`] (one pass per
/// group and head, the keys streamed in order); elsewhere Burn's composition of the same
/// expression, which the tests compare it with.
pub fn panel_attention(
    q: Tensor<4>,
    key_panels: Tensor<5>,
    value: Tensor<4>,
    bias: Tensor<4>,
) -> Tensor<4> {
    let [groups, queries, heads, d] = q.dims();
    let [kg, kh, blocks, kd, panel] = key_panels.dims();
    let [vg, vh, positions, vd] = value.dims();
    let [bg, bh, bq, bp] = bias.dims();
    let fits = [kg, vg] == [groups; 2]
        && [kh, vh] == [heads; 2]
        && [kd, vd] == [d; 2]
        && panel == attention::PANEL
        && positions > 0
        && blocks == positions.div_ceil(attention::PANEL)
        && d.is_multiple_of(attention::PANEL)
        && (bg == 1 || bg == groups)
        && (bh == 1 || bh == heads)
        && (bq == 1 || bq == queries)
        && bp == positions
        && [&key_panels.dtype(), &value.dtype(), &bias.dtype()] == [&DType::F32; 3];
    if !on_kernels(&q) || q.device().is_autodiff() || !fits {
        return panel_attention_composed(q, key_panels, value, bias);
    }
    Tensor::from_dispatch(<Dispatch as Kernels>::fused_panel_attention(
        q.into_dispatch(),
        key_panels.into_dispatch(),
        value.into_dispatch(),
        bias.into_dispatch(),
    ))
}

/// `x` times the dropout mask `mask` describes ([`math::dropout_mask`]). On the flex backend
/// one pass in `x`'s buffer, and on an autodiff device one node whose backward multiplies the
/// gradient by the same mask drawn again from its seed, so no mask is allocated or kept;
/// elsewhere the mask as a tensor and Burn's product, the same floats.
pub fn dropout<const D: usize>(x: Tensor<D>, mask: DropoutMask) -> Tensor<D> {
    if !on_kernels(&x) {
        let shape = x.shape();
        let mut values = vec![0.0f32; shape.num_elements()];
        math::dropout_mask(mask.state, mask.threshold, mask.scale, &mut values);
        let mask = Tensor::<D>::from_data(TensorData::new(values, shape), &x.device());
        return x * mask;
    }
    Tensor::from_dispatch(<Dispatch as Kernels>::fused_dropout(
        x.into_dispatch(),
        mask,
    ))
}

/// A flattened parameter and its Adam moments (PyTorch's `exp_avg`, `exp_avg_sq`).
#[derive(Debug, Clone)]
pub struct AdamTensors {
    pub param: Tensor<1>,
    pub exp_avg: Tensor<1>,
    pub exp_avg_sq: Tensor<1>,
}

/// One Adam / AdamW update of a flattened parameter by `grad` (PyTorch's single-tensor
/// formulas): the new parameter and moments. On the flex backend with `f32` tensors of one
/// length it is [`adam::adam_step_in_place`], one pass in the parameter's and moments' own
/// buffers; elsewhere [`adam_step_composed`]. The same floats either way.
pub fn adam_step(state: AdamTensors, grad: Tensor<1>, step: AdamStep) -> AdamTensors {
    let AdamTensors {
        param,
        exp_avg,
        exp_avg_sq,
    } = &state;
    let n = param.dims();
    let fits = [grad.dims(), exp_avg.dims(), exp_avg_sq.dims()] == [n; 3]
        && [grad.dtype(), exp_avg.dtype(), exp_avg_sq.dtype()] == [DType::F32; 3]
        && [grad.device(), exp_avg.device(), exp_avg_sq.device()]
            .iter()
            .all(|device| *device == param.device());
    if !on_kernels(param) || !fits {
        return adam_step_composed(state, grad, step);
    }
    let (param, exp_avg, exp_avg_sq) = <Dispatch as Kernels>::fused_adam_step(
        state.param.into_dispatch(),
        grad.into_dispatch(),
        state.exp_avg.into_dispatch(),
        state.exp_avg_sq.into_dispatch(),
        step,
    );
    AdamTensors {
        param: Tensor::from_dispatch(param),
        exp_avg: Tensor::from_dispatch(exp_avg),
        exp_avg_sq: Tensor::from_dispatch(exp_avg_sq),
    }
}

/// [`adam_step`] as Burn's element-wise ops, in the order of PyTorch's single-tensor
/// `adam`/`adamw` (`foreach=False`): what other backends run and the tests compare with.
pub fn adam_step_composed(state: AdamTensors, grad: Tensor<1>, step: AdamStep) -> AdamTensors {
    let param = match step.decay {
        Some(decay) => state.param.mul_scalar(decay),
        None => state.param,
    };
    let grad = match step.l2 {
        Some(l2) => grad + param.clone().mul_scalar(l2),
        None => grad,
    };
    let m = state.exp_avg;
    let exp_avg = match step.lerp {
        MomentLerp::FromMoment(w) => m.clone() + (grad.clone() - m).mul_scalar(w),
        MomentLerp::FromGrad(w) => grad.clone() - (grad.clone() - m).mul_scalar(w),
    };
    let exp_avg_sq = state.exp_avg_sq.mul_scalar(step.beta2)
        + grad.clone().mul_scalar(step.one_minus_beta2) * grad;
    let denom = exp_avg_sq
        .clone()
        .sqrt()
        .div_scalar(step.bias_correction2_sqrt)
        .add_scalar(step.eps);
    let param = param + exp_avg.clone().mul_scalar(step.neg_step_size) / denom;
    AdamTensors {
        param,
        exp_avg,
        exp_avg_sq,
    }
}

/// Transposed keys `[groups, heads, d, positions]` as the panels [`panel_attention`] reads,
/// `[groups, heads, blocks, d, PANEL]` (the last panel padded with zeros), stored
/// contiguously so that a pass streams them in order.
pub fn key_panels(key_t: Tensor<4>) -> Tensor<5> {
    let [groups, heads, d, positions] = key_t.dims();
    let blocks = positions.div_ceil(attention::PANEL);
    let device = key_t.device();
    let padded = if blocks * attention::PANEL == positions {
        key_t
    } else {
        let pad = Tensor::zeros(
            [groups, heads, d, blocks * attention::PANEL - positions],
            &device,
        );
        Tensor::cat(vec![key_t, pad], 3)
    };
    let panels = padded
        .reshape([groups, heads, d, blocks, attention::PANEL])
        .permute([0, 1, 3, 2, 4]);
    // `to_data` is the values in logical order: the panels become one contiguous tensor.
    Tensor::from_data(panels.to_data(), &device)
}

/// [`panel_attention`] as Burn's composition: the panels unpacked to `[groups, heads, d,
/// positions]`, the product, the biased softmax and the weighted values.
pub fn panel_attention_composed(
    q: Tensor<4>,
    key_panels: Tensor<5>,
    value: Tensor<4>,
    bias: Tensor<4>,
) -> Tensor<4> {
    let [groups, heads, blocks, d, panel] = key_panels.dims();
    let positions = value.dims()[2];
    let key_t = key_panels
        .permute([0, 1, 3, 2, 4])
        .reshape([groups, heads, d, blocks * panel])
        .narrow(3, 0, positions);
    let weights = softmax_biased(q.swap_dims(1, 2).matmul(key_t), bias);
    weights.matmul(value).swap_dims(1, 2)
}

/// Rotary positions over `x` `[batch, seq, heads, d]` (a projection before its heads are
/// split off), with the tables `cos`/`sin` `[1 or batch, seq, d / 2]`: each head's halves
/// rotated against each other, `(x1 cos - x2 sin, x2 cos + x1 sin)` (`rotate_half`).
pub fn rope(x: Tensor<4>, cos: Tensor<3>, sin: Tensor<3>) -> Tensor<4> {
    let [b, s, _, d] = x.dims();
    let [tb, ts, half] = cos.dims();
    let fits = d % 2 == 0
        && half == d / 2
        && ts == s
        && (tb == 1 || tb == b)
        && sin.dims() == cos.dims()
        && cos.dtype() == DType::F32
        && sin.dtype() == DType::F32;
    if !on_kernels(&x) || !fits {
        return rope_composed(x, cos, sin);
    }
    Tensor::from_dispatch(<Dispatch as Kernels>::fused_rope(
        x.into_dispatch(),
        cos.into_dispatch(),
        sin.into_dispatch(),
    ))
}

/// [`rope`] as Burn's composition.
fn rope_composed(x: Tensor<4>, cos: Tensor<3>, sin: Tensor<3>) -> Tensor<4> {
    let [tb, ts, half] = cos.dims();
    let (cos, sin) = (
        cos.reshape([tb, ts, 1, half]),
        sin.reshape([tb, ts, 1, half]),
    );
    let first = x.clone().narrow(3, 0, half);
    let second = x.narrow(3, half, half);
    Tensor::cat(
        vec![
            first.clone() * cos.clone() - second.clone() * sin.clone(),
            second * cos + first * sin,
        ],
        3,
    )
}

#[cfg(test)]
mod tests;
