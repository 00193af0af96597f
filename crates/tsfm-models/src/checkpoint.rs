//! HuggingFace checkpoint directories, shared by every model family.
//!
//! A checkpoint is a directory with `config.json` and `model.safetensors` (or a sharded
//! `model.safetensors.index.json`). It is named either by a local path or by a hub id
//! (`org/name`, optionally `org/name@revision`) that is looked up **offline** in the local
//! HuggingFace cache (`$HF_HUB_CACHE`, `$HF_HOME/hub`, `$XDG_CACHE_HOME/huggingface/hub` or
//! `~/.cache/huggingface/hub`). Pickle checkpoints (`.bin`, `.pt`, `.pth`, `.ckpt`) are never
//! loaded: unpickling can run arbitrary code.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::forecaster::ModelError;

/// File names of a HuggingFace checkpoint directory.
pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const WEIGHTS_INDEX_FILE: &str = "model.safetensors.index.json";

const PICKLE_EXTENSIONS: [&str; 4] = ["bin", "pt", "pth", "ckpt"];

/// Keys `PretrainedConfig` (transformers 4.x and 5.x) writes for every model: metadata only.
pub const HF_GENERIC_KEYS: &[&str] = &[
    "architectures",
    "model_type",
    "transformers_version",
    "dtype",
    "torch_dtype",
    "_name_or_path",
    "return_dict",
    "output_hidden_states",
    "output_attentions",
    "torchscript",
    "use_bfloat16",
    "pruned_heads",
    "tie_word_embeddings",
    "chunk_size_feed_forward",
    "is_encoder_decoder",
    "is_decoder",
    "add_cross_attention",
    "tie_encoder_decoder",
    "id2label",
    "label2id",
    "problem_type",
    "tokenizer_class",
    "prefix",
    "bos_token_id",
    "pad_token_id",
    "eos_token_id",
    "sep_token_id",
    "decoder_start_token_id",
    "task_specific_params",
    "finetuning_task",
    "cross_attention_hidden_size",
    "_attn_implementation_autoset",
    "_commit_hash",
    "max_length",
    "min_length",
    "do_sample",
    "early_stopping",
    "num_beams",
    "num_beam_groups",
    "diversity_penalty",
    "temperature",
    "top_k",
    "top_p",
    "typical_p",
    "repetition_penalty",
    "length_penalty",
    "no_repeat_ngram_size",
    "encoder_no_repeat_ngram_size",
    "bad_words_ids",
    "num_return_sequences",
    "output_scores",
    "return_dict_in_generate",
    "forced_bos_token_id",
    "forced_eos_token_id",
    "remove_invalid_values",
    "exponential_decay_length_penalty",
    "suppress_tokens",
    "begin_suppress_tokens",
    "tf_legacy_loss",
];

/// A tensor on the host, row-major `f32` (checkpoints in f16/bf16/f64 are converted on load).
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl HostTensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Self { shape, data }
    }

    /// The transpose of a 2-d tensor (PyTorch `Linear` stores `[out, in]`, Burn `[in, out]`).
    pub fn transposed_2d(&self) -> Self {
        assert_eq!(self.shape.len(), 2, "transposed_2d needs a 2-d tensor");
        let (rows, cols) = (self.shape[0], self.shape[1]);
        let mut out = vec![0.0f32; self.data.len()];
        for r in 0..rows {
            for c in 0..cols {
                out[c * rows + r] = self.data[r * cols + c];
            }
        }
        Self::new(vec![cols, rows], out)
    }
}

/// Tensors by name, sorted (deterministic iteration and files).
pub type TensorMap = BTreeMap<String, HostTensor>;

fn checkpoint_err(path: &Path, message: impl Into<String>) -> ModelError {
    ModelError::Checkpoint {
        path: path.display().to_string(),
        message: message.into(),
    }
}

fn io_err(path: &Path, source: std::io::Error) -> ModelError {
    ModelError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The HuggingFace hub cache directory from the environment (no network, no existence check).
pub fn default_hf_cache_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = env("HF_HUB_CACHE") {
        return Some(p);
    }
    if let Some(p) = env("HF_HOME") {
        return Some(p.join("hub"));
    }
    if let Some(p) = env("XDG_CACHE_HOME") {
        return Some(p.join("huggingface").join("hub"));
    }
    env("HOME").map(|h| h.join(".cache").join("huggingface").join("hub"))
}

