//! Gradients per parameter, accumulated over micro-batches, and HF's global-norm clipping.
//!
//! Gradients are keyed by the parameter's module path (`encoder.mlp.fc1.weight`), the same key
//! the optimizer state and the checkpoints use, and kept flattened on the inner (non-autodiff)
//! device.

use std::collections::BTreeMap;

use burn::Tensor;
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Gradients;

/// Accumulated gradients of the trainable parameters.
#[derive(Debug, Default, Clone)]
pub struct GradStore {
    grads: BTreeMap<String, Tensor<1>>,
}

struct Collect<'a> {
    path: Vec<String>,
    grads: &'a mut Gradients,
    store: &'a mut GradStore,
}

impl ModuleVisitor for Collect<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !param.is_require_grad() {
            return;
        }
        let Some(grad) = param.val().grad_remove(self.grads) else {
            return;
        };
        let n = grad.shape().num_elements();
        let flat = grad.reshape([n]);
        let key = self.path.join(".");
        let entry = match self.store.grads.remove(&key) {
            Some(prev) => prev + flat,
            None => flat,
        };
        self.store.grads.insert(key, entry);
    }
}

impl GradStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add the gradients of one backward pass (sums over micro-batches).
    pub fn accumulate<M: Module>(&mut self, module: &M, mut grads: Gradients) {
        let mut visitor = Collect {
            path: Vec::new(),
            grads: &mut grads,
            store: self,
        };
        module.visit(&mut visitor);
    }

    /// Add another store's gradients, path by path.
    pub fn add(&mut self, other: GradStore) {
        for (key, grad) in other.grads {
            let entry = match self.grads.remove(&key) {
                Some(prev) => prev + grad,
                None => grad,
            };
            self.grads.insert(key, entry);
        }
    }

    pub fn len(&self) -> usize {
        self.grads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.grads.is_empty()
    }

    pub fn get(&self, path: &str) -> Option<&Tensor<1>> {
        self.grads.get(path)
    }

    pub fn insert(&mut self, path: impl Into<String>, grad: Tensor<1>) {
        self.grads.insert(path.into(), grad);
    }

    pub(crate) fn take(&mut self, path: &str) -> Option<Tensor<1>> {
        self.grads.remove(path)
    }

    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.grads.keys().map(String::as_str)
    }

    /// L2 norm over all gradients together (`torch.nn.utils.clip_grad_norm_`, norm type 2).
    pub fn global_norm(&self) -> f64 {
        let mut total: Option<Tensor<1>> = None;
        for g in self.grads.values() {
            let sq = g.clone().square().sum();
            total = Some(match total {
                Some(t) => t + sq,
                None => sq,
            });
        }
        match total {
            Some(t) => (t.into_scalar::<f32>() as f64).sqrt(),
            None => 0.0,
        }
    }

    /// HF clipping: scale every gradient by `max_norm / (norm + 1e-6)` when that is below 1.
    /// Returns the norm before clipping (what HF logs as `grad_norm`).
    pub fn clip_global_norm(&mut self, max_norm: f64) -> f64 {
        let norm = self.global_norm();
        if max_norm > 0.0 && norm.is_finite() {
            let coef = max_norm / (norm + 1e-6);
            if coef < 1.0 {
                for g in self.grads.values_mut() {
                    *g = g.clone().mul_scalar(coef as f32);
                }
            }
        }
        norm
    }
}
