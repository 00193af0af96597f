//! AdamW, Adam and SGD with PyTorch's update formulas, applied to a Burn module.
//!
//! Burn's own optimizers differ from PyTorch (AdamW eps placement and defaults, per-tensor
//! clipping), so the update is written here, in the operation order of PyTorch's
//! single-tensor (`foreach=False`) implementations; Adam and AdamW run as one pass per parameter
//! on the CPU (`tsfm_models::kernels::adam_step`, the same floats as those ops). State is keyed
//! by module path so that it survives a checkpoint round trip, and parameters without a
//! gradient (frozen) are skipped.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::path::Path;

use burn::Tensor;
use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, TensorData};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use tsfm_models::kernels::adam::AdamStep;
use tsfm_models::kernels::{AdamTensors, adam_step};

use crate::args::{OptimizerKind, TrainingArgs};
use crate::error::TrainError;
use crate::grads::GradStore;

/// Hyper-parameters; `Default` gives PyTorch's `torch.optim.AdamW` defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub nesterov: bool,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            kind: OptimizerKind::Adamw,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
        }
    }
}

impl OptimizerConfig {
    pub fn from_args(args: &TrainingArgs) -> Self {
        Self {
            kind: args.optimizer,
            beta1: args.adam_beta1,
            beta2: args.adam_beta2,
            eps: args.adam_epsilon,
            weight_decay: args.weight_decay,
            momentum: args.sgd_momentum,
            dampening: args.sgd_dampening,
            nesterov: args.sgd_nesterov,
        }
    }
}

/// Whether a parameter gets weight decay. HF's `get_decay_parameter_names` leaves out biases
/// and the weights of layer-norm layers; Burn names a layer norm's bias `beta`.
pub fn hf_decays(path: &str, container_type: &str) -> bool {
    let name = path.rsplit('.').next().unwrap_or(path);
    let is_bias = path.contains("bias") || name == "beta";
    let ty = container_type.rsplit(':').next().unwrap_or(container_type);
    let is_norm = ty.ends_with("LayerNorm") || ty.contains("RmsNorm") || ty.contains("RMSNorm");
    !(is_bias || is_norm)
}

/// State of one parameter (PyTorch's `state[p]`).
#[derive(Debug, Clone, Default)]
pub struct ParamState {
    pub step: u64,
    pub exp_avg: Option<Tensor<1>>,
    pub exp_avg_sq: Option<Tensor<1>>,
    pub momentum_buffer: Option<Tensor<1>>,
}

/// An optimizer over the parameters of any Burn module.
#[derive(Debug, Clone)]
pub struct Optimizer {
    pub config: OptimizerConfig,
    state: BTreeMap<String, ParamState>,
}

struct StepMapper<'a> {
    path: Vec<String>,
    container: Vec<String>,
    grads: &'a mut GradStore,
    optim: &'a mut Optimizer,
    lr: f64,
}

impl ModuleMapper for StepMapper<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push(name.to_string());
        self.container.push(container_type.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
        self.container.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.path.join(".");
        let Some(grad) = self.grads.take(&path) else {
            return param;
        };
        let decays = hf_decays(&path, self.container.last().map_or("", String::as_str));
        let (id, tensor, mapper) = param.consume();
        let autodiff = tensor.is_autodiff();
        let require_grad = tensor.is_require_grad();
        let dims = tensor.dims();
        let n = tensor.shape().num_elements();
        let flat = tensor.inner().reshape([n]);
        let updated = self.optim.update(&path, decays, flat, grad, self.lr);
        let mut tensor: Tensor<D> = updated.reshape(dims);
        if autodiff {
            tensor = tensor.autodiff();
        }
        if require_grad {
            tensor = tensor.require_grad();
        }
        Param::from_mapped_value(id, tensor, mapper)
    }
}

impl Optimizer {
    pub fn new(config: OptimizerConfig) -> Self {
        Self {
            config,
            state: BTreeMap::new(),
        }
    }

    pub fn state(&self, path: &str) -> Option<&ParamState> {
        self.state.get(path)
    }

    /// One update of every parameter that has a gradient in `grads` (consumed).
    pub fn step<M: Module>(&mut self, module: M, grads: &mut GradStore, lr: f64) -> M {
        let mut mapper = StepMapper {
            path: Vec::new(),
            container: Vec::new(),
            grads,
            optim: self,
            lr,
        };
        module.map(&mut mapper)
    }