/// Resolves a local checkpoint directory or a hub id (`org/name` or `org/name@revision`) using
/// the default HuggingFace cache. See [`resolve_checkpoint_in`].
pub fn resolve_checkpoint(spec: &str) -> Result<PathBuf, ModelError> {
    resolve_checkpoint_in(spec, None, default_hf_cache_dir().as_deref())
}

/// Resolves `spec` to a checkpoint directory holding `config.json` (or a PEFT adapter
/// directory holding `adapter_config.json`).
///
/// - an existing directory is used as is;
/// - otherwise `org/name[@revision]` is looked up in `cache_dir`:
///   `models--org--name/refs/<revision>` holds a commit hash whose snapshot is
///   `models--org--name/snapshots/<hash>/`; a 40-hex revision names the snapshot directly.
///   `revision` (argument) wins over `@revision`; the default is `main`.
///
/// Errors say what was looked for and how to get it (download with `huggingface-cli`).
pub fn resolve_checkpoint_in(
    spec: &str,
    revision: Option<&str>,
    cache_dir: Option<&Path>,
) -> Result<PathBuf, ModelError> {
    let local = Path::new(spec);
    if local.is_dir() {
        ensure_config(local)?;
        return Ok(local.to_path_buf());
    }
    let (repo, at_rev) = match spec.split_once('@') {
        Some((r, v)) => (r, Some(v)),
        None => (spec, None),
    };
    let parts: Vec<&str> = repo.split('/').collect();
    let is_hub_id = parts.len() == 2 && parts.iter().all(|p| !p.is_empty() && !p.contains('\\'));
    if !is_hub_id {
        return Err(checkpoint_err(
            local,
            "not a directory and not a hub id of the form org/name[@revision]",
        ));
    }
    let revision = revision.or(at_rev).unwrap_or("main");
    let Some(cache) = cache_dir else {
        return Err(checkpoint_err(
            local,
            "no HuggingFace cache directory (set HF_HOME or HF_HUB_CACHE)",
        ));
    };
    let repo_dir = cache.join(format!("models--{}--{}", parts[0], parts[1]));
    let download_hint = format!(
        "download it first (online), e.g. `huggingface-cli download {repo} --revision {revision}`"
    );
    if !repo_dir.is_dir() {
        return Err(checkpoint_err(
            &repo_dir,
            format!("{repo} is not in the local HuggingFace cache; {download_hint}"),
        ));
    }
    let is_commit = revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit());
    let commit = if is_commit {
        revision.to_string()
    } else {
        let ref_file = repo_dir.join("refs").join(revision);
        match fs::read_to_string(&ref_file) {
            Ok(s) => s.trim().to_string(),
            Err(_) => {
                return Err(checkpoint_err(
                    &ref_file,
                    format!(
                        "revision `{revision}` of {repo} is not in the local cache; {download_hint}"
                    ),
                ));
            }
        }
    };
    let snapshot = repo_dir.join("snapshots").join(&commit);
    if !snapshot.is_dir() {
        return Err(checkpoint_err(
            &snapshot,
            format!("snapshot {commit} of {repo} is missing from the cache; {download_hint}"),
        ));
    }
    ensure_config(&snapshot)?;
    Ok(snapshot)
}

/// A checkpoint directory has `config.json`, or is a PEFT adapter (`adapter_config.json`).
fn ensure_config(dir: &Path) -> Result<(), ModelError> {
    let cfg = dir.join(CONFIG_FILE);
    if cfg.is_file() || crate::lora::is_adapter_dir(dir) || is_bare_timesfm(dir) {
        Ok(())
    } else {
        Err(checkpoint_err(
            &cfg,
            "missing: a checkpoint directory needs config.json and model.safetensors (or, for \
             a LoRA adapter, adapter_config.json and adapter_model.safetensors)",
        ))
    }
}

