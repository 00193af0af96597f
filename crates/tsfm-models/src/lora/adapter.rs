//! The adapter a targeted [`crate::nn::Linear`] carries: PEFT's `lora.Linear` minus the base
//! layer, which stays the `Linear` itself.

use burn::Tensor;
use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::module::linear;
use burn::tensor::{Device, TensorData};

use super::config::LoraConfig;
use crate::nn::layers::{dropout, split_mix64};

/// The container name visitors see for an adapter's fields (its parameters are the ones
/// LoRA trains).
pub(crate) const ADAPTER_CONTAINER: &str = "Struct:LoraAdapter";

/// `scaling * dropout(x) A B`, added to the layer's `x W + b`.
#[derive(Module, Debug)]
pub struct LoraAdapter {
    /// `[in, rank]`: PEFT's `lora_A.weight` `[rank, in]` transposed, as Burn computes `x A`.
    pub lora_a: Param<Tensor<2>>,
    /// `[rank, out]`: PEFT's `lora_B.weight` `[out, rank]` transposed.
    pub lora_b: Param<Tensor<2>>,
    pub lora_dropout: Dropout,
    pub scaling: f64,
}

impl LoraAdapter {
    /// A fresh adapter for the layer `module` (its HF name): `A` drawn as PEFT's
    /// `kaiming_uniform_(a=sqrt(5))`, i.e. uniform on `±1/sqrt(in)`, from a stream seeded by
    /// `config.seed` and the name; `B` zero, so the layer's output is unchanged.
    pub fn new(
        module: &str,
        d_in: usize,
        d_out: usize,
        config: &LoraConfig,
        device: &Device,
    ) -> Self {
        let r = config.rank;
        let bound = 1.0 / (d_in as f32).sqrt();
        let mut state = config.seed ^ fnv1a(module);
        let a: Vec<f32> = (0..d_in * r)
            .map(|_| {
                // The top 24 bits: an f32-exact uniform on [0, 1).
                let u = (split_mix64(&mut state) >> 40) as f32 / (1u64 << 24) as f32;
                (2.0 * u - 1.0) * bound
            })
            .collect();
        Self {
            lora_a: Param::from_data(TensorData::new(a, [d_in, r]), device),
            lora_b: Param::from_data(TensorData::zeros::<f32, _>([r, d_out]), device),
            lora_dropout: DropoutConfig::new(config.dropout).init(),
            scaling: config.scaling(),
        }
    }

    /// The adapter's contribution to the layer's output, in PEFT's order:
    /// `lora_B(lora_A(dropout(x))) * scaling`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let h = linear(dropout(&self.lora_dropout, x), self.lora_a.val(), None);
        linear(h, self.lora_b.val(), None).mul_scalar(self.scaling)
    }

    /// `scaling * A B` `[in, out]`: what merging adds to the layer's (Burn-layout) weight.
    pub fn delta(&self) -> Tensor<2> {
        self.lora_a
            .val()
            .matmul(self.lora_b.val())
            .mul_scalar(self.scaling)
    }

    pub fn rank(&self) -> usize {
        self.lora_a.val().dims()[1]
    }
}

/// FNV-1a: a stable 64-bit hash of a layer name (std's hasher may change between releases).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn a_is_uniform_within_kaiming_bounds_seeded_by_seed_and_name_and_b_is_zero() {
        let device = Device::flex();
        let config = LoraConfig {
            rank: 4,
            seed: 7,
            ..Default::default()
        };
        let make = |name: &str, seed: u64| {
            LoraAdapter::new(
                name,
                100,
                3,
                &LoraConfig {
                    seed,
                    ..config.clone()
                },
                &device,
            )
        };
        let a = make("mlp.fc1", 7);
        assert_eq!(a.lora_a.val().dims(), [100, 4]);
        assert_eq!(values(a.lora_b.val()), vec![0.0; 12]);
        let draws = values(a.lora_a.val());
        assert!(draws.iter().all(|v| v.abs() <= 0.1), "bound 1/sqrt(100)");
        // 400 uniforms on ±0.1: variance 0.01/3, so the mean is within 0.0086 at 3 sd.
        let mean = draws.iter().sum::<f32>() / 400.0;
        assert!(mean.abs() < 0.0087, "{mean}");
        assert!(draws.iter().any(|v| v.abs() > 0.09), "the range is used");
        assert_eq!(values(make("mlp.fc1", 7).lora_a.val()), draws);
        assert_ne!(values(make("mlp.fc2", 7).lora_a.val()), draws);
        assert_ne!(values(make("mlp.fc1", 8).lora_a.val()), draws);
        assert_eq!(a.scaling, 2.0, "alpha 8 / rank 4");
    }

    #[test]
    fn dropout_acts_on_the_adapter_input_in_training_only() {
        let device = Device::flex().autodiff();
        let config = LoraConfig {
            rank: 2,
            dropout: 0.5,
            ..Default::default()
        };
        let mut adapter = LoraAdapter::new("fc", 6, 3, &config, &device);
        adapter.lora_b = Param::from_data(TensorData::new(vec![0.5f32; 6], [2, 3]), &device);
        let run = |a: &LoraAdapter, device: &Device, seed: u64| {
            device.seed(seed);
            values(a.forward(Tensor::<2>::ones([4, 6], device)))
        };
        let plain_device = Device::flex();
        let valid = adapter.valid();
        let plain = run(&valid, &plain_device, 1);
        assert_eq!(
            plain,
            run(&valid, &plain_device, 2),
            "no dropout outside training"
        );
        let expected = values(Tensor::<2>::ones([4, 6], &plain_device).matmul(valid.delta()));
        assert!(
            plain
                .iter()
                .zip(&expected)
                .all(|(a, b)| (a - b).abs() < 1e-6)
        );
        assert_ne!(run(&adapter, &device, 1), plain, "training drops inputs");
        assert_eq!(
            run(&adapter, &device, 1),
            run(&adapter, &device, 1),
            "as the device seed says"
        );
    }
}
