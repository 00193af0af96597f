//! `FinetuneMode::Lora` for any Burn module: only adapter parameters train.

use burn::Tensor;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};

use super::adapter::ADAPTER_CONTAINER;

/// Every parameter outside a LoRA adapter stops requiring gradients, biases included (PEFT's
/// `bias: "none"`); adapter parameters keep theirs. Dropout layers keep training, as with
/// PyTorch's `requires_grad_(False)`.
pub fn train_adapters_only<M: Module>(module: M) -> M {
    struct Freeze {
        in_adapter: Vec<bool>,
    }
    impl ModuleMapper for Freeze {
        fn enter_module(&mut self, _name: &str, container_type: &str) {
            self.in_adapter.push(container_type == ADAPTER_CONTAINER);
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.in_adapter.pop();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            if self.in_adapter.iter().any(|&a| a) {
                param
            } else {
                param.set_require_grad(false)
            }
        }
    }
    module.map(&mut Freeze {
        in_adapter: Vec::new(),
    })
}

/// Parameters in LoRA adapters (what LoRA trains); 0 for a model loaded without LoRA.
pub fn adapter_param_count<M: Module>(module: &M) -> usize {
    struct Count {
        in_adapter: Vec<bool>,
        total: usize,
    }
    impl ModuleVisitor for Count {
        fn enter_module(&mut self, _name: &str, container_type: &str) {
            self.in_adapter.push(container_type == ADAPTER_CONTAINER);
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.in_adapter.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if self.in_adapter.iter().any(|&a| a) {
                self.total += param.lazy_shape().num_elements();
            }
        }
    }
    let mut count = Count {
        in_adapter: Vec::new(),
        total: 0,
    };
    module.visit(&mut count);
    count.total
}