/// Reads `config.json` of a checkpoint directory as a JSON object.
pub fn read_config_json(
    dir: &Path,
) -> Result<serde_json::Map<String, serde_json::Value>, ModelError> {
    let path = dir.join(CONFIG_FILE);
    let text = fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        checkpoint_err(
            &path,
            format!(
                "invalid JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
        )
    })?;
    match value {
        serde_json::Value::Object(m) => Ok(m),
        _ => Err(checkpoint_err(
            &path,
            "expected a JSON object at the top level",
        )),
    }
}

/// The model family of a checkpoint directory, from `config.json`: `ttm`, `chronos`,
/// `chronos_bolt`, `chronos2` or `timesfm`.
pub fn detect_model_type(dir: &Path) -> Result<String, ModelError> {
    let path = dir.join(CONFIG_FILE);
    if !path.is_file() && is_bare_timesfm(dir) {
        return Ok("timesfm".into());
    }
    let cfg = read_config_json(dir)?;
    let model_type = cfg.get("model_type").and_then(|v| v.as_str()).unwrap_or("");
    match model_type {
        "tinytimemixer" => Ok("ttm".into()),
        "t5" if is_chronos(&cfg) => chronos_family(&cfg, &path).map(String::from),
        "timesfm_2p5" | "timesfm2_5" => Ok("timesfm".into()),
        "timesfm" => Err(checkpoint_err(
            &path,
            "is a TimesFM 1.0/2.0 checkpoint (model_type `timesfm`); tsfm runs TimesFM 2.5 \
             (`timesfm_2p5`, or the transformers port's `timesfm2_5`)",
        )),
        "" if is_bare_timesfm(dir) => Ok("timesfm".into()),
        "" => Err(checkpoint_err(
            &path,
            "no `model_type` key; cannot tell which model this is",
        )),
        other => Err(checkpoint_err(
            &path,
            format!(
                "model_type `{other}` is not supported (supported: tinytimemixer, t5 with chronos_config, timesfm)"
            ),
        )),
    }
}

/// The official TimesFM 2.5 checkpoint layout: a `model.safetensors` with the module's tensor
/// names and no (or an empty) `config.json`. Only the file's header is read.
pub fn is_bare_timesfm(dir: &Path) -> bool {
    safetensors_names(&dir.join(WEIGHTS_FILE))
        .is_some_and(|names| names.iter().any(|n| n.starts_with("stacked_xf.0.attn.")))
}

/// The tensor names in a safetensors file's header (`None` if it cannot be read or is not
/// one); a header over 100 MB is refused before it is read.
fn safetensors_names(path: &Path) -> Option<Vec<String>> {
    use std::io::Read;
    let mut file = fs::File::open(path).ok()?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len).ok()?;
    let len = u64::from_le_bytes(len);
    if len > 100 << 20 {
        return None;
    }
    let mut header = vec![0u8; len as usize];
    file.read_exact(&mut header).ok()?;
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header).ok()?;
    Some(
        map.into_iter()
            .map(|(k, _)| k)
            .filter(|k| k != "__metadata__")
            .collect(),
    )
}

/// chronos-forecasting accepts a config with either key (`BaseChronosPipeline.from_pretrained`).
fn is_chronos(cfg: &serde_json::Map<String, serde_json::Value>) -> bool {
    cfg.contains_key("chronos_config") || cfg.contains_key("chronos_pipeline_class")
}

/// Which Chronos pipeline a T5 config is for: `chronos_pipeline_class` when present (the
/// package's own rule, default `ChronosPipeline`), else what the architecture and
/// `chronos_config` keys say.
fn chronos_family(
    cfg: &serde_json::Map<String, serde_json::Value>,
    path: &Path,
) -> Result<&'static str, ModelError> {
    let architectures: Vec<&str> = cfg
        .get("architectures")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    let arch = |name: &str| architectures.iter().any(|a| a.contains(name));
    let patched = cfg
        .get("chronos_config")
        .and_then(|v| v.as_object())
        .is_some_and(|c| c.contains_key("input_patch_size"));
    match cfg.get("chronos_pipeline_class").and_then(|v| v.as_str()) {
        Some("ChronosPipeline") => Ok("chronos"),
        Some("ChronosBoltPipeline") => Ok("chronos_bolt"),
        Some("Chronos2Pipeline") => Ok("chronos2"),
        Some(other) => Err(checkpoint_err(
            path,
            format!(
                "chronos_pipeline_class `{other}` is not a Chronos pipeline (ChronosPipeline, ChronosBoltPipeline, Chronos2Pipeline)"
            ),
        )),
        None if arch("Chronos2") => Ok("chronos2"),
        None if arch("ChronosBolt") || patched => Ok("chronos_bolt"),
        None => Ok("chronos"),
    }
}

