//! From HuggingFace tensor names to Burn parameters and back.
//!
//! Loading goes top-down like candle's `VarBuilder`: each layer asks for its tensors under its
//! own prefix (`vb.pp("mlp").pp("fc1")`), so struct field names equal the HF names. Saving (and
//! mapping gradients back) walks the Burn module tree with a visitor that rebuilds the same dotted
//! names from the field path. PyTorch `Linear` weights are `[out, in]`; Burn multiplies by
//! `[in, out]`, so `Linear` weights are transposed both ways.
//!
//! LoRA rides on the same path: a source given a [`LoraConfig`] hands every linear layer whose
//! HF name the targets match a fresh adapter ([`VarBuilder::lora_adapter`]), and adapter
//! parameters are named as PEFT names them (`mlp.fc1.lora_A.weight`, `[rank, in]`).

use std::cell::RefCell;
use std::collections::BTreeSet;

use burn::Tensor;
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Gradients, TensorData};

use crate::checkpoint::{HostTensor, TensorMap};
use crate::forecaster::ModelError;
use crate::lora::adapter::ADAPTER_CONTAINER;
use crate::lora::{LoraAdapter, LoraConfig, TargetMatcher};

/// The Burn struct whose `weight` is stored transposed relative to PyTorch.
const LINEAR_CONTAINER: &str = "Struct:Linear";

struct Store {
    tensors: TensorMap,
    used: BTreeSet<String>,
    lora: Option<LoraPlan>,
}

/// Which layers get adapters, and which linear layers the model turned out to have.
struct LoraPlan {
    config: LoraConfig,
    matcher: TargetMatcher,
    model_type: String,
    linears: Vec<String>,
}

/// Hands out checkpoint tensors by HF name, remembering which ones were used.
pub struct VarBuilder<'a> {
    store: &'a RefCell<Store>,
    prefix: String,
    device: &'a Device,
}

/// Owns the tensors; [`WeightSource::root`] gives the builder.
pub struct WeightSource {
    store: RefCell<Store>,
}

impl WeightSource {
    pub fn new(tensors: TensorMap) -> Self {
        Self {
            store: RefCell::new(Store {
                tensors,
                used: BTreeSet::new(),
                lora: None,
            }),
        }
    }

    /// Attach LoRA adapters to the linear layers `config` targets (its `Default` targets
    /// resolved for `model_type`); `None` loads the plain model.
    pub fn with_lora(
        self,
        config: Option<&LoraConfig>,
        model_type: &str,
    ) -> Result<Self, ModelError> {
        if let Some(config) = config {
            let valid =
                config.rank > 0 && config.alpha > 0.0 && (0.0..1.0).contains(&config.dropout);
            if !valid {
                return Err(ModelError::Invalid(format!(
                    "LoRA needs rank > 0, alpha > 0 and dropout in [0, 1); got rank {}, alpha {}, \
                     dropout {}",
                    config.rank, config.alpha, config.dropout
                )));
            }
            let matcher = TargetMatcher::new(config.resolved_targets(model_type))?;
            self.store.borrow_mut().lora = Some(LoraPlan {
                config: config.clone(),
                matcher,
                model_type: model_type.to_string(),
                linears: Vec::new(),
            });
        }
        Ok(self)
    }

    /// After the model is built: the checkpoint tensors no layer asked for, or an error when a
    /// LoRA target matched no linear layer.
    pub fn finish(&self) -> Result<Vec<String>, ModelError> {
        if let Some(plan) = &self.store.borrow().lora {
            plan.matcher
                .check_all_used(&plan.linears, &plan.model_type)?;
        }
        Ok(self.unused())
    }

    pub fn root<'a>(&'a self, device: &'a Device) -> VarBuilder<'a> {
        VarBuilder {
            store: &self.store,
            prefix: String::new(),
            device,
        }
    }

    /// Checkpoint tensors no layer asked for.
    pub fn unused(&self) -> Vec<String> {
        let s = self.store.borrow();
        s.tensors
            .keys()
            .filter(|k| !s.used.contains(*k))
            .cloned()
            .collect()
    }
}

