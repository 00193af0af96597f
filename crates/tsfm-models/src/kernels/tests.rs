//! The kernels against Burn's own composition of the same expressions: values and gradients,
//! on contiguous and permuted inputs.

use burn::Tensor;
use burn::tensor::activation;
use burn::tensor::{Device, Distribution, TensorData, Tolerance};

use super::*;

fn device() -> Device {
    Device::flex().autodiff()
}

fn random<const D: usize>(shape: [usize; D], seed: u64) -> Tensor<D> {
    let device = device();
    device.seed(seed);
    Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.5), &device)
}

fn assert_close<const D: usize>(got: Tensor<D>, want: Tensor<D>, what: &str) {
    assert_eq!(got.dims(), want.dims(), "{what}: shape");
    let got = got.into_data();
    let want = want.into_data();
    got.assert_approx_eq::<f32>(&want, Tolerance::absolute(2e-6).set_relative(2e-5));
}

/// Gradients of `sum(f(inputs) * weights)` for the kernel and the reference, with the same
/// random upstream weights.
fn check_grads<const D: usize, const N: usize>(
    inputs: [Tensor<D>; N],
    kernel: impl Fn(&[Tensor<D>; N]) -> Tensor<D>,
    reference: impl Fn(&[Tensor<D>; N]) -> Tensor<D>,
    what: &str,
) {
    let inputs = inputs.map(|t| t.detach().require_grad());
    let got = kernel(&inputs);
    let want = reference(&inputs);
    let upstream = random(got.dims(), 7);
    assert_close(got.clone(), want.clone(), &format!("{what} forward"));
    let got_grads = (got * upstream.clone()).sum().backward();
    let want_grads = (want * upstream).sum().backward();
    for (i, input) in inputs.iter().enumerate() {
        let g = input.grad(&got_grads).expect("kernel gradient");
        let w = input.grad(&want_grads).expect("reference gradient");
        assert_close(g, w, &format!("{what} grad of input {i}"));
    }
}

/// `got` and `want` (the kernel's and the reference's output from the same `x` and 1-D
/// `params`, all requiring gradients) agree in value, and the gradients of
/// `sum(out * upstream)` agree for `x` and for each parameter.
fn check_param_grads<const D: usize>(
    got: Tensor<D>,
    want: Tensor<D>,
    x: &Tensor<D>,
    params: &[(&str, &Tensor<1>)],
    what: &str,
) {
    assert_close(got.clone(), want.clone(), &format!("{what} forward"));
    let upstream = random(got.dims(), 6);
    let got_grads = (got * upstream.clone()).sum().backward();
    let want_grads = (want * upstream).sum().backward();
    if x.is_require_grad() {
        let (g, w) = (x.grad(&got_grads).unwrap(), x.grad(&want_grads).unwrap());
        assert_close(g, w, &format!("{what} dx"));
    }
    for (name, p) in params {
        let (g, w) = (p.grad(&got_grads).unwrap(), p.grad(&want_grads).unwrap());
        assert_close(g, w, &format!("{what} {name}"));
    }
}

#[test]
fn gelu_equals_burns_gelu_in_value_and_gradient() {
    check_grads(
        [random([3, 5, 7, 33], 1)],
        |[x]| gelu(x.clone()),
        |[x]| activation::gelu(x.clone()),
        "gelu",
    );
}

#[test]
fn gelu_of_a_permuted_tensor_follows_its_logical_order() {
    let x = random([4, 6, 9], 2).permute([2, 0, 1]);
    assert_close(gelu(x.clone()), activation::gelu(x), "permuted gelu");
}

#[test]
fn layer_norm_equals_burns_layer_norm_in_value_and_gradients() {
    let d = 24;
    let x = random([2, 3, 5, d], 3).detach().require_grad();
    let weight = random([d], 4).detach().require_grad();
    let bias = random([d], 5).detach().require_grad();
    let got = layer_norm(x.clone(), weight.clone(), bias.clone(), 1e-5);
    let want =
        burn::tensor::module::layer_norm(x.clone(), weight.clone(), Some(bias.clone()), 1e-5);
    let params = [("dweight", &weight), ("dbias", &bias)];
    check_param_grads(got, want, &x, &params, "layer norm");
}

