//! The kernels as a Burn backend extension: a forward on the flex (CPU) backend, and on
//! `Autodiff<Flex>` the same forward plus a hand-written backward, so the autodiff graph holds
//! one node per kernel instead of one per elementary op.

use std::sync::Arc;

use burn::backend::AutodiffBackend;
use burn::backend::TensorMetadata;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::ops::FloatTensorOps;
use burn::backend::{Autodiff, Flex, backend_extension, tensor::FloatTensor};
use burn::tensor::{DType, Shape, Slice, TensorData};

use super::adam::{AdamStep, adam_step_in_place};
use super::attention::{PANEL, PanelAttentionDims, panel_attention};
use super::math::{dropout_in_place, gelu_backward_in_place, gelu_in_place};
use super::rope::rope_rows;
use super::rows::{
    RowStats, add_bias, column_sums, layer_norm_backward, layer_norm_forward, rms_norm_backward,
    rms_norm_forward, softmax_backward, softmax_biased_in_place, softmax_forward,
    softmax_gate_backward, softmax_gate_forward, softmax_gate_in_place,
};

/// Fused kernels; callers go through [`super`]'s tensor functions, which route only `f32`
/// tensors on the flex backend here.
#[backend_extension(Flex, Autodiff)]
pub trait Kernels: burn::backend::Backend {
    /// Exact GELU.
    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// Layer norm over the last axis, affine with bias.
    fn fused_layer_norm(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self>;
    /// RMS norm over the last axis: `x / sqrt(mean(x^2) + eps) * weight`.
    fn fused_rms_norm(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self>;
    /// `x @ weight` over the last axis, `weight` `[d_in, d_out]`: every leading axis folded
    /// into the rows of one GEMM.
    fn fused_matmul_rows(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self>;
    /// `x + bias` with `bias` along the last axis (a linear layer's bias).
    fn fused_add_bias(x: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self>;
    /// `x * softmax(logits)` over the last axis.
    fn fused_softmax_gate(x: FloatTensor<Self>, logits: FloatTensor<Self>) -> FloatTensor<Self>;
    /// Softmax over the last axis.
    fn fused_softmax(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// `softmax(x + bias)` over the last axis, `bias` broadcast to `x` (same rank, each axis
    /// 1 or `x`'s, the last `x`'s).
    fn fused_softmax_biased(x: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self>;
    /// `softmax(q k^T + bias) v` per group and head ([`super::panel_attention`]): `q`
    /// `[groups, queries, heads, d]`, the keys as panels `[groups, heads, blocks, d, PANEL]`,
    /// `value` `[groups, heads, positions, d]`, `bias` `[1 or groups, 1 or heads, 1 or queries,
    /// positions]`; returns `[groups, queries, heads, d]`.
    fn fused_panel_attention(
        q: FloatTensor<Self>,
        key_panels: FloatTensor<Self>,
        value: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
    /// Rotary positions over `x` `[batch, seq, heads, d]` with `cos`/`sin` `[1 or batch, seq,
    /// d / 2]`.
    fn fused_rope(
        x: FloatTensor<Self>,
        cos: FloatTensor<Self>,
        sin: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
    /// Dropout: `x` times the mask [`super::math::dropout_mask`] describes (`mask` gives its
    /// seed, threshold and scale), the gradient times the same mask.
    fn fused_dropout(x: FloatTensor<Self>, mask: DropoutMask) -> FloatTensor<Self>;
    /// One Adam / AdamW update of a flattened parameter ([`super::adam`]): returns the new
    /// parameter, first and second moments (in the given buffers when nothing else holds
    /// them). Never differentiated.
    fn fused_adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        exp_avg: FloatTensor<Self>,
        exp_avg_sq: FloatTensor<Self>,
        step: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// A flex tensor's values in logical order (copied only when its layout is not contiguous).
fn values(tensor: &FlexTensor) -> (FlexTensor, Shape) {
    assert_eq!(tensor.dtype(), DType::F32, "kernels take f32 tensors");
    let contiguous = if tensor.as_slice::<f32>().is_some() {
        tensor.clone()
    } else {
        tensor.to_contiguous()
    };
    let shape = contiguous.layout().shape().clone();
    (contiguous, shape)
}

fn slice(tensor: &FlexTensor) -> &[f32] {
    tensor.as_slice::<f32>().expect("contiguous f32 tensor")
}

fn tensor(values: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

fn last_dim(shape: &Shape) -> usize {
    shape.as_slice().last().copied().unwrap_or(1)
}

/// GELU in `x`'s own buffer when nothing else holds it (a fresh linear output), else in a copy.
fn gelu_forward(x: FlexTensor) -> FlexTensor {
    let mut out = owned_values(x);
    gelu_in_place(out.try_storage_mut::<f32>().expect("an owned f32 buffer"));
    out
}

/// `x @ weight` (`weight` `[d_in, d_out]`, any non-negative strides) with every leading axis
/// of `x` folded into the GEMM's rows, written into a fresh buffer that is never zeroed: Burn's
/// flex matmul zeroes its output before the GEMM overwrites it, and runs one GEMM per batch
/// when a batch's rows fill its tiles (packing the weight again for each). The same `gemm` call
/// as Burn's otherwise, so the same floats: the GEMM's depth blocking depends on `d_in` alone,
/// so every output is the same dot product however the rows are tiled or strided.
///
/// A strided `x` whose last two axes are a matrix at any strides under one batch stride (TTM's
/// patch mixer reads its input with the last two axes swapped) is read in place, one GEMM per
/// batch, when a batch has at least as many rows as the weight has columns: the GEMM packs its
/// operands anyway, where copying `x` first was 5 % of TTM's inference. Other layouts, and
/// batches of few rows against a wide weight (packed again per batch), are copied.
fn matmul_rows(x: &FlexTensor, weight: &FlexTensor) -> FlexTensor {
    let n = weight.layout().shape()[1];
    // In place only where the copy costs more than it saves: each batch's GEMM packs the
    // weight again (`k x n` per batch) where the copy moves `rows x k` per batch once.
    let in_place = batched_matrix(x.layout()).is_some_and(|m| m.batches == 1 || n <= m.rows);
    let x = if in_place { x.clone() } else { values(x).0 };
    let lhs = batched_matrix(x.layout()).expect("a contiguous tensor is a batch of matrices");
    let weight = if weight.layout().has_positive_strides() {
        weight.clone()
    } else {
        values(weight).0
    };
    let (w_rs, w_cs) = (weight.layout().strides()[0], weight.layout().strides()[1]);
    let w = &weight.storage::<f32>()[weight.layout().start_offset()..];
    let x_values = &x.storage::<f32>()[x.layout().start_offset()..];
    let mut out_dims = x.layout().shape().as_slice().to_vec();
    *out_dims.last_mut().expect("a matrix or more") = n;
    let out_len = lhs.batches * lhs.rows * n;
    let mut out = Vec::<f32>::with_capacity(out_len);
    if out_len > 0 {
        for batch in 0..lhs.batches {
            // SAFETY: batch `batch` of `x` is `rows x k` at strides `(row_stride, col_stride)`
            // from `batch * batch_stride` (its layout, checked by `batched_matrix`); `w` holds
            // `k x n` at `(w_rs, w_cs)` from its start; `out` has room for `batches x rows x n`
            // row-major. With `read_dst` false the GEMM writes every output without reading
            // it, so the length may be set afterwards.
            unsafe {
                gemm::gemm(
                    lhs.rows,
                    n,
                    lhs.k,
                    out.as_mut_ptr().add(batch * lhs.rows * n),
                    1,
                    n as isize,
                    false,
                    x_values.as_ptr().add(batch * lhs.batch_stride),
                    lhs.col_stride,
                    lhs.row_stride,
                    w.as_ptr(),
                    w_cs,
                    w_rs,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
        // SAFETY: the GEMMs above wrote all `out_len` values.
        unsafe { out.set_len(out_len) };
    }
    tensor(out, Shape::from(out_dims))
}

/// A tensor read as `batches` matrices of `rows x k`: matrix `b` starts `b * batch_stride`
/// values after the layout's offset, its element `(i, j)` `i * row_stride + j * col_stride`
/// further.
struct BatchedMatrix {
    batches: usize,
    batch_stride: usize,
    rows: usize,
    k: usize,
    row_stride: isize,
    col_stride: isize,
}

/// `layout` as a batch of matrices over its last two axes, when its strides are non-negative
/// and its leading axes step through memory as one (a contiguous tensor is one matrix of all
/// its rows); `None` otherwise.
fn batched_matrix(layout: &Layout) -> Option<BatchedMatrix> {
    let dims = layout.shape().as_slice();
    let strides = layout.strides();
    let total = layout.shape().num_elements();
    let k = dims.last().copied().unwrap_or(1);
    if layout.contiguous_offsets().is_some() {
        return Some(BatchedMatrix {
            batches: 1,
            batch_stride: 0,
            rows: total / k.max(1),
            k,
            row_stride: k as isize,
            col_stride: 1,
        });
    }
    let rank = dims.len();
    if rank < 2 || !layout.has_positive_strides() {
        return None;
    }
    let (lead, matrix) = dims.split_at(rank - 2);
    // The leading axes merge into one when each (of more than one element) steps over the
    // next one's whole extent.
    let lead_axes: Vec<usize> = (0..lead.len()).filter(|&i| dims[i] > 1).collect();
    let merges = lead_axes
        .windows(2)
        .all(|w| strides[w[0]] == strides[w[1]] * dims[w[1]] as isize);
    merges.then(|| BatchedMatrix {
        batches: lead.iter().product(),
        batch_stride: lead_axes.last().map_or(0, |&i| strides[i] as usize),
        rows: matrix[0],
        k: matrix[1],
        row_stride: strides[rank - 2],
        col_stride: strides[rank - 1],
    })
}

fn layer_norm_parts(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    eps: f64,
) -> (FlexTensor, Vec<RowStats>) {
    let (x, shape) = values(x);
    let (weight, _) = values(weight);
    let (bias, _) = values(bias);
    let mut out = vec![0.0f32; shape.num_elements()];
    let stats = layer_norm_forward(
        slice(&x),
        slice(&weight),
        Some(slice(&bias)),
        eps as f32,
        &mut out,
    );
    (tensor(out, shape), stats)
}

/// `x + bias`, in `x`'s own buffer when nothing else holds it (a fresh matmul output).
fn add_bias_forward(x: FlexTensor, bias: &FlexTensor) -> FlexTensor {
    let (bias, _) = values(bias);
    let mut out = owned_values(x);
    let storage = out.try_storage_mut::<f32>().expect("an owned f32 buffer");
    add_bias(storage, slice(&bias));
    out
}

/// `x`'s values as a buffer of its own: `x`'s when nothing else holds it (a fresh matmul
/// output), else a copy.
fn owned_values(mut x: FlexTensor) -> FlexTensor {
    let n = x.layout().shape().num_elements();
    if x.layout().contiguous_offsets() == Some((0, n))
        && x.try_storage_mut::<f32>().is_some_and(|s| s.len() == n)
    {
        return x;
    }
    let (x, shape) = values(&x);
    tensor(slice(&x).to_vec(), shape)
}

/// The rotation of `x` `[.., heads, d]` by the tables `cos`/`sin` `[.., d / 2]` (inverse: by
/// the opposite angles), in `x`'s own buffer when it can be.
fn rope_values(x: FlexTensor, cos: &FlexTensor, sin: &FlexTensor, inverse: bool) -> FlexTensor {
    let shape = x.layout().shape().clone();
    let dims = shape.as_slice();
    let row = dims[dims.len() - 2] * dims[dims.len() - 1];
    let half = dims[dims.len() - 1] / 2;
    let (cos, _) = values(cos);
    let (sin, _) = values(sin);
    let mut out = owned_values(x);
    let storage = out.try_storage_mut::<f32>().expect("an owned f32 buffer");
    rope_rows(storage, slice(&cos), slice(&sin), row, half, inverse);
    out
}

fn rms_norm_parts(x: &FlexTensor, weight: &FlexTensor, eps: f64) -> (FlexTensor, Vec<f32>) {
    let (x, shape) = values(x);
    let (weight, _) = values(weight);
    let mut out = vec![0.0f32; shape.num_elements()];
    let rstds = rms_norm_forward(slice(&x), slice(&weight), eps as f32, &mut out);
    (tensor(out, shape), rstds)
}

fn softmax_gate_parts(x: &FlexTensor, logits: &FlexTensor) -> (FlexTensor, Vec<f32>) {
    let (x, shape) = values(x);
    let (logits, logits_shape) = values(logits);
    assert_eq!(
        shape, logits_shape,
        "softmax gate: x and logits differ in shape"
    );
    let mut out = vec![0.0f32; shape.num_elements()];
    let gate = softmax_gate_forward(slice(&x), slice(&logits), last_dim(&shape), &mut out);
    (tensor(out, shape), gate)
}

/// `x * softmax(logits)` in `logits`' own buffer when nothing else holds it (a fresh linear
/// output), keeping nothing for a backward.
fn softmax_gate_values(x: &FlexTensor, logits: FlexTensor) -> FlexTensor {
    let (x, shape) = values(x);
    assert_eq!(
        &shape,
        logits.layout().shape(),
        "softmax gate: x and logits differ in shape"
    );
    let mut out = owned_values(logits);
    let storage = out.try_storage_mut::<f32>().expect("an owned f32 buffer");
    softmax_gate_in_place(slice(&x), storage, last_dim(&shape));
    out
}

fn softmax_values(x: &FlexTensor) -> FlexTensor {
    let (x, shape) = values(x);
    let mut out = vec![0.0f32; shape.num_elements()];
    softmax_forward(slice(&x), last_dim(&shape), &mut out);
    tensor(out, shape)
}

/// `softmax(x + bias)` in `x`'s own buffer when nothing else holds it: each row's bias row
/// found through `bias`'s broadcast strides (0 along its axes of size 1).
fn softmax_biased_values(x: FlexTensor, bias: &FlexTensor) -> FlexTensor {
    let shape = x.layout().shape().clone();
    let dims = shape.as_slice();
    let (bias, bias_shape) = values(bias);
    let bias_dims = bias_shape.as_slice();
    let rank = dims.len();
    let d = dims[rank - 1];
    // Contiguous strides of the bias, 0 where it broadcasts.
    let mut strides = vec![0; rank];
    let mut stride = d;
    for i in (0..rank - 1).rev() {
        strides[i] = if bias_dims[i] == 1 { 0 } else { stride };
        stride *= bias_dims[i];
    }
    let rows = shape.num_elements() / d.max(1);
    let offsets: Vec<usize> = (0..rows)
        .map(|row| {
            let (mut rest, mut at) = (row, 0);
            for i in (0..rank - 1).rev() {
                at += (rest % dims[i]) * strides[i];
                rest /= dims[i];
            }
            at
        })
        .collect();
    let mut out = owned_values(x);
    let storage = out.try_storage_mut::<f32>().expect("an owned f32 buffer");
    softmax_biased_in_place(storage, d, slice(&bias), &offsets);
    out
}

impl Kernels for Flex {
    fn fused_gelu(x: FlexTensor) -> FlexTensor {
        gelu_forward(x)
    }

    fn fused_layer_norm(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        eps: f64,
    ) -> FlexTensor {
        layer_norm_parts(&x, &weight, &bias, eps).0
    }

    fn fused_rms_norm(x: FlexTensor, weight: FlexTensor, eps: f64) -> FlexTensor {
        rms_norm_parts(&x, &weight, eps).0
    }

    fn fused_matmul_rows(x: FlexTensor, weight: FlexTensor) -> FlexTensor {
        matmul_rows(&x, &weight)
    }

    fn fused_add_bias(x: FlexTensor, bias: FlexTensor) -> FlexTensor {
        add_bias_forward(x, &bias)
    }

    fn fused_softmax_gate(x: FlexTensor, logits: FlexTensor) -> FlexTensor {
        softmax_gate_values(&x, logits)
    }

    fn fused_softmax(x: FlexTensor) -> FlexTensor {
        softmax_values(&x)
    }

    fn fused_softmax_biased(x: FlexTensor, bias: FlexTensor) -> FlexTensor {
        softmax_biased_values(x, &bias)
    }

    fn fused_rope(x: FlexTensor, cos: FlexTensor, sin: FlexTensor) -> FlexTensor {
        rope_values(x, &cos, &sin, false)
    }

    fn fused_panel_attention(
        q: FlexTensor,
        key_panels: FlexTensor,
        value: FlexTensor,
        bias: FlexTensor,
    ) -> FlexTensor {
        panel_attention_values(&q, &key_panels, &value, &bias)
    }

    fn fused_dropout(x: FlexTensor, mask: DropoutMask) -> FlexTensor {
        dropout_values(x, mask)
    }

    fn fused_adam_step(
        param: FlexTensor,
        grad: FlexTensor,
        exp_avg: FlexTensor,
        exp_avg_sq: FlexTensor,
        step: AdamStep,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        adam_step_values(param, &grad, exp_avg, exp_avg_sq, step)
    }
}

/// A dropout mask by its seed: the mask is drawn again wherever it is applied, never stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DropoutMask {
    /// The SplitMix64 state the mask's stream starts from.
    pub state: u64,
    /// An element is kept when its 32-bit uniform is below this.
    pub threshold: u64,
    /// `1 / (1 - p)`, the value of a kept element's mask.
    pub scale: f32,
}

/// `x` times `mask`, in `x`'s own buffer when nothing else holds it.
fn dropout_values(x: FlexTensor, mask: DropoutMask) -> FlexTensor {
    let mut out = owned_values(x);
    dropout_in_place(
        mask.state,
        mask.threshold,
        mask.scale,
        out.try_storage_mut::<f32>().expect("an owned f32 buffer"),
    );
    out
}

#[derive(Debug)]
struct DropoutBackward;

impl Backward<Flex, 1> for DropoutBackward {
    type State = DropoutMask;

    /// The gradient times the same mask, drawn again from its seed.
    fn backward(self, ops: Ops<DropoutMask, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(parent) = parent {
            grads.register::<Flex>(parent.id, dropout_values(grad, ops.state));
        }
    }
}

/// [`adam_step_in_place`] over flex tensors of one length, in the buffers of `param` and the
/// moments when nothing else holds them (a copy otherwise).
fn adam_step_values(
    param: FlexTensor,
    grad: &FlexTensor,
    exp_avg: FlexTensor,
    exp_avg_sq: FlexTensor,
    step: AdamStep,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let (grad, _) = values(grad);
    let (mut param, mut exp_avg, mut exp_avg_sq) = (
        owned_values(param),
        owned_values(exp_avg),
        owned_values(exp_avg_sq),
    );
    adam_step_in_place(
        param.try_storage_mut::<f32>().expect("an owned f32 buffer"),
        slice(&grad),
        exp_avg
            .try_storage_mut::<f32>()
            .expect("an owned f32 buffer"),
        exp_avg_sq
            .try_storage_mut::<f32>()
            .expect("an owned f32 buffer"),
        step,
    );
    (param, exp_avg, exp_avg_sq)
}

/// A tensor whose last `inner` axes are contiguous, read in place when its other strides are
/// non-negative (a narrowed cache), else copied: its storage from the first element and the
/// strides of its leading axes.
fn leading_strides(tensor: &FlexTensor, inner: usize) -> (FlexTensor, Vec<usize>) {
    let layout = tensor.layout();
    let dims = layout.shape().as_slice();
    let rank = dims.len();
    let mut expected = 1isize;
    let mut inner_contiguous = true;
    for axis in (rank - inner..rank).rev() {
        inner_contiguous &= dims[axis] == 1 || layout.strides()[axis] == expected;
        expected *= dims[axis] as isize;
    }
    let tensor = if inner_contiguous && layout.has_positive_strides() {
        tensor.clone()
    } else {
        tensor.to_contiguous()
    };
    let strides = tensor.layout().strides()[..rank - inner]
        .iter()
        .map(|&s| s as usize)
        .collect();
    (tensor, strides)
}

fn from_start(tensor: &FlexTensor) -> &[f32] {
    &tensor.storage::<f32>()[tensor.layout().start_offset()..]
}

/// [`panel_attention`] over flex tensors (shapes checked by the caller).
fn panel_attention_values(
    q: &FlexTensor,
    key_panels: &FlexTensor,
    value: &FlexTensor,
    bias: &FlexTensor,
) -> FlexTensor {
    let (q, shape) = values(q);
    let [groups, queries, heads, d] = shape.as_slice().try_into().expect("q is 4-d");
    let (keys, key_strides) = leading_strides(key_panels, 3);
    assert_eq!(keys.layout().shape()[4], PANEL, "key panels");
    let (value, value_strides) = leading_strides(value, 1);
    let positions = value.layout().shape()[2];
    let (bias, bias_shape) = values(bias);
    let broadcast = |axis: usize, stride: usize| if bias_shape[axis] == 1 { 0 } else { stride };
    let dims = PanelAttentionDims {
        groups,
        queries,
        heads,
        d,
        positions,
        key_strides: [key_strides[0], key_strides[1]],
        value_strides: [value_strides[0], value_strides[1], value_strides[2]],
        bias_strides: [
            broadcast(0, bias_shape[1] * bias_shape[2] * positions),
            broadcast(1, bias_shape[2] * positions),
            broadcast(2, positions),
        ],
    };
    let mut out = vec![0f32; shape.num_elements()];
    panel_attention(
        slice(&q),
        from_start(&keys),
        from_start(&value),
        slice(&bias),
        dims,
        &mut out,
    );
    tensor(out, shape)
}

/// What the rotation's backward keeps: the tables (the input is not needed).
#[derive(Debug, Clone)]
struct RopeState {
    cos: FlexTensor,
    sin: FlexTensor,
}

#[derive(Debug)]
struct RopeBackward;

impl Backward<Flex, 1> for RopeBackward {
    type State = RopeState;

    /// A rotation's transpose is the rotation by the opposite angles.
    fn backward(self, ops: Ops<RopeState, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(parent) = parent {
            let dx = rope_values(grad, &ops.state.cos, &ops.state.sin, true);
            grads.register::<Flex>(parent.id, dx);
        }
    }
}

#[derive(Debug)]
struct SoftmaxBackward;

impl Backward<Flex, 1> for SoftmaxBackward {
    /// The softmax itself: its gradient needs nothing else.
    type State = FlexTensor;

    fn backward(self, ops: Ops<FlexTensor, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(parent) = parent {
            let (s, shape) = values(&ops.state);
            let (grad, _) = values(&grad);
            let dx = softmax_backward(slice(&s), slice(&grad), last_dim(&shape));
            grads.register::<Flex>(parent.id, tensor(dx, shape));
        }
    }
}

#[derive(Debug)]
struct AddBiasBackward;

impl Backward<Flex, 2> for AddBiasBackward {
    /// The bias's shape, to give its gradient.
    type State = Shape;

    fn backward(self, ops: Ops<Shape, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_node, bias_node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = bias_node {
            let (g, _) = values(&grad);
            let d = ops.state.num_elements();
            grads.register::<Flex>(node.id, tensor(column_sums(slice(&g), d), ops.state));
        }
        if let Some(node) = x_node {
            grads.register::<Flex>(node.id, grad);
        }
    }
}

/// What the product's backward keeps: `x` when the weight needs a gradient, the weight when
/// `x` does.
#[derive(Debug, Clone)]
struct MatmulRowsState {
    x: Option<FlexTensor>,
    weight: Option<FlexTensor>,
}

#[derive(Debug)]
struct MatmulRowsBackward;

impl Backward<Flex, 2> for MatmulRowsBackward {
    type State = MatmulRowsState;

    fn backward(self, ops: Ops<MatmulRowsState, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_node, weight_node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let (Some(node), Some(weight)) = (x_node, ops.state.weight) {
            let weight_t = <Flex as FloatTensorOps<Flex>>::float_swap_dims(weight, 0, 1);
            grads.register::<Flex>(node.id, matmul_rows(&grad, &weight_t));
        }
        if let (Some(node), Some(x)) = (weight_node, ops.state.x) {
            grads.register::<Flex>(node.id, transposed_rows_product(&x, &grad));
        }
    }
}

/// `x^T @ grad` with `x` `[.., d_in]` and `grad` `[.., d_out]` read as matrices of all their
/// rows: one GEMM whose depth is every row (the weight gradient of a linear layer).
fn transposed_rows_product(x: &FlexTensor, grad: &FlexTensor) -> FlexTensor {
    let rows_of = |t: &FlexTensor| {
        let (t, shape) = values(t);
        let d = last_dim(&shape);
        let rows = shape.num_elements() / d.max(1);
        <Flex as FloatTensorOps<Flex>>::float_reshape(t, Shape::new([rows, d]))
    };
    let x_t = <Flex as FloatTensorOps<Flex>>::float_swap_dims(rows_of(x), 0, 1);
    matmul_rows(&x_t, &rows_of(grad))
}

#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<FlexTensor, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(parent) = parent {
            let (x, _) = values(&ops.state);
            let mut dx = owned_values(grad);
            gelu_backward_in_place(
                slice(&x),
                dx.try_storage_mut::<f32>().expect("an owned f32 buffer"),
            );
            grads.register::<Flex>(parent.id, dx);
        }
    }
}

/// What the layer norm's backward keeps: the input, the weight and each row's statistics.
#[derive(Debug, Clone)]
struct LayerNormState {
    x: FlexTensor,
    weight: FlexTensor,
    stats: Arc<Vec<RowStats>>,
}

#[derive(Debug)]
struct LayerNormBackward;

impl Backward<Flex, 3> for LayerNormBackward {
    type State = LayerNormState;

    fn backward(self, ops: Ops<LayerNormState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_node, weight_node, bias_node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, shape) = values(&ops.state.x);
        let (weight, weight_shape) = values(&ops.state.weight);
        let (grad, _) = values(&grad);
        let (dx, dweight, dbias) =
            layer_norm_backward(slice(&x), slice(&weight), &ops.state.stats, slice(&grad));
        if let Some(node) = x_node {
            grads.register::<Flex>(node.id, tensor(dx, shape));
        }
        if let Some(node) = weight_node {
            grads.register::<Flex>(node.id, tensor(dweight, weight_shape.clone()));
        }
        if let Some(node) = bias_node {
            grads.register::<Flex>(node.id, tensor(dbias, weight_shape));
        }
    }
}

/// What the RMS norm's backward keeps: the input, the weight and each row's `rstd`.
#[derive(Debug, Clone)]
struct RmsNormState {
    x: FlexTensor,
    weight: FlexTensor,
    rstds: Arc<Vec<f32>>,
}

#[derive(Debug)]
struct RmsNormBackward;

impl Backward<Flex, 2> for RmsNormBackward {
    type State = RmsNormState;

    fn backward(self, ops: Ops<RmsNormState, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_node, weight_node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, shape) = values(&ops.state.x);
        let (weight, weight_shape) = values(&ops.state.weight);
        let (grad, _) = values(&grad);
        let (dx, dweight) =
            rms_norm_backward(slice(&x), slice(&weight), &ops.state.rstds, slice(&grad));
        if let Some(node) = x_node {
            grads.register::<Flex>(node.id, tensor(dx, shape));
        }
        if let Some(node) = weight_node {
            grads.register::<Flex>(node.id, tensor(dweight, weight_shape));
        }
    }
}

/// What the softmax gate's backward keeps: the gated input and the softmax.
#[derive(Debug, Clone)]
struct SoftmaxGateState {
    x: FlexTensor,
    gate: FlexTensor,
}

#[derive(Debug)]
struct SoftmaxGateBackward;

impl Backward<Flex, 2> for SoftmaxGateBackward {
    type State = SoftmaxGateState;

    fn backward(self, ops: Ops<SoftmaxGateState, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_node, logits_node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, shape) = values(&ops.state.x);
        let (grad, _) = values(&grad);
        let d = last_dim(&shape);
        let (dx, dlogits) =
            softmax_gate_backward(slice(&x), slice(&ops.state.gate), slice(&grad), d);
        if let Some(node) = x_node {
            grads.register::<Flex>(node.id, tensor(dx, shape.clone()));
        }
        if let Some(node) = logits_node {
            grads.register::<Flex>(node.id, tensor(dlogits, shape));
        }
    }
}

type AutodiffFloat<C> = FloatTensor<Autodiff<Flex, C>>;

impl<C: CheckpointStrategy> Kernels for Autodiff<Flex, C> {
    fn fused_gelu(x: AutodiffFloat<C>) -> AutodiffFloat<C> {
        match GeluBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (input, _) = values(&x.into_primitive());
                // The backward keeps the input: the forward writes a copy.
                let out = gelu_forward(input.clone());
                prep.finish(input, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(gelu_forward(x.into_primitive())),
        }
    }

    fn fused_layer_norm(
        x: AutodiffFloat<C>,
        weight: AutodiffFloat<C>,
        bias: AutodiffFloat<C>,
        eps: f64,
    ) -> AutodiffFloat<C> {
        let nodes = [x.node(), weight.node(), bias.node()];
        let prep = LayerNormBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful();
        // The contiguous input the forward reads is what the backward keeps: one copy at most.
        let (x, _) = values(&x.into_primitive());
        let (weight, bias) = (weight.into_primitive(), bias.into_primitive());
        let (out, stats) = layer_norm_parts(&x, &weight, &bias, eps);
        match prep {
            OpsKind::Tracked(prep) => {
                let stats = Arc::new(stats);
                prep.finish(LayerNormState { x, weight, stats }, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn fused_rms_norm(x: AutodiffFloat<C>, weight: AutodiffFloat<C>, eps: f64) -> AutodiffFloat<C> {
        let nodes = [x.node(), weight.node()];
        let prep = RmsNormBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful();
        let (x, _) = values(&x.into_primitive());
        let weight = weight.into_primitive();
        let (out, rstds) = rms_norm_parts(&x, &weight, eps);
        match prep {
            OpsKind::Tracked(prep) => {
                let rstds = Arc::new(rstds);
                prep.finish(RmsNormState { x, weight, rstds }, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    /// The product as in inference, and a backward of two more such products: `dx = grad @
    /// weight^T` over all rows, `dweight = x^T @ grad` with every row in its depth.
    fn fused_matmul_rows(x: AutodiffFloat<C>, weight: AutodiffFloat<C>) -> AutodiffFloat<C> {
        let (x_tracked, weight_tracked) = (x.is_tracked(), weight.is_tracked());
        let prep = MatmulRowsBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful();
        let (x, weight) = (x.into_primitive(), weight.into_primitive());
        let out = matmul_rows(&x, &weight);
        match prep {
            OpsKind::Tracked(prep) => {
                // x is needed only for the weight's gradient, the weight only for x's.
                let state = MatmulRowsState {
                    x: weight_tracked.then_some(x),
                    weight: x_tracked.then_some(weight),
                };
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn fused_add_bias(x: AutodiffFloat<C>, bias: AutodiffFloat<C>) -> AutodiffFloat<C> {
        let nodes = [x.node(), bias.node()];
        let prep = AddBiasBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful();
        let (x, bias) = (x.into_primitive(), bias.into_primitive());
        let bias_shape = bias.layout().shape().clone();
        let out = add_bias_forward(x, &bias);
        match prep {
            OpsKind::Tracked(prep) => prep.finish(bias_shape, out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn fused_softmax_gate(x: AutodiffFloat<C>, logits: AutodiffFloat<C>) -> AutodiffFloat<C> {
        let nodes = [x.node(), logits.node()];
        let prep = SoftmaxGateBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful();
        let (x, _) = values(&x.into_primitive());
        let logits = logits.into_primitive();
        let (out, gate) = softmax_gate_parts(&x, &logits);
        match prep {
            OpsKind::Tracked(prep) => {
                let gate = tensor(gate, out.layout().shape().clone());
                prep.finish(SoftmaxGateState { x, gate }, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn fused_softmax(x: AutodiffFloat<C>) -> AutodiffFloat<C> {
        let prep = SoftmaxBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful();
        let out = softmax_values(&x.into_primitive());
        match prep {
            OpsKind::Tracked(prep) => prep.finish(out.clone(), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    /// Training keeps the composition (the bias add's broadcast gradient is Burn's).
    fn fused_softmax_biased(x: AutodiffFloat<C>, bias: AutodiffFloat<C>) -> AutodiffFloat<C> {
        type Ad<C> = Autodiff<Flex, C>;
        let dims = x.shape();
        let bias = <Ad<C> as FloatTensorOps<Ad<C>>>::float_expand(bias, dims);
        let sum = <Ad<C> as FloatTensorOps<Ad<C>>>::float_add(x, bias);
        <Ad<C> as Kernels>::fused_softmax(sum)
    }

    /// Training composes it from Burn's ops (the panels unpacked, the product, the softmax and
    /// the weighted values), so every input gets its gradient.
    fn fused_panel_attention(
        q: AutodiffFloat<C>,
        key_panels: AutodiffFloat<C>,
        value: AutodiffFloat<C>,
        bias: AutodiffFloat<C>,
    ) -> AutodiffFloat<C> {
        type Ad<C> = Autodiff<Flex, C>;
        let [groups, heads, blocks, d, panel] = key_panels
            .shape()
            .as_slice()
            .try_into()
            .expect("5-d panels");
        let positions = value.shape()[2];
        let key_t = <Ad<C> as FloatTensorOps<Ad<C>>>::float_permute(key_panels, &[0, 1, 3, 2, 4]);
        let key_t = <Ad<C> as FloatTensorOps<Ad<C>>>::float_reshape(
            key_t,
            Shape::new([groups, heads, d, blocks * panel]),
        );
        let full = Slice::full();
        let key_t = <Ad<C> as FloatTensorOps<Ad<C>>>::float_slice(
            key_t,
            &[full, full, full, Slice::new(0, Some(positions as isize), 1)],
        );
        let q = <Ad<C> as FloatTensorOps<Ad<C>>>::float_swap_dims(q, 1, 2);
        let scores = <Ad<C> as FloatTensorOps<Ad<C>>>::float_matmul(q, key_t);
        let weights = <Ad<C> as Kernels>::fused_softmax_biased(scores, bias);
        let out = <Ad<C> as FloatTensorOps<Ad<C>>>::float_matmul(weights, value);
        <Ad<C> as FloatTensorOps<Ad<C>>>::float_swap_dims(out, 1, 2)
    }

    /// The tables are constants: only `x` gets a gradient.
    fn fused_rope(
        x: AutodiffFloat<C>,
        cos: AutodiffFloat<C>,
        sin: AutodiffFloat<C>,
    ) -> AutodiffFloat<C> {
        let prep = RopeBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful();
        let (cos, sin) = (cos.into_primitive(), sin.into_primitive());
        let out = rope_values(x.into_primitive(), &cos, &sin, false);
        match prep {
            OpsKind::Tracked(prep) => prep.finish(RopeState { cos, sin }, out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn fused_dropout(x: AutodiffFloat<C>, mask: DropoutMask) -> AutodiffFloat<C> {
        let prep = DropoutBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful();
        let out = dropout_values(x.into_primitive(), mask);
        match prep {
            OpsKind::Tracked(prep) => prep.finish(mask, out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    /// An optimizer step is not differentiated: the inner values are updated and returned as
    /// new leaves.
    fn fused_adam_step(
        param: AutodiffFloat<C>,
        grad: AutodiffFloat<C>,
        exp_avg: AutodiffFloat<C>,
        exp_avg_sq: AutodiffFloat<C>,
        step: AdamStep,
    ) -> (AutodiffFloat<C>, AutodiffFloat<C>, AutodiffFloat<C>) {
        type Ad<C> = Autodiff<Flex, C>;
        let (param, exp_avg, exp_avg_sq) = adam_step_values(
            Ad::<C>::inner(param),
            &Ad::<C>::inner(grad),
            Ad::<C>::inner(exp_avg),
            Ad::<C>::inner(exp_avg_sq),
            step,
        );
        (
            Ad::<C>::from_inner(param),
            Ad::<C>::from_inner(exp_avg),
            Ad::<C>::from_inner(exp_avg_sq),
        )
    }
}
