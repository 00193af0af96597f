//! From HuggingFace tensor names to Burn parameters and back.
//!
//! Loading goes top-down like candle's `VarBuilder`: each layer asks for its tensors under its
//! own prefix (`vb.pp("mlp").pp("fc1")`), so struct field names equal the HF names. Saving (and
//! mapping gradients back) walks the Burn module tree with a visitor that rebuilds the same dotted
//! names from the field path. PyTorch `Linear` weights are `[out, in]`; Burn multiplies by
//! `[in, out]`, so `Linear` weights are transposed both ways.

use std::cell::RefCell;
use std::collections::BTreeSet;

use burn::Tensor;
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Gradients, TensorData};

use crate::checkpoint::{HostTensor, TensorMap};
use crate::forecaster::ModelError;

/// The Burn struct whose `weight` is stored transposed relative to PyTorch.
const LINEAR_CONTAINER: &str = "Struct:Linear";

struct Store {
    tensors: TensorMap,
    used: BTreeSet<String>,
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
            }),
        }
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

/// Collects `(HF name, value or gradient)` for every float parameter of a module.
struct NamedCollector<'g> {
    path: Vec<(String, String)>,
    grads: Option<&'g Gradients>,
    out: TensorMap,
}

impl NamedCollector<'_> {
    fn name(&self) -> String {
        let parts: Vec<&str> = self
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
        parts.join(".")
    }

    fn is_linear_weight(&self) -> bool {
        self.path
            .last()
            .is_some_and(|(n, ty)| n == "weight" && ty == LINEAR_CONTAINER)
    }
}

impl ModuleVisitor for NamedCollector<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path
            .push((name.to_string(), container_type.to_string()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
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
        if self.is_linear_weight() {
            t = t.transposed_2d();
        }
        self.out.insert(self.name(), t);
    }
}

/// Every float parameter of `module` under its HuggingFace name, in PyTorch layout.
pub fn hf_tensors<M: Module>(module: &M) -> TensorMap {
    let mut c = NamedCollector {
        path: Vec::new(),
        grads: None,
        out: TensorMap::new(),
    };
    module.visit(&mut c);
    c.out
}

/// The gradient of every parameter that has one, under its HuggingFace name, PyTorch layout.
pub fn hf_grads<M: Module>(module: &M, grads: &Gradients) -> TensorMap {
    let mut c = NamedCollector {
        path: Vec::new(),
        grads: Some(grads),
        out: TensorMap::new(),
    };
    module.visit(&mut c);
    c.out
}
