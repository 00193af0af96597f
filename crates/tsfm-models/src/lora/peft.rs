//! PEFT's adapter directory: `adapter_config.json` + `adapter_model.safetensors`, written so
//! that `PeftModel.from_pretrained(base, dir)` loads it, and read back onto its base checkpoint.
//!
//! Keys are `base_model.model.<module>.lora_A.weight` `[rank, in]` and `...lora_B.weight`
//! `[out, rank]`: `PeftModel.base_model` is the LoRA tuner, whose `.model` is the wrapped HF
//! model, whose module names are the HF tensor names without `.weight`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use burn::Tensor;
use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, TensorData};
use serde_json::{Map, Value, json};

use super::config::{ALL_LINEAR, LoraConfig, TargetModules};
use crate::any::{LoadOptions, LoadedForecaster, load_forecaster_in_with};
use crate::checkpoint::{self, TensorMap};
use crate::forecaster::ModelError;
use crate::nn::weights::{HfPath, hf_tensors_unmerged};

pub const ADAPTER_CONFIG_FILE: &str = "adapter_config.json";
pub const ADAPTER_WEIGHTS_FILE: &str = "adapter_model.safetensors";
const KEY_PREFIX: &str = "base_model.model.";

/// Whether `dir` is an adapter directory: `adapter_config.json` and no `config.json` (a
/// directory with both is an ordinary checkpoint, as for `from_pretrained`).
pub fn is_adapter_dir(dir: &Path) -> bool {
    dir.join(ADAPTER_CONFIG_FILE).is_file() && !dir.join(checkpoint::CONFIG_FILE).is_file()
}

fn is_factor(name: &str) -> bool {
    name.ends_with(".lora_A.weight") || name.ends_with(".lora_B.weight")
}

/// The adapter factors of `model` under PEFT's keys, `[rank, in]` / `[out, rank]`.
pub fn adapter_tensors<M: Module>(model: &M) -> TensorMap {
    hf_tensors_unmerged(model)
        .into_iter()
        .filter(|(name, _)| is_factor(name))
        .map(|(name, t)| (format!("{KEY_PREFIX}{name}"), t))
        .collect()
}