#[test]
fn layer_norm_of_a_transposed_input_normalises_its_logical_last_axis() {
    let x = random([6, 10], 8).transpose();
    let weight = random([6], 9);
    let bias = random([6], 10);
    let got = layer_norm(x.clone(), weight.clone(), bias.clone(), 1e-5);
    let want = burn::tensor::module::layer_norm(x, weight, Some(bias), 1e-5);
    assert_close(got, want, "transposed layer norm");
}

#[test]
fn rms_norm_equals_the_t5_expression_in_value_and_gradients() {
    let weight = random([12], 15);
    check_grads(
        [random([2, 5, 12], 16)],
        |[x]| rms_norm(x.clone(), weight.clone(), 1e-6),
        |[x]| {
            let variance = x.clone().powi_scalar(2).mean_dim(2);
            x.clone() * (variance + 1e-6).sqrt().recip() * weight.clone().unsqueeze::<3>()
        },
        "rms norm",
    );
    // The weight's gradient, through a 2-D input.
    let x = random([7, 12], 17);
    let w = weight.detach().require_grad();
    let got = rms_norm(x.clone(), w.clone(), 1e-6);
    let variance = x.clone().powi_scalar(2).mean_dim(1);
    let want = x.clone() * (variance + 1e-6).sqrt().recip() * w.clone().unsqueeze::<2>();
    check_param_grads(got, want, &x, &[("dweight", &w)], "rms norm");
}

#[test]
fn add_bias_equals_the_broadcast_add_in_value_and_gradients() {
    let x = random([3, 4, 10], 21).detach().require_grad();
    let bias = random([10], 22).detach().require_grad();
    let got = add_bias(x.clone() * 1.0, bias.clone());
    let want = x.clone() + bias.clone().unsqueeze::<3>();
    check_param_grads(got, want, &x, &[("dbias", &bias)], "add bias");
}

#[test]
fn add_bias_leaves_a_shared_input_untouched() {
    let x = random([5, 6], 24).inner();
    let before = x.clone().into_data();
    let y = add_bias(x.clone(), Tensor::<1>::ones([6], &x.device()));
    assert_eq!(
        x.into_data(),
        before,
        "the input another tensor shares must not change"
    );
    assert_close(y.clone() - 1.0, random([5, 6], 24).inner(), "x + 1 - 1");
}

#[test]
fn softmax_gate_equals_x_times_softmax_in_value_and_gradients() {
    let x = random([2, 4, 3, 16], 11);
    // Large logits: the max subtraction must keep exp finite.
    let logits = random([2, 4, 3, 16], 12) * 30.0;
    check_grads(
        [x, logits],
        |[x, l]| softmax_gate(x.clone(), l.clone()),
        |[x, l]| x.clone() * activation::softmax(l.clone(), 3),
        "softmax gate",
    );
}

#[test]
fn kernels_leave_tensors_without_autodiff_untracked() {
    let x = random([3, 8], 13).inner();
    let y = gelu(x.clone());
    assert!(!y.is_autodiff());
    assert_close(y, activation::gelu(x), "gelu without autodiff");
}

#[test]
fn other_dtypes_take_burns_path() {
    let x = random([3, 8], 14).inner().cast(DType::F64);
    let got = gelu(x.clone());
    assert_eq!(got.dtype(), DType::F64);
    assert_close(
        got.cast(DType::F32),
        activation::gelu(x).cast(DType::F32),
        "f64 gelu",
    );
}

#[test]
fn a_weight_that_does_not_fit_the_last_axis_is_not_read_with_another_row_length() {
    // [2, 6] with a weight of 3: the kernel would see rows of 3; Burn refuses the broadcast.
    let x = random([2, 6], 19);
    let w = random([3], 20);
    let outcome = std::panic::catch_unwind(|| layer_norm(x.clone(), w.clone(), w.clone(), 1e-5));
    assert!(
        outcome.is_err(),
        "a misfit layer-norm weight must not be accepted"
    );
    let outcome = std::panic::catch_unwind(|| rms_norm(x.clone(), w.clone(), 1e-6));
    assert!(
        outcome.is_err(),
        "a misfit RMS-norm weight must not be accepted"
    );
}

