//! What the LoRA tests of every family share.

use burn::Tensor;
use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::TensorData;

/// Every `B` set to small seeded values, as training would leave it, so adapters matter.
pub fn perturb<M: Module>(model: M) -> M {
    struct Perturb {
        path: Vec<(String, String)>,
        state: u64,
    }
    impl ModuleMapper for Perturb {
        fn enter_module(&mut self, name: &str, container_type: &str) {
            self.path.push((name.into(), container_type.into()));
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let is_b = self
                .path
                .last()
                .is_some_and(|(n, ty)| n == "lora_b" && ty == "Struct:LoraAdapter");
            if !is_b {
                return param;
            }
            let dims = param.val().dims();
            let values: Vec<f32> = (0..dims.iter().product::<usize>())
                .map(|_| {
                    self.state = self
                        .state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    ((self.state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.4
                })
                .collect();
            param.map(|t| Tensor::from_data(TensorData::new(values, dims.to_vec()), &t.device()))
        }
    }
    model.map(&mut Perturb {
        path: Vec::new(),
        state: 3,
    })
}