/// Writes `model`'s adapters as a PEFT LoRA adapter of the checkpoint `base_model` (a
/// directory, made absolute here, or a hub id `org/name[@revision]`). `config` is the one the
/// model was loaded with; `model_type` resolves its default targets. A `config.json` or
/// `model.safetensors` left in `dir` is removed: the directory must read as an adapter.
pub fn save_adapter<M: Module>(
    model: &M,
    config: &LoraConfig,
    model_type: &str,
    base_model: &str,
    dir: &Path,
) -> Result<(), ModelError> {
    let tensors = adapter_tensors(model);
    if tensors.is_empty() {
        return Err(ModelError::Invalid(
            "the model carries no LoRA adapters to save; load it with LoRA first".into(),
        ));
    }
    let io = |path: &Path, source| ModelError::Io {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    for stale in [checkpoint::CONFIG_FILE, checkpoint::WEIGHTS_FILE] {
        let path = dir.join(stale);
        if path.is_file() {
            std::fs::remove_file(&path).map_err(|e| io(&path, e))?;
        }
    }
    let adapted: Vec<&str> = tensors
        .keys()
        .filter_map(|k| k.strip_prefix(KEY_PREFIX)?.strip_suffix(".lora_A.weight"))
        .collect();
    let target_modules = match config.resolved_targets(model_type) {
        TargetModules::Names(names) => json!(names),
        // PEFT itself writes `all-linear` out as the layers it chose.
        TargetModules::Pattern(p) if p.eq_ignore_ascii_case(ALL_LINEAR) => json!(adapted),
        TargetModules::Pattern(p) => json!(p),
        TargetModules::Default => unreachable!("resolved"),
    };
    let (base, revision) = base_reference(base_model);
    let adapter_config = json!({
        "peft_type": "LORA",
        "task_type": null,
        "base_model_name_or_path": base,
        "revision": revision,
        "r": config.rank,
        "lora_alpha": config.alpha,
        "lora_dropout": config.dropout,
        "use_rslora": config.use_rslora,
        "target_modules": target_modules,
        "bias": "none",
        "fan_in_fan_out": false,
        "inference_mode": true,
        "init_lora_weights": true,
        "modules_to_save": null,
        "layers_to_transform": null,
        "layers_pattern": null,
        "rank_pattern": {},
        "alpha_pattern": {},
        "use_dora": false,
        "auto_mapping": auto_mapping(model_type),
    });
    checkpoint::save_safetensors(&dir.join(ADAPTER_WEIGHTS_FILE), &tensors)?;
    let text = serde_json::to_string_pretty(&adapter_config).expect("json");
    checkpoint::write_atomic(
        &dir.join(ADAPTER_CONFIG_FILE),
        format!("{text}\n").as_bytes(),
    )
}

/// PEFT's `auto_mapping`: the class `AutoPeftModel.from_pretrained` builds the base model with
/// when `task_type` is null. `Chronos2Pipeline.from_pretrained` on an adapter directory goes
/// through `AutoPeftModel`, which fails without it; PEFT writes it for `Chronos2Model` itself.
/// The other families' package pipelines do not load adapter directories.
fn auto_mapping(model_type: &str) -> Value {
    match model_type {
        "chronos2" => json!({
            "base_model_class": "Chronos2Model",
            "parent_library": "chronos.chronos2.model",
        }),
        _ => Value::Null,
    }
}

/// `base_model_name_or_path` and `revision` for a checkpoint spec.
fn base_reference(spec: &str) -> (String, Option<String>) {
    let path = Path::new(spec);
    if path.is_dir() {
        let absolute = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        return (absolute.display().to_string(), None);
    }
    match spec.split_once('@') {
        Some((repo, rev)) => (repo.to_string(), Some(rev.to_string())),
        None => (spec.to_string(), None),
    }
}

/// What an adapter directory says.
#[derive(Debug, Clone)]
pub struct AdapterDir {
    pub dir: PathBuf,
    pub lora: LoraConfig,
    pub base_model: String,
    pub revision: Option<String>,
}

impl AdapterDir {
    /// Reads `adapter_config.json`, refusing what tsfm cannot apply faithfully (other PEFT
    /// methods, trained biases, DoRA, per-layer ranks, extra trained modules).
    pub fn read(dir: &Path) -> Result<Self, ModelError> {
        let path = dir.join(ADAPTER_CONFIG_FILE);
        let bad = |message: String| ModelError::Checkpoint {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let cfg: Map<String, Value> =
            serde_json::from_str(&text).map_err(|e| bad(format!("invalid JSON: {e}")))?;
        let get = |k: &str| cfg.get(k).filter(|v| !v.is_null());
        let peft_type = get("peft_type").and_then(Value::as_str).unwrap_or("");
        if peft_type != "LORA" {
            return Err(bad(format!(
                "peft_type `{peft_type}`: only LoRA adapters (LORA) can be loaded"
            )));
        }
        let unsupported = [
            ("bias", get("bias").is_some_and(|b| b != "none")),
            (
                "fan_in_fan_out",
                get("fan_in_fan_out") == Some(&Value::Bool(true)),
            ),
            ("use_dora", get("use_dora") == Some(&Value::Bool(true))),
            (
                "modules_to_save",
                get("modules_to_save").is_some_and(not_empty),
            ),
            ("rank_pattern", get("rank_pattern").is_some_and(not_empty)),
            ("alpha_pattern", get("alpha_pattern").is_some_and(not_empty)),
            ("layers_to_transform", get("layers_to_transform").is_some()),
        ];
        if let Some((key, _)) = unsupported.iter().find(|(_, set)| *set) {
            return Err(bad(format!(
                "`{key}` is set; tsfm loads plain LoRA adapters only (bias none, no DoRA, one \
                 rank and alpha for every layer, no extra trained modules)"
            )));
        }
        let number = |k: &str| get(k).and_then(Value::as_f64);
        let rank = get("r").and_then(Value::as_u64).filter(|&r| r > 0);
        let (Some(rank), Some(alpha)) = (rank, number("lora_alpha")) else {
            return Err(bad("needs `r` > 0 and `lora_alpha`".into()));
        };
        let target_modules = match get("target_modules") {
            Some(Value::String(p)) => TargetModules::Pattern(p.clone()),
            Some(Value::Array(items)) => TargetModules::Names(
                items
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<_>>()
                    .ok_or_else(|| bad("`target_modules` must list strings".into()))?,
            ),
            _ => {
                return Err(bad(
                    "needs `target_modules` (a list of names or a regex)".into()
                ));
            }
        };
        let dropout = number("lora_dropout").unwrap_or(0.0);
        if !(0.0..1.0).contains(&dropout) {
            return Err(bad(format!("`lora_dropout` {dropout} is outside [0, 1)")));
        }
        let base_model = get("base_model_name_or_path")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("needs `base_model_name_or_path`: the checkpoint it adapts".into()))?
            .to_string();
        Ok(Self {
            dir: dir.to_path_buf(),
            lora: LoraConfig {
                rank: rank as usize,
                alpha,
                dropout,
                target_modules,
                use_rslora: get("use_rslora") == Some(&Value::Bool(true)),
                seed: 0,
            },
            base_model,
            revision: get("revision").and_then(Value::as_str).map(str::to_string),
        })
    }

    /// The base checkpoint directory: the spec as it is (a directory, or a hub id in the
    /// local cache), else a path relative to the adapter directory.
    pub fn base_dir(&self) -> Result<PathBuf, ModelError> {
        let spec = match &self.revision {
            Some(rev) if !self.base_model.contains('@') => format!("{}@{rev}", self.base_model),
            _ => self.base_model.clone(),
        };
        let beside = self.dir.join(&self.base_model);
        if Path::new(&self.base_model).is_relative() && beside.is_dir() {
            return checkpoint::resolve_checkpoint(&beside.display().to_string());
        }
        checkpoint::resolve_checkpoint(&spec).map_err(|e| ModelError::Checkpoint {
            path: self.dir.join(ADAPTER_CONFIG_FILE).display().to_string(),
            message: format!("its base model `{spec}` (base_model_name_or_path): {e}"),
        })
    }
}

fn not_empty(v: &Value) -> bool {
    match v {
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// The base checkpoint with the adapter of `dir` attached (unmerged, as `PeftModel` keeps it).
pub fn load_adapter_dir(
    dir: &Path,
    device: &Device,
    base_options: &LoadOptions,
) -> Result<LoadedForecaster, ModelError> {
    let adapter = AdapterDir::read(dir)?;
    let base = adapter.base_dir()?;
    if is_adapter_dir(&base) {
        return Err(ModelError::Checkpoint {
            path: dir.join(ADAPTER_CONFIG_FILE).display().to_string(),
            message: format!(
                "its base model {} is itself an adapter; name the checkpoint it adapts",
                base.display()
            ),
        });
    }
    let options = LoadOptions {
        lora: Some(adapter.lora.clone()),
        ..base_options.clone()
    };
    let mut loaded = load_forecaster_in_with(&base, device, &options)?;
    let weights = dir.join(ADAPTER_WEIGHTS_FILE);
    let tensors = checkpoint::load_safetensors(&weights)?;
    loaded.model = set_factors(loaded.model, tensors, &weights)?;
    Ok(loaded)
}

/// Replaces every adapter factor of `model` by its tensor in `tensors` (PEFT keys); a factor
/// without a tensor, a tensor without a factor or a shape mismatch is an error naming them.
fn set_factors<M: Module>(model: M, tensors: TensorMap, file: &Path) -> Result<M, ModelError> {
    struct SetFactors {
        path: HfPath,
        tensors: TensorMap,
        used: BTreeSet<String>,
        problems: Vec<String>,
    }
    impl ModuleMapper for SetFactors {
        fn enter_module(&mut self, name: &str, container_type: &str) {
            self.path.enter(name, container_type);
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.exit();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (name, transposed) = self.path.name();
            if !is_factor(&name) {
                return param;
            }
            let key = format!("{KEY_PREFIX}{name}");
            let Some(t) = self.tensors.get(&key) else {
                self.problems.push(format!("`{key}` is missing"));
                return param;
            };
            self.used.insert(key.clone());
            let mut expected = param.lazy_shape().to_vec();
            if transposed {
                expected.reverse();
            }
            if t.shape != expected {
                self.problems.push(format!(
                    "`{key}` has shape {:?}, the layer needs {expected:?}",
                    t.shape
                ));
                return param;
            }
            let t = if transposed {
                t.transposed_2d()
            } else {
                t.clone()
            };
            param.map(|old| Tensor::from_data(TensorData::new(t.data, t.shape), &old.device()))
        }
    }
    let mut mapper = SetFactors {
        path: HfPath::default(),
        tensors,
        used: BTreeSet::new(),
        problems: Vec::new(),
    };
    let model = model.map(&mut mapper);
    let unused: Vec<String> = mapper
        .tensors
        .keys()
        .filter(|k| !mapper.used.contains(*k))
        .map(|k| format!("`{k}` belongs to no adapted layer"))
        .collect();
    mapper.problems.extend(unused.into_iter().take(5));
    if mapper.problems.is_empty() {
        return Ok(model);
    }
    Err(ModelError::Checkpoint {
        path: file.display().to_string(),
        message: format!(
            "does not fit the adapters adapter_config.json describes: {}",
            mapper.problems.join("; ")
        ),
    })
}
