//! One Adam / AdamW update of a flattened parameter in a single pass over its four buffers
//! (parameter, gradient, first and second moments), the moments and the parameter updated in
//! place.
//!
//! The trainer wrote the update as Burn element-wise ops: about fifteen passes per parameter,
//! each allocating its output, which was 10 % of a two-shard TTM-r2 training step and all of it
//! serial (the shards wait for it). The loop below computes each element with the same `f32`
//! operations in the same order as that composition (PyTorch's single-tensor `adam`/`adamw`
//! formulas; [`super::adam_step_composed`] keeps the composition for other backends and the
//! tests), so the updated weights are the same bits. No operation is fused into an FMA: Rust
//! never contracts `a * b + c`, so every instruction set gives those bits.

use super::math::{SimdLoop, run};

/// How the first moment moves toward the gradient: `torch.lerp(m, g, w)` computes
/// `m + w * (g - m)` for `w < 0.5` and `g - (g - m) * (1 - w)` otherwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MomentLerp {
    /// `m + (g - m) * w`.
    FromMoment(f32),
    /// `g - (g - m) * (1 - w)`.
    FromGrad(f32),
}

/// The scalars of one Adam / AdamW step of one parameter, each rounded to `f32` as the
/// composition's scalar ops round them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    /// AdamW's decoupled decay: `param * (1 - lr * weight_decay)` first.
    pub decay: Option<f32>,
    /// Adam's L2 term: `grad + param * weight_decay` first.
    pub l2: Option<f32>,
    pub lerp: MomentLerp,
    pub beta2: f32,
    pub one_minus_beta2: f32,
    /// `sqrt(1 - beta2^step)`.
    pub bias_correction2_sqrt: f32,
    pub eps: f32,
    /// `-lr / (1 - beta1^step)`.
    pub neg_step_size: f32,
}

impl AdamStep {
    /// The scalars of step `step` (1 for the first), computed in `f64` as PyTorch computes
    /// them on the host. `decoupled` is AdamW (decay applied to the parameter), else Adam (L2
    /// added to the gradient); a zero `weight_decay` applies neither.
    pub fn new(
        decoupled: bool,
        lr: f64,
        weight_decay: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        step: u64,
    ) -> Self {
        let decays = weight_decay != 0.0;
        let w = 1.0 - beta1;
        let step = i32::try_from(step).unwrap_or(i32::MAX);
        let bias_correction1 = 1.0 - beta1.powi(step);
        let bias_correction2 = 1.0 - beta2.powi(step);
        Self {
            decay: (decoupled && decays).then_some((1.0 - lr * weight_decay) as f32),
            l2: (!decoupled && decays).then_some(weight_decay as f32),
            lerp: if w < 0.5 {
                MomentLerp::FromMoment(w as f32)
            } else {
                MomentLerp::FromGrad((1.0 - w) as f32)
            },
            beta2: beta2 as f32,
            one_minus_beta2: (1.0 - beta2) as f32,
            bias_correction2_sqrt: bias_correction2.sqrt() as f32,
            eps: eps as f32,
            neg_step_size: (-(lr / bias_correction1)) as f32,
        }
    }
}

struct AdamLoop<'a> {
    param: &'a mut [f32],
    grad: &'a [f32],
    exp_avg: &'a mut [f32],
    exp_avg_sq: &'a mut [f32],
    step: AdamStep,
}

impl SimdLoop for AdamLoop<'_> {
    type Output = ();
    #[inline(always)]
    fn run_here(self) {
        let s = self.step;
        let elements = self
            .param
            .iter_mut()
            .zip(self.grad)
            .zip(self.exp_avg.iter_mut())
            .zip(self.exp_avg_sq.iter_mut());
        for (((p, &g), m), v) in elements {
            let mut param = *p;
            let mut grad = g;
            if let Some(decay) = s.decay {
                param *= decay;
            }
            if let Some(l2) = s.l2 {
                grad += param * l2;
            }
            let moment = match s.lerp {
                MomentLerp::FromMoment(w) => *m + (grad - *m) * w,
                MomentLerp::FromGrad(w) => grad - (grad - *m) * w,
            };
            let second = *v * s.beta2 + grad * s.one_minus_beta2 * grad;
            let denom = second.sqrt() / s.bias_correction2_sqrt + s.eps;
            *p = param + moment * s.neg_step_size / denom;
            *m = moment;
            *v = second;
        }
    }
}

/// One update in place: `param`, `exp_avg` and `exp_avg_sq` are overwritten with their new
/// values. All four slices have one length.
pub fn adam_step_in_place(
    param: &mut [f32],
    grad: &[f32],
    exp_avg: &mut [f32],
    exp_avg_sq: &mut [f32],
    step: AdamStep,
) {
    let n = param.len();
    assert!(
        grad.len() == n && exp_avg.len() == n && exp_avg_sq.len() == n,
        "adam step: buffers of different lengths"
    );
    run(AdamLoop {
        param,
        grad,
        exp_avg,
        exp_avg_sq,
        step,
    });
}