#[test]
fn empty_tensors_take_burns_path() {
    let x = Tensor::<2>::zeros([0, 4], &device());
    assert_eq!(gelu(x.clone()).dims(), [0, 4]);
    let weight = Tensor::<1>::ones([4], &device());
    assert_eq!(
        layer_norm(x.clone(), weight.clone(), weight * 0.0, 1e-5).dims(),
        [0, 4]
    );
    assert_eq!(softmax_gate(x.clone(), x).dims(), [0, 4]);
}

#[test]
fn softmax_equals_burns_softmax_in_value_and_gradient() {
    check_grads(
        [random([2, 3, 5, 17], 30)],
        |[x]| softmax(x.clone()),
        |[x]| activation::softmax(x.clone(), 3),
        "softmax",
    );
    let x = random([4, 7, 6], 31).permute([2, 0, 1]);
    assert_close(
        softmax(x.clone()),
        activation::softmax(x, 2),
        "permuted softmax",
    );
}

fn vals<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

#[test]
fn rope_equals_the_composition_bit_for_bit_and_in_gradient() {
    // Tables of one sequence for every batch row, and one table per batch row.
    for table_batch in [1, 3] {
        let cos = random([table_batch, 5, 4], 12).detach();
        let sin = random([table_batch, 5, 4], 13).detach();
        // Contiguous, and heads split off and swapped back (a strided view).
        let plain = random([3, 5, 2, 8], 11);
        let strided = random([3, 2, 5, 8], 14).swap_dims(1, 2);
        for x in [plain, strided] {
            let x = x.detach().require_grad();
            let before = vals(x.clone());
            let got = rope(x.clone(), cos.clone(), sin.clone());
            let want = rope_composed(x.clone(), cos.clone(), sin.clone());
            assert_eq!(
                vals(got.clone()),
                vals(want.clone()),
                "values, table {table_batch}"
            );
            // The kernel rotates in place only a buffer nobody else holds.
            assert_eq!(vals(x.clone()), before);
            let upstream = random(got.dims(), 7);
            let got_grads = (got * upstream.clone()).sum().backward();
            let want_grads = (want * upstream).sum().backward();
            assert_close(
                x.grad(&got_grads).unwrap(),
                x.grad(&want_grads).unwrap(),
                "rope dx",
            );
        }
    }
}

#[test]
fn rope_rotates_a_fresh_projection_in_place_with_the_same_values() {
    let device = Device::flex();
    device.seed(3);
    let x = Tensor::<4>::random([2, 3, 2, 6], Distribution::Normal(0.0, 1.0), &device);
    let cos = Tensor::<3>::random([1, 3, 3], Distribution::Normal(0.0, 1.0), &device);
    let sin = Tensor::<3>::random([1, 3, 3], Distribution::Normal(0.0, 1.0), &device);
    let want = vals(rope_composed(x.clone(), cos.clone(), sin.clone()));
    // `x * 1` is a fresh buffer only the kernel holds.
    assert_eq!(
        vals(rope(x.clone().mul_scalar(1.0), cos.clone(), sin.clone())),
        want
    );
    assert_eq!(vals(rope(x, cos, sin)), want);
}