impl<'a> VarBuilder<'a> {
    /// The builder for a sub-module (`prefix.name`).
    pub fn pp(&self, name: impl std::fmt::Display) -> VarBuilder<'a> {
        let prefix = if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        };
        VarBuilder {
            store: self.store,
            prefix,
            device: self.device,
        }
    }

    pub fn device(&self) -> &Device {
        self.device
    }

    pub fn contains(&self, name: &str) -> bool {
        self.store.borrow().tensors.contains_key(&self.full(name))
    }

    fn full(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    fn take(&self, name: &str, expected: &[usize]) -> Result<HostTensor, ModelError> {
        let full = self.full(name);
        let mut s = self.store.borrow_mut();
        let t = s.tensors.get(&full).cloned().ok_or_else(|| {
            ModelError::Invalid(format!(
                "checkpoint tensor `{full}` (shape {expected:?}) is missing; the weights do not match config.json"
            ))
        })?;
        if t.shape != expected {
            return Err(ModelError::Invalid(format!(
                "checkpoint tensor `{full}` has shape {:?}, config.json implies {expected:?}",
                t.shape
            )));
        }
        s.used.insert(full);
        Ok(t)
    }

    /// A parameter with the HF shape `shape`.
    pub fn get<const D: usize>(
        &self,
        name: &str,
        shape: [usize; D],
    ) -> Result<Param<Tensor<D>>, ModelError> {
        let t = self.take(name, &shape)?;
        Ok(param_from_host(t, self.device))
    }

    /// The adapter for the linear layer this builder names, when the source's LoRA targets it.
    pub fn lora_adapter(&self, d_in: usize, d_out: usize) -> Option<LoraAdapter> {
        let mut store = self.store.borrow_mut();
        let plan = store.lora.as_mut()?;
        plan.linears.push(self.prefix.clone());
        plan.matcher
            .matches(&self.prefix)
            .then(|| LoraAdapter::new(&self.prefix, d_in, d_out, &plan.config, self.device))
    }

    /// A PyTorch `Linear` weight `[out, in]`, returned as Burn's `[in, out]`.
    pub fn get_linear_weight(
        &self,
        name: &str,
        d_in: usize,
        d_out: usize,
    ) -> Result<Param<Tensor<2>>, ModelError> {
        let t = self.take(name, &[d_out, d_in])?.transposed_2d();
        Ok(param_from_host(t, self.device))
    }
}

fn param_from_host<const D: usize>(t: HostTensor, device: &Device) -> Param<Tensor<D>> {
    Param::from_data(TensorData::new(t.data, t.shape), device)
}

/// Where a visitor or mapper is in the module tree, as a HuggingFace tensor name.
#[derive(Debug, Default)]
pub(crate) struct HfPath {
    path: Vec<(String, String)>,
}

impl HfPath {
    pub fn enter(&mut self, name: &str, container_type: &str) {
        self.path
            .push((name.to_string(), container_type.to_string()));
    }

    pub fn exit(&mut self) {
        self.path.pop();
    }

    /// The HF name of the parameter here, and whether its Burn value is the transpose of the
    /// PyTorch one (`Linear` weights and LoRA factors).
    pub fn name(&self) -> (String, bool) {
        let mut parts: Vec<&str> = self
            .path
            .iter()
            // Enum variants are an implementation detail, not part of the HF name.
            .filter(|(_, ty)| !ty.starts_with("Enum:"))
            // `_0`, `_1` fields stand for `nn.Sequential` indices (`freq_mod.0`).
            .map(|(n, _)| {
                n.strip_prefix('_')
                    .filter(|r| r.chars().all(|c| c.is_ascii_digit()))
                    .unwrap_or(n)
            })
            .collect();
        match self.path.last().map(|(n, ty)| (n.as_str(), ty.as_str())) {
            Some(("weight", LINEAR_CONTAINER)) => (parts.join("."), true),
            // `fc1.lora.lora_a` is PEFT's `fc1.lora_A.weight`.
            Some((factor @ ("lora_a" | "lora_b"), ADAPTER_CONTAINER)) => {
                parts.truncate(parts.len().saturating_sub(2));
                let peft = if factor == "lora_a" {
                    "lora_A"
                } else {
                    "lora_B"
                };
                parts.extend([peft, "weight"]);
                (parts.join("."), true)
            }
            _ => (parts.join("."), false),
        }
    }
}

/// Collects `(HF name, value or gradient)` for every float parameter of a module.
struct NamedCollector<'g> {
    path: HfPath,
    grads: Option<&'g Gradients>,
    out: TensorMap,
}

impl ModuleVisitor for NamedCollector<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = match self.grads {
            None => Some(param.val()),
            Some(g) => param.val().grad(g),
        };
        let Some(value) = value else { return };
        let shape = value.dims().to_vec();
        let data = value
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("float parameter data");
        let mut t = HostTensor::new(shape, data);
        let (name, transposed) = self.path.name();
        if transposed {
            t = t.transposed_2d();
        }
        self.out.insert(name, t);
    }
}

/// Every float parameter of `module` under its HuggingFace name, in PyTorch layout: what
/// `model.safetensors` holds. LoRA adapters are merged into their layers' weights
/// ([`Module::materialize`]), so the result is an ordinary checkpoint of the family.
pub fn hf_tensors<M: Module>(module: &M) -> TensorMap {
    named_tensors(&module.valid().materialize())
}

/// As [`hf_tensors`] without merging: adapter factors appear under their PEFT names
/// (`mlp.fc1.lora_A.weight`) beside the base weights.
pub fn hf_tensors_unmerged<M: Module>(module: &M) -> TensorMap {
    named_tensors(module)
}

fn named_tensors<M: Module>(module: &M) -> TensorMap {
    let mut c = NamedCollector {
        path: HfPath::default(),
        grads: None,
        out: TensorMap::new(),
    };
    module.visit(&mut c);
    c.out
}

/// The gradient of every parameter that has one, under its HuggingFace name, PyTorch layout
/// (adapter factors under their PEFT names).
pub fn hf_grads<M: Module>(module: &M, grads: &Gradients) -> TensorMap {
    let mut c = NamedCollector {
        path: HfPath::default(),
        grads: Some(grads),
        out: TensorMap::new(),
    };
    module.visit(&mut c);
    c.out
}
