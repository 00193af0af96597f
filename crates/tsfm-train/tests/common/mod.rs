//! A tiny forecaster and synthetic windows for the trainer tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::Tensor;
use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, TensorData};
use tsfm_models::{
    CheckpointInfo, FinetuneMode, Forecast, ForecastInput, Forecaster, LossKind, ModelError,
    ParamCounts,
};
use tsfm_train::{Control, StepProgress, TrainerCallback, WindowSource};

pub const CONTEXT: usize = 6;
pub const HORIZON: usize = 2;
pub const HIDDEN: usize = 8;

/// Flex keeps one global random generator: tests that draw from it (initialisation, dropout)
/// hold this lock so that parallel tests of the same binary do not interleave draws.
pub static RNG_LOCK: Mutex<()> = Mutex::new(());

pub fn lock() -> std::sync::MutexGuard<'static, ()> {
    RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn device() -> Device {
    Device::flex()
}

/// backbone (Linear + ReLU + dropout) -> head (Linear), one channel.
#[derive(Module, Debug)]
pub struct Tiny {
    pub backbone: Linear,
    pub dropout: Dropout,
    pub head: Linear,
}

impl Tiny {
    pub fn new(device: &Device, seed: u64, dropout: f64) -> Self {
        tsfm_train::set_seed(device, seed);
        let model = Self {
            backbone: LinearConfig::new(CONTEXT, HIDDEN).init(device),
            dropout: DropoutConfig::new(dropout).init(),
            head: LinearConfig::new(HIDDEN, HORIZON).init(device),
        };
        // Burn initialises parameters lazily, at first use: draw them now, under this seed.
        weights(&model);
        model
    }

    fn predict(&self, past: Tensor<3>) -> Tensor<3> {
        let [b, c, _] = past.dims();
        let x = past.reshape([b, c]);
        let h = tsfm_models::nn::dropout(&self.dropout, relu(self.backbone.forward(x)));
        self.head.forward(h).reshape([b, HORIZON, 1])
    }
}

struct Trainable(usize);

impl ModuleVisitor for Trainable {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if param.is_require_grad() {
            self.0 += param.shape().num_elements();
        }
    }
}

impl Forecaster for Tiny {
    fn model_type(&self) -> &'static str {
        "tiny"
    }
    fn context_length(&self) -> usize {
        CONTEXT
    }
    fn prediction_length(&self) -> usize {
        HORIZON
    }
    fn info(&self) -> CheckpointInfo {
        CheckpointInfo {
            model_type: "tiny".into(),
            context_length: CONTEXT,
            prediction_length: HORIZON,
            target_channels: 1,
            past_covariates: 0,
            future_covariates: 0,
            uses_sampling_interval: false,
            quantile_levels: Vec::new(),
            sampling: None,
        }
    }
    fn forecast(&self, input: &ForecastInput) -> Result<Forecast, ModelError> {
        Ok(Forecast {
            point: self.predict(input.past_values.clone()),
            quantile_levels: vec![],
            quantiles: None,
        })
    }
    fn loss(&self, input: &ForecastInput, loss: LossKind) -> Tensor<1> {
        let target = input.future_values.clone().expect("future values");
        let err = self.predict(input.past_values.clone()) - target;
        match loss {
            LossKind::Mse | LossKind::Native => err.square().mean(),
            LossKind::Mae => err.abs().mean(),
            LossKind::Huber { delta } => {
                let a = err.abs();
                let q = a.clone().clamp_max(delta);
                (q.clone().square().mul_scalar(0.5) + (a - q).mul_scalar(delta)).mean()
            }
            LossKind::Quantile => panic!("not supported"),
        }
    }
    fn supports_loss(&self, kind: LossKind) -> bool {
        kind != LossKind::Quantile
    }
    fn apply_finetune_mode(self, mode: FinetuneMode) -> Self {
        match mode {
            FinetuneMode::Full => self,
            FinetuneMode::FrozenBackbone | FinetuneMode::HeadOnly => Self {
                backbone: self.backbone.no_grad(),
                ..self
            },
            FinetuneMode::Lora => tsfm_models::lora::train_adapters_only(self),
        }
    }
    fn param_counts(&self) -> ParamCounts {
        let mut t = Trainable(0);
        self.visit(&mut t);
        ParamCounts {
            total: self.num_params(),
            trainable: t.0,
        }
    }
    fn save_pretrained(&self, dir: &Path) -> Result<(), ModelError> {
        let path = dir.join("config.json");
        std::fs::write(&path, r#"{"model_type": "tiny"}"#).map_err(|source| ModelError::Io {
            path: path.display().to_string(),
            source,
        })
    }
}