#[test]
fn softmax_biased_equals_adding_the_bias_then_the_softmax_bit_for_bit() {
    let device = Device::flex();
    device.seed(21);
    let normal = Distribution::Normal(0.0, 2.0);
    // Rows shorter than the sums' eight lanes, and rows as long as an attention's (not a
    // multiple of the lanes).
    for keys in [7, 100] {
        // Scores `[batch, heads, queries, keys]` with a position bias shared by the batch, an
        // encoder mask shared by heads and queries, one bias per row, and a strided view.
        let scores = Tensor::<4>::random([3, 2, 5, keys], normal, &device);
        let strided = Tensor::<4>::random([3, 5, 2, keys], normal, &device).swap_dims(1, 2);
        let mut mask = vec![0.0f32; 3 * keys];
        mask[4] = crate::t5::MASKED;
        mask[keys + keys - 1] = crate::t5::MASKED;
        let mask = Tensor::<4>::from_data(TensorData::new(mask, [3, 1, 1, keys]), &device);
        for x in [scores, strided] {
            for bias in [
                Tensor::<4>::random([1, 2, 5, keys], normal, &device),
                mask.clone(),
                Tensor::<4>::random([3, 2, 5, keys], normal, &device),
                Tensor::<4>::random([1, 2, 1, keys], normal, &device),
            ] {
                let before = vals(x.clone());
                let want = vals(softmax(x.clone() + bias.clone()));
                assert_eq!(vals(softmax_biased(x.clone(), bias.clone())), want);
                // A buffer someone else holds is left as it was; a fresh one is used in place.
                assert_eq!(vals(x.clone()), before);
                assert_eq!(vals(softmax_biased(x.clone().mul_scalar(1.0), bias)), want);
            }
        }
        // A masked key gets weight 0.
        let weights = vals(softmax_biased(
            Tensor::<4>::zeros([3, 2, 5, keys], &device),
            mask,
        ));
        assert_eq!(weights[4], 0.0);
        assert!((weights[0] - 1.0 / (keys - 1) as f32).abs() < 1e-6);
    }
}

#[test]
fn softmax_biased_on_autodiff_tensors_is_the_composition_in_gradient() {
    check_grads(
        [random([2, 3, 4, 5], 31), random([1, 3, 4, 5], 32)],
        |[x, b]| softmax_biased(x.clone(), b.clone()),
        |[x, b]| activation::softmax(x.clone() + b.clone(), 3),
        "softmax_biased",
    );
}

/// Normal values on the flex device without autodiff, where the inference paths run.
fn plain<const D: usize>(shape: [usize; D], seed: u64) -> Tensor<D> {
    let device = Device::flex();
    device.seed(seed);
    Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.5), &device)
}

/// `linear` and Burn's linear (with and without the bias) give the same bits for `x`.
fn check_linear<const D: usize>(x: Tensor<D>, weight: &Tensor<2>, bias: &Tensor<1>) {
    let dims = x.dims().to_vec();
    let want = burn::tensor::module::linear(x.clone(), weight.clone(), Some(bias.clone()));
    let got = linear(x.clone(), weight.clone(), Some(bias.clone()));
    assert_eq!(got.dims(), want.dims(), "{dims:?}");
    assert_eq!(vals(got), vals(want), "{dims:?}");
    let want = burn::tensor::module::linear(x.clone(), weight.clone(), None);
    assert_eq!(
        vals(linear(x, weight.clone(), None)),
        vals(want),
        "{dims:?} no bias"
    );
}

#[test]
fn linear_equals_burns_linear_and_bias_bit_for_bit() {
    let weight = plain([48, 40], 31);
    let bias = plain([40], 32);
    // 32 rows per batch: Burn runs one GEMM per batch, the kernel one over all rows.
    check_linear(plain([3, 32, 48], 33), &weight, &bias);
    check_linear(plain([2, 3, 5, 48], 34), &weight, &bias);
    check_linear(plain([7, 48], 35), &weight, &bias);
    check_linear(plain([48], 36), &weight, &bias);
    // A strided view (TTM's patch mixer swaps axes before its MLP).
    check_linear(plain([4, 48, 6], 37).swap_dims(1, 2), &weight, &bias);
    // Two leading axes over one transposed matrix each: read in place, one GEMM per matrix,
    // when a matrix has as many rows as the weight has columns (40), else copied first; and
    // leading axes that do not merge into one batch stride (copied first).
    check_linear(plain([2, 3, 48, 41], 43).swap_dims(2, 3), &weight, &bias);
    check_linear(plain([4, 48, 40], 44).swap_dims(1, 2), &weight, &bias);
    check_linear(plain([2, 3, 48, 6], 40).swap_dims(2, 3), &weight, &bias);
    check_linear(plain([3, 2, 6, 48], 41).swap_dims(0, 1), &weight, &bias);
    check_linear(
        plain([3, 2, 48, 6], 42).swap_dims(0, 1).swap_dims(2, 3),
        &weight,
        &bias,
    );
    // A weight that is a transposed view (PyTorch's `[out, in]` read as `[in, out]`).
    let weight_t = plain([40, 48], 39).transpose();
    check_linear(plain([5, 9, 48], 38), &weight_t, &bias);
}