    /// The update of one flattened parameter.
    pub fn update(
        &mut self,
        path: &str,
        decays: bool,
        param: Tensor<1>,
        grad: Tensor<1>,
        lr: f64,
    ) -> Tensor<1> {
        let c = self.config;
        let wd = if decays { c.weight_decay } else { 0.0 };
        let st = self.state.entry(path.to_string()).or_default();
        match c.kind {
            OptimizerKind::Adamw | OptimizerKind::Adam => {
                st.step += 1;
                let step = AdamStep::new(
                    c.kind == OptimizerKind::Adamw,
                    lr,
                    wd,
                    c.beta1,
                    c.beta2,
                    c.eps,
                    st.step,
                );
                let state = AdamTensors {
                    param,
                    exp_avg: st.exp_avg.take().unwrap_or_else(|| grad.zeros_like()),
                    exp_avg_sq: st.exp_avg_sq.take().unwrap_or_else(|| grad.zeros_like()),
                };
                let updated = adam_step(state, grad, step);
                st.exp_avg = Some(updated.exp_avg);
                st.exp_avg_sq = Some(updated.exp_avg_sq);
                updated.param
            }
            OptimizerKind::Sgd => {
                st.step += 1;
                let mut d_p = if wd != 0.0 {
                    grad + param.clone().mul_scalar(wd as f32)
                } else {
                    grad
                };
                if c.momentum != 0.0 {
                    let buf = match st.momentum_buffer.take() {
                        None => d_p.clone(),
                        Some(b) => {
                            b.mul_scalar(c.momentum as f32)
                                + d_p.clone().mul_scalar((1.0 - c.dampening) as f32)
                        }
                    };
                    d_p = if c.nesterov {
                        d_p + buf.clone().mul_scalar(c.momentum as f32)
                    } else {
                        buf.clone()
                    };
                    st.momentum_buffer = Some(buf);
                }
                param + d_p.mul_scalar(-lr as f32)
            }
        }
    }

    /// Write the state to `optimizer.safetensors` (moments) in `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), TrainError> {
        let mut tensors: Vec<(String, Vec<u8>, usize)> = Vec::new();
        let mut meta = HashMap::new();
        meta.insert(
            "optimizer".to_string(),
            serde_json::to_string(&self.config).expect("plain struct"),
        );
        for (path, st) in &self.state {
            meta.insert(format!("step.{path}"), st.step.to_string());
            for (name, t) in [
                ("exp_avg", &st.exp_avg),
                ("exp_avg_sq", &st.exp_avg_sq),
                ("momentum_buffer", &st.momentum_buffer),
            ] {
                if let Some(t) = t {
                    let values = t.to_data().try_to_vec::<f32>().map_err(|e| {
                        TrainError::checkpoint(dir, format!("optimizer state {path}.{name}: {e:?}"))
                    })?;
                    let n = values.len();
                    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                    tensors.push((format!("{path}.{name}"), bytes, n));
                }
            }
        }
        let views: Vec<(String, TensorView<'_>)> = tensors
            .iter()
            .map(|(k, b, n)| {
                (
                    k.clone(),
                    TensorView::new(Dtype::F32, vec![*n], b).expect("sized buffer"),
                )
            })
            .collect();
        let bytes = safetensors::serialize(views, Some(meta))
            .map_err(|e| TrainError::checkpoint(dir, format!("optimizer state: {e}")))?;
        let path = dir.join("optimizer.safetensors");
        crate::checkpoint::write_file_atomically(&path, &bytes)
    }

    /// Read the state written by [`save`](Self::save), placing tensors on `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, TrainError> {
        let path = dir.join("optimizer.safetensors");
        let bytes = std::fs::read(&path).map_err(|e| TrainError::io(&path, e))?;
        let bad = |m: String| TrainError::checkpoint(&path, m);
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let config: OptimizerConfig = serde_json::from_str(
            meta.get("optimizer")
                .ok_or_else(|| bad("no optimizer config in the header".into()))?,
        )
        .map_err(|e| bad(e.to_string()))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
        let mut state = BTreeMap::new();
        for (key, value) in &meta {
            let Some(p) = key.strip_prefix("step.") else {
                continue;
            };
            let step: u64 = value
                .parse()
                .map_err(|_| bad(format!("bad step for {p}")))?;
            let read = |name: &str| -> Result<Option<Tensor<1>>, TrainError> {
                match st.tensor(&format!("{p}.{name}")) {
                    Ok(view) => {
                        let values: Vec<f32> = view
                            .data()
                            .chunks_exact(4)
                            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                            .collect();
                        let n = values.len();
                        Ok(Some(Tensor::from_data(
                            TensorData::new(values, [n]),
                            device,
                        )))
                    }
                    Err(_) => Ok(None),
                }
            };
            state.insert(
                p.to_string(),
                ParamState {
                    step,
                    exp_avg: read("exp_avg")?,
                    exp_avg_sq: read("exp_avg_sq")?,
                    momentum_buffer: read("momentum_buffer")?,
                },
            );
        }
        Ok(Self { config, state })
    }
}
