//! Layers every family is built from (besides [`super::Linear`]): layer norm, embedding,
//! dropout, GELU. Field names are the PyTorch attribute names, so HF tensor names follow from
//! the struct paths.

use std::cell::Cell;

use burn::Tensor;
use burn::module::{Module, Param};
use burn::nn::Dropout;
use burn::tensor::{Distribution, Int};

use super::weights::VarBuilder;
use crate::forecaster::ModelError;

/// `nn.LayerNorm` over the last axis.
#[derive(Module, Debug)]
pub struct LayerNorm {
    pub weight: Param<Tensor<1>>,
    pub bias: Param<Tensor<1>>,
    pub eps: f64,
}

impl LayerNorm {
    pub fn load(vb: &VarBuilder<'_>, d: usize, eps: f64) -> Result<Self, ModelError> {
        Ok(Self {
            weight: vb.get("weight", [d])?,
            bias: vb.get("bias", [d])?,
            eps,
        })
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        crate::kernels::layer_norm(x, self.weight.val(), self.bias.val(), self.eps)
    }
}

/// `nn.Embedding`.
#[derive(Module, Debug)]
pub struct Embedding {
    pub weight: Param<Tensor<2>>,
}

impl Embedding {
    pub fn load(vb: &VarBuilder<'_>, vocab: usize, d: usize) -> Result<Self, ModelError> {
        Ok(Self {
            weight: vb.get("weight", [vocab, d])?,
        })
    }

    /// `[batch]` ids -> `[batch, d]`.
    pub fn forward(&self, ids: Tensor<1, Int>) -> Tensor<2> {
        self.weight.val().select(0, ids)
    }
}

thread_local! {
    /// This thread's dropout stream (see [`with_dropout_stream`]); `None`: the device generator.
    static DROPOUT_STREAM: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Runs `f` with this thread's dropout masks drawn from a SplitMix64 stream started at `seed`,
/// whatever other threads do: the trainer's batch shards run forwards on several threads at
/// once, and Burn's device generator is one per process. Outside it masks follow the device
/// generator (`Device::seed`).
pub fn with_dropout_stream<R>(seed: u64, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<u64>);
    impl Drop for Restore {
        fn drop(&mut self) {
            DROPOUT_STREAM.set(self.0);
        }
    }
    let _restore = Restore(DROPOUT_STREAM.replace(Some(seed)));
    f()
}

/// The seed of the next mask: from this thread's stream when one is set, else two uniforms
/// from the device generator.
fn next_mask_seed(device: &burn::tensor::Device) -> u64 {
    if let Some(mut state) = DROPOUT_STREAM.get() {
        let seed = split_mix64(&mut state);
        DROPOUT_STREAM.set(Some(state));
        return seed;
    }
    let seed_bits = Tensor::<1>::random([2], Distribution::Default, device)
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 uniforms");
    (u64::from(seed_bits[0].to_bits()) << 32) | u64::from(seed_bits[1].to_bits())
}

/// `layer.forward(x)` with the same semantics (active only in training state on an autodiff
/// device; kept values scaled by `1 / (1 - p)`) but a cheaper mask: Burn draws each element
/// through a freshly built `Bernoulli` sampler on ChaCha, which was a quarter of a TTM-r2
/// training step; here one seed ([`with_dropout_stream`]'s stream, or the device generator)
/// starts a SplitMix64 stream on the host.
pub fn dropout<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    if !layer.training.is_enabled() || !device.is_autodiff() || layer.prob == 0.0 {
        return x;
    }
    let state = next_mask_seed(&device);
    let keep = 1.0 - layer.prob;
    // An element is kept when a uniform u32 is below keep * 2^32.
    let threshold = (keep * 4_294_967_296.0) as u64;
    let scale = (1.0 / keep) as f32;
    crate::kernels::dropout(
        x,
        crate::kernels::DropoutMask {
            state,
            threshold,
            scale,
        },
    )
}