#[test]
fn linear_on_autodiff_tensors_is_one_gemm_per_product_in_the_backward() {
    let x = random([3, 4, 12], 41).require_grad();
    let weight = random([12, 5], 42).require_grad();
    let bias = random([5], 43).require_grad();
    let got = linear(x.clone(), weight.clone(), Some(bias.clone()));
    // Burn's product, then the bias kernel (its backward sums the rows in fixed lanes).
    let product = burn::tensor::module::linear(x.clone(), weight.clone(), None);
    let want = add_bias(product, bias.clone());
    assert_eq!(vals(got.clone()), vals(want.clone()));
    let upstream = random([3, 4, 5], 44);
    let got_grads = (got * upstream.clone()).sum().backward();
    let want_grads = (want * upstream.clone()).sum().backward();
    // x's gradient is the same dot products over the output axis as Burn's, so the same bits.
    assert_eq!(
        vals(x.grad(&got_grads).unwrap()),
        vals(x.grad(&want_grads).unwrap())
    );
    assert_eq!(
        vals(bias.grad(&got_grads).unwrap()),
        vals(bias.grad(&want_grads).unwrap())
    );
    // The weight's sums over all 12 rows in one GEMM (Burn summed per-batch products): within
    // f32 rounding of the sums in f64.
    let (xs, us) = (vals(x.clone()), vals(upstream));
    let dweight = vals(weight.grad(&got_grads).unwrap());
    for i in 0..12 {
        for j in 0..5 {
            let terms: Vec<f64> = (0..12)
                .map(|r| xs[r * 12 + i] as f64 * us[r * 5 + j] as f64)
                .collect();
            let want: f64 = terms.iter().sum();
            let scale: f64 = terms.iter().map(|t| t.abs()).sum();
            let err = (dweight[i * 5 + j] as f64 - want).abs();
            assert!(
                err <= 1e-6 * scale,
                "dweight[{i}, {j}] = {} against {want}",
                dweight[i * 5 + j]
            );
        }
    }
}

#[test]
fn inference_gelu_and_gate_work_in_a_fresh_buffer_with_the_training_paths_floats() {
    let x = plain([6, 3, 20], 45);
    let logits = plain([6, 3, 20], 46) * 30.0;
    // The autodiff paths write separate outputs; the inference paths reuse a buffer only
    // they hold (`* 1` makes one) and must leave a shared input as it was.
    let on_autodiff = |t: &Tensor<3>| Tensor::<3>::from_data(t.to_data(), &device());
    let want_gelu = vals(gelu(on_autodiff(&x)));
    let want_gate = vals(softmax_gate(on_autodiff(&x), on_autodiff(&logits)));
    let before = (vals(x.clone()), vals(logits.clone()));
    assert_eq!(vals(gelu(x.clone().mul_scalar(1.0))), want_gelu);
    assert_eq!(vals(gelu(x.clone())), want_gelu);
    assert_eq!(
        vals(softmax_gate(x.clone(), logits.clone().mul_scalar(1.0))),
        want_gate
    );
    assert_eq!(vals(softmax_gate(x.clone(), logits.clone())), want_gate);
    assert_eq!((vals(x), vals(logits)), before, "shared inputs untouched");
}

