//! Optimizer updates against PyTorch's formulas (expected values worked out in float64 with
//! numpy once, following `torch.optim.AdamW/Adam/SGD` step by step), and global clipping.

mod common;

use burn::Tensor;
use burn::tensor::TensorData;
use common::{Tiny, device, lock, weights};
use tsfm_train::optim::hf_decays;
use tsfm_train::{GradStore, Optimizer, OptimizerConfig, OptimizerKind};

fn t(v: &[f32]) -> Tensor<1> {
    Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &device())
}

fn vals(t: &Tensor<1>) -> Vec<f32> {
    t.to_data().try_into_vec::<f32>().unwrap()
}

fn assert_close(got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!(
            (*g as f64 - w).abs() <= 2e-7 * w.abs().max(1.0),
            "{got:?} != {want:?}"
        );
    }
}

const P0: [f32; 3] = [1.0, -2.0, 0.5];
const G1: [f32; 3] = [0.1, -0.2, 0.3];
const G2: [f32; 3] = [-0.05, 0.4, 0.0];

fn two_steps(config: OptimizerConfig, lr: f64) -> (Vec<f32>, Optimizer) {
    let mut opt = Optimizer::new(config);
    let p = opt.update("w", true, t(&P0), t(&G1), lr);
    let p = opt.update("w", true, p, t(&G2), lr);
    (vals(&p), opt)
}

#[test]
fn adamw_defaults_are_pytorch() {
    let c = OptimizerConfig::default();
    assert_eq!(
        (c.beta1, c.beta2, c.eps, c.weight_decay),
        (0.9, 0.999, 1e-8, 0.01)
    );
}

#[test]
fn adamw_two_steps_match_torch() {
    let config = OptimizerConfig {
        weight_decay: 0.1,
        ..Default::default()
    };
    let (p, opt) = two_steps(config, 0.01);
    assert_close(
        &p,
        &[
            0.985_347_630_939_339_1,
            -1.989_673_035_654_104,
            0.482_309_918_107_582_1,
        ],
    );
    let st = opt.state("w").unwrap();
    assert_eq!(st.step, 2);
    assert_close(&vals(st.exp_avg.as_ref().unwrap()), &[0.004, 0.022, 0.027]);
    assert_close(
        &vals(st.exp_avg_sq.as_ref().unwrap()),
        &[1.249e-05, 0.000_199_96, 8.991e-05],
    );
}

#[test]
fn adam_adds_l2_to_the_gradient() {
    let config = OptimizerConfig {
        kind: OptimizerKind::Adam,
        weight_decay: 0.1,
        ..Default::default()
    };
    let (p, _) = two_steps(config, 0.01);
    assert_close(
        &p,
        &[
            0.981_720_480_743_485_2,
            -1.987_355_927_477_266_7,
            0.482_331_961_831_684_64,
        ],
    );
}

#[test]
fn sgd_momentum_dampening_and_nesterov() {
    let nesterov = OptimizerConfig {
        kind: OptimizerKind::Sgd,
        weight_decay: 0.1,
        momentum: 0.9,
        nesterov: true,
        ..Default::default()
    };
    assert_close(
        &two_steps(nesterov, 0.1).0,
        &[0.937_022, -1.931_044, 0.396_913_5],
    );
    let damped = OptimizerConfig {
        kind: OptimizerKind::Sgd,
        weight_decay: 0.0,
        momentum: 0.9,
        dampening: 0.5,
        ..Default::default()
    };
    assert_close(&two_steps(damped, 0.1).0, &[0.9835, -1.982, 0.443]);
}

#[test]
fn global_norm_clipping_scales_all_gradients_together() {
    let mut g = GradStore::new();
    g.insert("a", t(&[3.0, 4.0]));
    g.insert("b", t(&[12.0]));
    let norm = g.clip_global_norm(1.0);
    assert!((norm - 13.0).abs() < 1e-9);
    let k = 1.0 / (13.0 + 1e-6);
    assert_close(&vals(g.get("a").unwrap()), &[3.0 * k, 4.0 * k]);
    assert_close(&vals(g.get("b").unwrap()), &[12.0 * k]);
    // Below the limit nothing changes.
    let mut g = GradStore::new();
    g.insert("a", t(&[0.3, 0.4]));
    assert!((g.clip_global_norm(1.0) - 0.5).abs() < 1e-7);
    assert_eq!(vals(g.get("a").unwrap()), vec![0.3, 0.4]);
}

#[test]
fn decay_skips_biases_and_layer_norms_like_hf() {
    assert!(hf_decays("encoder.fc1.weight", "Struct:Linear"));
    assert!(!hf_decays("encoder.fc1.bias", "Struct:Linear"));
    assert!(!hf_decays("block.norm.norm.weight", "Struct:LayerNorm"));
    assert!(!hf_decays("block.norm.beta", "Struct:LayerNorm"));
    assert!(!hf_decays("block.norm.gamma", "Struct:RmsNorm"));
}

#[test]
fn step_updates_weights_and_leaves_biases_undecayed() {
    let _g = lock();
    let dev = device().autodiff();
    let model = Tiny::new(&dev, 1, 0.0);
    let before = weights(&model);
    // Zero gradients: only weight decay moves a parameter.
    let mut grads = GradStore::new();
    for (path, v) in &before {
        grads.insert(path.clone(), Tensor::zeros([v.len()], &device()));
    }
    let mut opt = Optimizer::new(OptimizerConfig {
        kind: OptimizerKind::Sgd,
        weight_decay: 0.5,
        ..Default::default()
    });
    let model = opt.step(model, &mut grads, 0.1);
    let after = weights(&model);
    for (path, v) in &before {
        let want: Vec<f32> = if path.ends_with("bias") {
            v.clone()
        } else {
            v.iter().map(|x| x + (x * 0.5) * -0.1).collect()
        };
        assert_eq!(after[path], want, "{path}");
    }
    assert!(
        model.backbone.weight.val().is_require_grad(),
        "parameters stay trainable"
    );
}