/// Refuses pickle checkpoints and reports a missing weights file.
fn weights_missing_error(dir: &Path) -> ModelError {
    let mut pickles = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| PICKLE_EXTENSIONS.contains(&x))
            {
                pickles.push(
                    p.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    pickles.sort();
    if pickles.is_empty() {
        checkpoint_err(
            &dir.join(WEIGHTS_FILE),
            "missing: no safetensors weights in this checkpoint",
        )
    } else {
        checkpoint_err(
            dir,
            format!(
                "only pickle weights found ({}); pickle files can execute code and are never loaded. \
                 Convert them to safetensors, e.g. in Python: \
                 `model = AutoModel.from_pretrained(dir); model.save_pretrained(dir, safe_serialization=True)`",
                pickles.join(", ")
            ),
        )
    }
}

/// Loads every tensor of a checkpoint directory (single file or sharded index) as `f32`.
pub fn load_checkpoint_tensors(dir: &Path) -> Result<TensorMap, ModelError> {
    let single = dir.join(WEIGHTS_FILE);
    if single.is_file() {
        return load_safetensors(&single);
    }
    let index = dir.join(WEIGHTS_INDEX_FILE);
    if index.is_file() {
        let text = fs::read_to_string(&index).map_err(|e| io_err(&index, e))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| checkpoint_err(&index, format!("invalid JSON: {e}")))?;
        let map = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| checkpoint_err(&index, "no `weight_map` object"))?;
        let mut files: Vec<&str> = map.values().filter_map(|f| f.as_str()).collect();
        files.sort();
        files.dedup();
        let mut all = TensorMap::new();
        for f in files {
            all.extend(load_safetensors(&dir.join(f))?);
        }
        return Ok(all);
    }
    Err(weights_missing_error(dir))
}

/// Reads one `.safetensors` file, converting every float tensor to `f32`.
pub fn load_safetensors(path: &Path) -> Result<TensorMap, ModelError> {
    if path
        .extension()
        .and_then(|x| x.to_str())
        .is_some_and(|x| PICKLE_EXTENSIONS.contains(&x))
    {
        return Err(checkpoint_err(
            path,
            "pickle weights are never loaded (they can execute code); convert to safetensors",
        ));
    }
    check_safetensors_header(path)?;
    let bytes = fs::read(path).map_err(|e| io_err(path, e))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| checkpoint_err(path, format!("not a valid safetensors file: {e}")))?;
    let mut out = TensorMap::new();
    for (name, view) in st.tensors() {
        let data = view_to_f32(&view)
            .map_err(|m| checkpoint_err(path, format!("tensor `{name}`: {m}")))?;
        out.insert(name, HostTensor::new(view.shape().to_vec(), data));
    }
    Ok(out)
}

/// The safetensors crate's limit on the JSON header (100 MB): real headers are kilobytes.
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Reads only the 8-byte length prefix and refuses a header larger than safetensors allows, or
/// than the file: a damaged or hostile file is refused before its bytes are read into memory.
fn check_safetensors_header(path: &Path) -> Result<(), ModelError> {
    use std::io::Read;
    let mut file = fs::File::open(path).map_err(|e| io_err(path, e))?;
    let size = file.metadata().map_err(|e| io_err(path, e))?.len();
    let mut prefix = [0u8; 8];
    if file.read_exact(&mut prefix).is_err() {
        return Err(checkpoint_err(
            path,
            format!("not a valid safetensors file: {size} bytes, too short for its header"),
        ));
    }
    let header = u64::from_le_bytes(prefix);
    if header > MAX_HEADER_BYTES || header > size - 8 {
        return Err(checkpoint_err(
            path,
            format!(
                "not a valid safetensors file: its header claims {header} bytes in a file of \
                 {size} (damaged or not a safetensors file); export the weights again"
            ),
        ));
    }
    Ok(())
}