#[test]
fn panel_attention_equals_the_composition_on_strided_values_and_broadcast_biases() {
    let device = Device::flex();
    let on = |t: Tensor<4>| Tensor::<4>::from_data(t.into_data(), &device);
    let (groups, queries, heads, d, positions) = (3, 6, 2, 32, 21);
    let q = on(random([groups, queries, heads, d], 1));
    let key_t = on(random([groups, heads, d, positions], 2));
    // Values narrowed from a cache with room for more positions: read in place.
    let cache = on(random([groups, heads, positions + 11, d], 3));
    let value = cache.narrow(2, 0, positions);
    let panels = key_panels(key_t.clone());
    for bias_dims in [
        [groups, 1, 1, positions],
        [1, heads, 1, positions],
        [groups, heads, queries, positions],
    ] {
        let bias = on(random(bias_dims, 4));
        let got = panel_attention(q.clone(), panels.clone(), value.clone(), bias.clone());
        let want = panel_attention_composed(q.clone(), panels.clone(), value.clone(), bias.clone());
        assert_close(got.clone(), want, &format!("bias {bias_dims:?}"));
        // And the plain expression over the transposed keys.
        let plain = softmax(q.clone().swap_dims(1, 2).matmul(key_t.clone()) + bias)
            .matmul(value.clone())
            .swap_dims(1, 2);
        assert_close(got, plain, &format!("bias {bias_dims:?}, plain"));
    }
}

#[test]
fn panel_attention_on_autodiff_tensors_is_the_composition_in_gradient() {
    let (groups, queries, heads, d, positions) = (2, 3, 2, 16, 19);
    let key_t = random([groups, heads, d, positions], 2);
    check_grads(
        [
            random([groups, queries, heads, d], 1),
            random([groups, heads, positions, d], 3),
            random([groups, 1, 1, positions], 4),
        ],
        |[q, value, bias]| {
            let panels = key_panels(key_t.clone());
            Tensor::from_dispatch(<Dispatch as Kernels>::fused_panel_attention(
                q.clone().into_dispatch(),
                panels.into_dispatch(),
                value.clone().into_dispatch(),
                bias.clone().into_dispatch(),
            ))
        },
        |[q, value, bias]| {
            softmax(q.clone().swap_dims(1, 2).matmul(key_t.clone()) + bias.clone())
                .matmul(value.clone())
                .swap_dims(1, 2)
        },
        "panel attention",
    );
}

fn bits(t: &Tensor<1>) -> Vec<u32> {
    let values = t.to_data().try_to_vec::<f32>().expect("f32 values");
    values.iter().map(|v| v.to_bits()).collect()
}

/// Five steps of the kernel and of the composition from the same start, every parameter and
/// moment compared bit for bit after each step.
fn check_adam_steps(decoupled: bool, weight_decay: f64, beta1: f64, n: usize, seed: u64) {
    let what = format!("decoupled {decoupled}, wd {weight_decay}, beta1 {beta1}, n {n}");
    let start = plain([n], seed);
    let zeros = Tensor::<1>::zeros([n], &start.device());
    let first = AdamTensors {
        param: start,
        exp_avg: zeros.clone(),
        exp_avg_sq: zeros,
    };
    let (mut fused, mut composed) = (first.clone(), first);
    for step in 1..=5u64 {
        // Gradients of growing scale; on even steps the negative ones are exact zeros.
        let grad = plain([n], seed + step).mul_scalar(step as f32 * 0.3);
        let grad = if step % 2 == 0 {
            grad.clamp_min(0.0)
        } else {
            grad
        };
        let scalars = AdamStep::new(
            decoupled,
            1e-3 * step as f64,
            weight_decay,
            beta1,
            0.999,
            1e-8,
            step,
        );
        fused = adam_step(fused, grad.clone(), scalars);
        composed = adam_step_composed(composed, grad, scalars);
        for (name, got, want) in [
            ("param", &fused.param, &composed.param),
            ("exp_avg", &fused.exp_avg, &composed.exp_avg),
            ("exp_avg_sq", &fused.exp_avg_sq, &composed.exp_avg_sq),
        ] {
            assert_eq!(bits(got), bits(want), "{what}: {name} after step {step}");
        }
    }
}

#[test]
fn adam_step_equals_the_composition_bit_for_bit() {
    for (decoupled, weight_decay) in [(true, 0.05), (true, 0.0), (false, 0.05), (false, 0.0)] {
        for n in [1, 17, 1_000] {
            check_adam_steps(decoupled, weight_decay, 0.9, n, 60);
        }
    }
    // beta1 below 0.5: the first moment's lerp from the gradient's side.
    check_adam_steps(true, 0.05, 0.3, 33, 61);
}