/// `module` with every dropout layer switched on or off, gradients left alone (PyTorch's
/// `model.eval()` while still back-propagating, as the gradient references are made).
pub fn set_dropout<M: Module>(module: M, enabled: bool) -> M {
    struct Switch(bool);
    impl burn::module::ModuleMapper for Switch {
        fn map_flag(&mut self, flag: Param<burn::module::Flag>) -> Param<burn::module::Flag> {
            flag.with_value(self.0)
        }
    }
    module.map(&mut Switch(enabled))
}

/// One step of SplitMix64 (Steele, Lea and Flood 2014).
pub(crate) fn split_mix64(state: &mut u64) -> u64 {
    use crate::kernels::math::{GOLDEN_GAMMA, mix64};
    *state = state.wrapping_add(GOLDEN_GAMMA);
    mix64(*state)
}

/// Exact (erf) GELU, as `nn.functional.gelu` (the fused kernel where it runs).
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    crate::kernels::gelu(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::DropoutConfig;
    use burn::tensor::Device;

    fn values<const D: usize>(x: Tensor<D>) -> Vec<f32> {
        x.into_data().try_to_vec::<f32>().expect("f32")
    }

    #[test]
    fn dropout_keeps_one_minus_p_scaled_and_follows_the_device_seed() {
        let device = Device::flex().autodiff();
        let layer = DropoutConfig::new(0.2).init();
        let draw = |seed: u64| {
            device.seed(seed);
            values(dropout(&layer, Tensor::<2>::ones([64, 1000], &device)))
        };
        let a = draw(7);
        assert!(a.iter().all(|&v| v == 0.0 || v == 1.25));
        // 64,000 Bernoulli(0.8) draws: mean 51,200, sd 101; this allows 6 sd either side.
        let kept = a.iter().filter(|&&v| v != 0.0).count();
        assert!((50_594..=51_806).contains(&kept), "kept {kept}");
        assert_eq!(draw(7), a);
        assert_ne!(draw(8), a);
    }

    /// A thread's stream gives the same masks whatever the device generator and other threads
    /// do, successive masks differ, and outside the stream the device generator is back.
    #[test]
    fn a_thread_stream_fixes_the_masks_independently_of_other_threads() {
        let device = Device::flex().autodiff();
        let layer = DropoutConfig::new(0.2).init();
        let two_masks = |device_seed: u64| {
            device.seed(device_seed);
            with_dropout_stream(11, || {
                let x = || Tensor::<2>::ones([8, 100], &device);
                (values(dropout(&layer, x())), values(dropout(&layer, x())))
            })
        };
        let (first, second) = two_masks(1);
        assert_ne!(first, second);
        assert!(first.iter().all(|&v| v == 0.0 || v == 1.25));
        assert_eq!(two_masks(2), (first.clone(), second.clone()));
        let elsewhere = std::thread::scope(|s| {
            let other = s.spawn(|| with_dropout_stream(12, || two_masks(3)));
            let here = two_masks(4);
            (here, other.join().unwrap())
        });
        assert_eq!(elsewhere.0, (first.clone(), second));
        assert_eq!(
            elsewhere.1.0, first,
            "the inner stream (11) wins over the outer (12)"
        );
        device.seed(5);
        let outside = values(dropout(&layer, Tensor::<2>::ones([8, 100], &device)));
        device.seed(5);
        assert_eq!(
            values(dropout(&layer, Tensor::<2>::ones([8, 100], &device))),
            outside
        );
        assert_ne!(outside, first);
    }

    #[test]
    fn dropout_is_the_identity_outside_training() {
        let layer = DropoutConfig::new(0.2).init();
        let x = Tensor::<2>::ones([4, 5], &Device::flex());
        assert_eq!(values(dropout(&layer, x)), vec![1.0; 20]);
        let x = Tensor::<2>::ones([4, 5], &Device::flex().autodiff());
        assert_eq!(values(dropout(&layer.valid(), x)), vec![1.0; 20]);
    }
}