fn view_to_f32(view: &TensorView<'_>) -> Result<Vec<f32>, String> {
    let b = view.data();
    let out = match view.dtype() {
        Dtype::F32 => b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F64 => b
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect(),
        Dtype::BF16 => b
            .chunks_exact(2)
            .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16))
            .collect(),
        Dtype::F16 => b
            .chunks_exact(2)
            .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        other => return Err(format!("dtype {other:?} is not a float type")),
    };
    Ok(out)
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: renormalise the mantissa.
            let mut e = 127 - 15 + 1;
            let mut f = frac;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | ((e as u32) << 23) | ((f & 0x3ff) << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

/// Writes `tensors` as one f32 safetensors file (metadata `format: pt`, like PyTorch) atomically.
pub fn save_safetensors(path: &Path, tensors: &TensorMap) -> Result<(), ModelError> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(n, t)| {
            let mut b = Vec::with_capacity(t.data.len() * 4);
            for v in &t.data {
                b.extend_from_slice(&v.to_le_bytes());
            }
            (n.clone(), b, t.shape.clone())
        })
        .collect();
    let mut views = Vec::with_capacity(bytes.len());
    for (n, b, s) in &bytes {
        let view = TensorView::new(Dtype::F32, s.clone(), b)
            .map_err(|e| checkpoint_err(path, format!("tensor `{n}`: {e}")))?;
        views.push((n.as_str(), view));
    }
    let metadata: HashMap<String, String> = [("format".to_string(), "pt".to_string())].into();
    let buf = safetensors::tensor::serialize(views, Some(metadata))
        .map_err(|e| checkpoint_err(path, format!("cannot serialise: {e}")))?;
    write_atomic(path, &buf)
}

/// Writes a file atomically and durably (see `tsfm_io`), so a crash leaves the old file intact.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    tsfm_io::write_file(path, bytes).map_err(|e| io_err(path, e))
}

/// Writes a checkpoint folder the official packages load: `config.json` (`config`, pretty) and
/// `model.safetensors` (`tensors`, HF names, f32), each atomically.
pub fn save_pretrained_files(
    dir: &Path,
    config: &serde_json::Map<String, serde_json::Value>,
    tensors: &TensorMap,
) -> Result<(), ModelError> {
    std::fs::create_dir_all(dir).map_err(|source| ModelError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let json = serde_json::to_string_pretty(&serde_json::Value::Object(config.clone()))
        .expect("a JSON map serialises");
    save_safetensors(&dir.join(WEIGHTS_FILE), tensors)?;
    write_atomic(&dir.join(CONFIG_FILE), format!("{json}\n").as_bytes())
}

/// One warning per checkpoint tensor of `dir` that no layer read.
pub fn unused_tensor_warnings(dir: &Path, unused: Vec<String>) -> Vec<String> {
    unused
        .into_iter()
        .map(|n| {
            format!(
                "{}: tensor `{n}` is not used by this config (ignored)",
                dir.display()
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_the_file_and_a_failure_names_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("model.safetensors");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
        let missing = tmp.path().join("no-such-dir/model.safetensors");
        let err = write_atomic(&missing, b"x").unwrap_err().to_string();
        assert!(err.contains("no-such-dir/model.safetensors"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn f16_conversion_matches_known_values() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
        assert!(f16_to_f32(0x7c00).is_infinite());
    }

    #[test]
    fn transpose_2d_moves_elements() {
        let t = HostTensor::new(vec![2, 3], vec![1., 2., 3., 4., 5., 6.]);
        let tt = t.transposed_2d();
        assert_eq!(tt.shape, vec![3, 2]);
        assert_eq!(tt.data, vec![1., 4., 2., 5., 3., 6.]);
    }
}
