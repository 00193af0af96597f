//! `nn.Linear`, the one linear layer of every family, with an optional LoRA adapter.
//!
//! Its `Module` implementation is written out instead of derived for one reason:
//! [`Module::materialize`] (Burn's "fold reparameterizations into the weights") merges the
//! adapter into `weight`, so `model.valid().materialize()` is the merged model of any family.
//! Everything else is what `#[derive(Module)]` generates: fields visited in declaration order
//! under the container name `Struct:Linear`, which the HF naming in `weights.rs` relies on.

use burn::Tensor;
use burn::module::{
    Content, Devices, Module, ModuleDisplay, ModuleDisplayDefault, ModuleMapper, ModuleVisitor,
    Param,
};
use burn::tensor::Device;

use super::weights::VarBuilder;
use crate::forecaster::ModelError;
use crate::lora::LoraAdapter;

const CONTAINER: &str = "Struct:Linear";

/// `nn.Linear`; `weight` is held as `[in, out]` (see `weights.rs`). With an adapter it
/// computes `x W + b + scaling * dropout(x) A B` (PEFT's `lora.Linear`).
#[derive(Debug, Clone)]
pub struct Linear {
    pub weight: Param<Tensor<2>>,
    pub bias: Option<Param<Tensor<1>>>,
    pub lora: Option<LoraAdapter>,
}

impl Linear {
    /// `nn.Linear(d_in, d_out)`, with an adapter when the loader's LoRA targets this layer.
    pub fn load(vb: &VarBuilder<'_>, d_in: usize, d_out: usize) -> Result<Self, ModelError> {
        Ok(Self {
            weight: vb.get_linear_weight("weight", d_in, d_out)?,
            bias: Some(vb.get("bias", [d_out])?),
            lora: vb.lora_adapter(d_in, d_out),
        })
    }

    /// `nn.Linear(bias=False)` (every T5 projection).
    pub fn load_no_bias(
        vb: &VarBuilder<'_>,
        d_in: usize,
        d_out: usize,
    ) -> Result<Self, ModelError> {
        Ok(Self {
            weight: vb.get_linear_weight("weight", d_in, d_out)?,
            bias: None,
            lora: vb.lora_adapter(d_in, d_out),
        })
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        // The product and the bias through the kernels: one GEMM into an unzeroed buffer, the
        // bias added in it.
        let base =
            |x| crate::kernels::linear(x, self.weight.val(), self.bias.as_ref().map(Param::val));
        match &self.lora {
            None => base(x),
            Some(adapter) => base(x.clone()) + adapter.forward(x),
        }
    }
}

impl Module for Linear {
    fn num_params(&self) -> usize {
        Module::num_params(&self.weight)
            + Module::num_params(&self.bias)
            + Module::num_params(&self.lora)
    }

    fn visit<V: ModuleVisitor>(&self, visitor: &mut V) {
        visitor.enter_module("weight", CONTAINER);
        Module::visit(&self.weight, visitor);
        visitor.exit_module("weight", CONTAINER);
        visitor.enter_module("bias", CONTAINER);
        Module::visit(&self.bias, visitor);
        visitor.exit_module("bias", CONTAINER);
        visitor.enter_module("lora", CONTAINER);
        Module::visit(&self.lora, visitor);
        visitor.exit_module("lora", CONTAINER);
    }

    fn map<M: ModuleMapper>(self, mapper: &mut M) -> Self {
        let Self { weight, bias, lora } = self;
        mapper.enter_module("weight", CONTAINER);
        let weight = Module::map(weight, mapper);
        mapper.exit_module("weight", CONTAINER);
        mapper.enter_module("bias", CONTAINER);
        let bias = Module::map(bias, mapper);
        mapper.exit_module("bias", CONTAINER);
        mapper.enter_module("lora", CONTAINER);
        let lora = Module::map(lora, mapper);
        mapper.exit_module("lora", CONTAINER);
        Self { weight, bias, lora }
    }

    fn collect_devices(&self, devices: Devices) -> Devices {
        let devices = Module::collect_devices(&self.weight, devices);
        let devices = Module::collect_devices(&self.bias, devices);
        Module::collect_devices(&self.lora, devices)
    }

    fn to_device(self, device: &Device) -> Self {
        Self {
            weight: Module::to_device(self.weight, device),
            bias: Module::to_device(self.bias, device),
            lora: Module::to_device(self.lora, device),
        }
    }

    fn fork(self, device: &Device) -> Self {
        Self {
            weight: Module::fork(self.weight, device),
            bias: Module::fork(self.bias, device),
            lora: Module::fork(self.lora, device),
        }
    }

    fn valid(&self) -> Self {
        Self {
            weight: Module::valid(&self.weight),
            bias: Module::valid(&self.bias),
            lora: Module::valid(&self.lora),
        }
    }

    fn train(self) -> Self {
        Self {
            weight: Module::train(self.weight),
            bias: Module::train(self.bias),
            lora: Module::train(self.lora),
        }
    }

    /// `W + scaling * A B` into `weight` (the same parameter id and training state), adapter
    /// dropped: PEFT's `merge_and_unload`.
    fn materialize(self) -> Self {
        let Self { weight, bias, lora } = self;
        let weight = match lora {
            None => weight,
            Some(adapter) => {
                // `Param::map` keeps the parameter's configured training state for `train()`.
                let delta = adapter.delta().detach();
                weight.map(|w| w.detach() + delta)
            }
        };
        Self {
            weight,
            bias,
            lora: None,
        }
    }
}

impl ModuleDisplayDefault for Linear {
    fn content(&self, content: Content) -> Option<Content> {
        content
            .set_top_level_type("Linear")
            .add("weight", &self.weight)
            .add("bias", &self.bias)
            .add("lora", &self.lora)
            .optional()
    }

    fn num_params(&self) -> usize {
        Module::num_params(self)
    }
}

impl ModuleDisplay for Linear {}

impl std::fmt::Display for Linear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", ModuleDisplay::format(self, Default::default()))
    }
}