/// Every float parameter by module path, as raw values.
pub fn weights<M: Module>(m: &M) -> BTreeMap<String, Vec<f32>> {
    struct V {
        path: Vec<String>,
        out: BTreeMap<String, Vec<f32>>,
    }
    impl ModuleVisitor for V {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.into());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let v = param
                .val()
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .unwrap();
            self.out.insert(self.path.join("."), v);
        }
    }
    let mut v = V {
        path: vec![],
        out: BTreeMap::new(),
    };
    m.visit(&mut v);
    v.out
}

/// Windows of a noisy sine: window `i` starts at `i`.
pub struct Sine {
    pub n: usize,
    /// Target multiplier grows by this much at every `batch` call (0 = fixed data).
    pub drift: f32,
    /// `batch` returns NaN targets from this call on.
    pub nan_from_call: Option<usize>,
    pub calls: AtomicUsize,
}

impl Sine {
    pub fn new(n: usize) -> Self {
        Self {
            n,
            drift: 0.0,
            nan_from_call: None,
            calls: AtomicUsize::new(0),
        }
    }

    fn value(t: usize) -> f32 {
        let t = t as f32;
        (t * 0.7).sin() + 0.1 * (t * 2.3).cos()
    }
}

impl WindowSource for Sine {
    fn len(&self) -> usize {
        self.n
    }
    fn batch(&self, indices: &[usize], device: &Device) -> ForecastInput {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let scale = 1.0 + self.drift * call as f32;
        let nan = self.nan_from_call.is_some_and(|k| call >= k);
        let mut past = Vec::new();
        let mut fut = Vec::new();
        for &i in indices {
            past.extend((i..i + CONTEXT).map(Self::value));
            fut.extend((i + CONTEXT..i + CONTEXT + HORIZON).map(|t| {
                if nan {
                    f32::NAN
                } else {
                    Self::value(t) * scale
                }
            }));
        }
        let b = indices.len();
        let mut input = ForecastInput::context(Tensor::from_data(
            TensorData::new(past, [b, CONTEXT, 1]),
            device,
        ));
        input.future_values = Some(Tensor::from_data(
            TensorData::new(fut, [b, HORIZON, 1]),
            device,
        ));
        input
    }
}

/// Stops training at the end of step `.0` (a run interrupted mid-way, for resume tests).
pub struct StopAt(pub u64);

impl TrainerCallback for StopAt {
    fn on_step_end(&mut self, p: &StepProgress) -> Control {
        if p.global_step == self.0 {
            Control::Stop
        } else {
            Control::Continue
        }
    }
}

/// `windows` windows of a smooth glucose-like wave, `context` past and `horizon` future
/// steps, one channel; window `i` starts at step `i`.
pub struct Waves {
    pub windows: usize,
    pub context: usize,
    pub horizon: usize,
}

impl Waves {
    pub fn value(t: usize) -> f32 {
        let t = t as f32;
        7.0 + 2.0 * (t * 0.21).sin() + 0.6 * (t * 0.83).cos()
    }
}

impl WindowSource for Waves {
    fn len(&self) -> usize {
        self.windows
    }
    fn batch(&self, indices: &[usize], device: &Device) -> ForecastInput {
        let (c, h) = (self.context, self.horizon);
        let (mut past, mut future) = (Vec::new(), Vec::new());
        for &i in indices {
            past.extend((i..i + c).map(Self::value));
            future.extend((i + c..i + c + h).map(Self::value));
        }
        let b = indices.len();
        let mut input =
            ForecastInput::context(Tensor::from_data(TensorData::new(past, [b, c, 1]), device));
        input.future_values = Some(Tensor::from_data(
            TensorData::new(future, [b, h, 1]),
            device,
        ));
        input
    }
}