#[test]
fn adam_step_leaves_a_parameter_someone_else_holds_untouched() {
    let param = plain([40], 70);
    let kept = param.clone();
    let before = bits(&kept);
    let zeros = Tensor::<1>::zeros([40], &param.device());
    let scalars = AdamStep::new(true, 1e-2, 0.1, 0.9, 0.999, 1e-8, 1);
    let state = AdamTensors {
        param,
        exp_avg: zeros.clone(),
        exp_avg_sq: zeros,
    };
    let updated = adam_step(state, plain([40], 71), scalars);
    assert_eq!(bits(&kept), before, "the held parameter changed");
    assert_ne!(bits(&updated.param), before, "the update did nothing");
}

/// Bits of any tensor's values in logical order.
fn all_bits<const D: usize>(t: Tensor<D>) -> Vec<u32> {
    let values = t.into_data().try_to_vec::<f32>().expect("f32 values");
    values.iter().map(|v| v.to_bits()).collect()
}

/// The dropout kernel against `x * mask` with the mask as a tensor: forward and gradient bit
/// for bit, on a contiguous input, a permuted one and an odd element count.
#[test]
fn dropout_equals_the_mask_product_in_value_and_gradient() {
    let mask = DropoutMask {
        state: 0x0dd5_eed5_0000_0001,
        threshold: (0.9 * 4_294_967_296.0) as u64,
        scale: (1.0 / 0.9) as f32,
    };
    let cases: [(Tensor<3>, &str); 3] = [
        (random([4, 6, 10], 80), "contiguous"),
        (random([4, 10, 6], 81).swap_dims(1, 2), "permuted"),
        (random([3, 5, 7], 82), "odd count"),
    ];
    for (x, what) in cases {
        let x = x.require_grad();
        let dims = x.dims();
        let mut values = vec![0.0f32; dims.iter().product()];
        math::dropout_mask(mask.state, mask.threshold, mask.scale, &mut values);
        let mask_tensor = Tensor::<3>::from_data(TensorData::new(values, dims), &x.device());
        let got = dropout(x.clone(), mask);
        let want = x.clone() * mask_tensor;
        assert_eq!(
            all_bits(got.clone()),
            all_bits(want.clone()),
            "{what}: forward"
        );
        let upstream = random(dims, 83);
        let got_grads = (got * upstream.clone()).sum().backward();
        let want_grads = (want * upstream).sum().backward();
        assert_eq!(
            all_bits(x.grad(&got_grads).expect("kernel gradient")),
            all_bits(x.grad(&want_grads).expect("reference gradient")),
            "{what}: gradient"
        );
    }
}

/// The training product on a strided input and a transposed weight view, and with only one of
/// the two tracked: both gradients within rounding of Burn's linear (whose GEMMs run on
/// copies in another operand order here).
#[test]
fn linear_backward_reads_strided_operands_and_skips_untracked_ones() {
    let x = random([2, 12, 6], 45).swap_dims(1, 2);
    let weight = random([5, 12], 46).transpose();
    for (x_grad, weight_grad) in [(true, true), (true, false), (false, true)] {
        let x = if x_grad {
            x.clone().require_grad()
        } else {
            x.clone()
        };
        let weight = if weight_grad {
            weight.clone().require_grad()
        } else {
            weight.clone()
        };
        let upstream = random([2, 6, 5], 47);
        let got = linear(x.clone(), weight.clone(), None);
        let want = burn::tensor::module::linear(x.clone(), weight.clone(), None);
        assert_eq!(vals(got.clone()), vals(want.clone()));
        let got_grads = (got * upstream.clone()).sum().backward();
        let want_grads = (want * upstream).sum().backward();
        assert_eq!(x.grad(&got_grads).is_some(), x_grad);
        assert_eq!(weight.grad(&got_grads).is_some(), weight_grad);
        if x_grad {
            assert_close(
                x.grad(&got_grads).unwrap(),
                x.grad(&want_grads).unwrap(),
                "dx",
            );
        }
        if weight_grad {
            assert_close(
                weight.grad(&got_grads).unwrap(),
                weight.grad(&want_grads).unwrap(),
                "dweight",
            );
        }
    }
}
