//! The fuzz targets: each writes the input where the real program would read it and calls
//! the same library function `tsfm` calls. A target returns `Err(message)` when the input is
//! refused, which is the expected outcome for most mutated inputs; what is never allowed is a
//! panic, a hang, or an allocation the input's size does not justify (the campaign runner
//! watches for those).
use std::path::{Path, PathBuf};

use tsfm_data::sources::{self, SourceKind, SourceOptions};
use tsfm_experiment::predict::options::{DecodingFlags, Sampling};
use tsfm_experiment::predict::{PredictModel, PredictRequest, predict};

/// Every target, by name.
pub const TARGETS: &[&str] = &[
    "bris_t1d",
    "aleppo",
    "long_csv",
    "parquet",
    "config_yaml",
    "set_override",
    "model_config",
    "safetensors",
    "predict_input",
];

/// A scratch folder with copies of the bundled checkpoints, where every input is written.
pub struct Workspace {
    dir: tempfile::TempDir,
    models: PathBuf,
}

/// REPLACE-BG tables and a column only that table's header has.
const ALEPPO_TABLES: &[(&str, &str)] = &[
    ("HDeviceCGM.txt", "GlucoseValue"),
    ("HDeviceBolus.txt", "BolusType"),
    ("HDeviceBasal.txt", "BasalType"),
    ("HDeviceWizard.txt", "RecommendedCarb"),
    ("HDeviceUploads.txt", "DeviceManufact"),
];

/// The checkpoints a model target can load, as folder names under `data/models`.
const MODELS: &[&str] = &[
    "ttm-tiny",
    "chronos2-demo",
    "timesfm-demo",
    "chronos-bolt-demo",
];

impl Workspace {
    /// `models`: the repository's `data/models`.
    pub fn new(models: &Path) -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        for m in MODELS {
            let to = dir.path().join("models").join(m);
            std::fs::create_dir_all(&to)?;
            for f in ["config.json", "model.safetensors"] {
                std::fs::copy(models.join(m).join(f), to.join(f))?;
            }
        }
        // The REPLACE-BG tables, a short CGM table among them: the aleppo target replaces
        // one table at a time.
        let tables = models.join("../demo/aleppo/Data Tables");
        let aleppo = dir.path().join("aleppo");
        std::fs::create_dir_all(&aleppo)?;
        for f in ALEPPO_TABLES.iter().map(|(f, _)| f) {
            let text = std::fs::read_to_string(tables.join(f))?;
            let short: String = text.lines().take(600).map(|l| format!("{l}\n")).collect();
            std::fs::write(aleppo.join(f), short)?;
        }
        Ok(Workspace {
            models: models.to_path_buf(),
            dir,
        })
    }

    /// Writes `bytes` over the REPLACE-BG table its header names (the CGM table by default)
    /// and returns the folder; the other tables are the demo's.
    fn aleppo_with(&self, bytes: &[u8]) -> Result<PathBuf, String> {
        let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        let header = String::from_utf8_lossy(first_line);
        let table = ALEPPO_TABLES
            .iter()
            .find(|(_, column)| header.contains(column))
            .map_or("HDeviceCGM.txt", |(f, _)| f);
        let dir = self.path("aleppo");
        let original = self.path("aleppo-original");
        if !original.exists() {
            std::fs::create_dir_all(&original).map_err(|e| e.to_string())?;
            for (f, _) in ALEPPO_TABLES {
                std::fs::copy(dir.join(f), original.join(f)).map_err(|e| e.to_string())?;
            }
        }
        for (f, _) in ALEPPO_TABLES {
            std::fs::copy(original.join(f), dir.join(f)).map_err(|e| e.to_string())?;
        }
        std::fs::write(dir.join(table), bytes).map_err(|e| e.to_string())?;
        Ok(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, String> {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
        Ok(path)
    }

    /// A checkpoint folder holding `file` = `bytes` and the bundled model's other file; the
    /// family is the one the input names (a config or header mentions it), else TTM.
    fn checkpoint_with(&self, file: &str, bytes: &[u8]) -> Result<PathBuf, String> {
        let text = String::from_utf8_lossy(bytes).to_ascii_lowercase();
        let family = if text.contains("chronos2") {
            "chronos2-demo"
        } else if text.contains("timesfm") {
            "timesfm-demo"
        } else if text.contains("bolt") || text.contains("t5") {
            "chronos-bolt-demo"
        } else {
            "ttm-tiny"
        };
        let dir = self.path(&format!("checkpoint-{family}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        for f in ["config.json", "model.safetensors"] {
            std::fs::copy(self.models.join(family).join(f), dir.join(f))
                .map_err(|e| e.to_string())?;
        }
        std::fs::write(dir.join(file), bytes).map_err(|e| e.to_string())?;
        Ok(dir)
    }
}

/// Runs target `name` on `bytes`.
pub fn run(name: &str, ws: &Workspace, bytes: &[u8]) -> Result<(), String> {
    match name {
        "bris_t1d" => source(SourceKind::BrisT1d, ws.write("bris/train.csv", bytes)?),
        "aleppo" => source(SourceKind::Aleppo, ws.aleppo_with(bytes)?),
        "long_csv" => source(SourceKind::Csv, ws.write("long/input.csv", bytes)?),
        "parquet" => source(SourceKind::Parquet, ws.write("long/input.parquet", bytes)?),
        "config_yaml" => config_yaml(ws, bytes),
        "set_override" => set_override(bytes),
        "model_config" => forecast_with(ws, ws.checkpoint_with("config.json", bytes)?),
        "safetensors" => forecast_with(ws, ws.checkpoint_with("model.safetensors", bytes)?),
        "predict_input" => predict_input(ws, bytes),
        other => Err(format!(
            "no fuzz target `{other}`; targets: {}",
            TARGETS.join(", ")
        )),
    }
}

fn source(kind: SourceKind, path: PathBuf) -> Result<(), String> {
    let mut opts = SourceOptions::new(kind, path);
    if matches!(kind, SourceKind::Csv | SourceKind::Parquet) {
        opts.target_columns = vec!["value".into()];
        opts.covariate_columns = Some(vec!["x".into()]);
    }
    sources::load(&opts).map(drop).map_err(|e| e.to_string())
}

fn config_yaml(ws: &Workspace, bytes: &[u8]) -> Result<(), String> {
    let root = ws.path("configs");
    let file = ws.write("configs/experiments/fuzz.yaml", bytes)?;
    let resolved = tsfm_config::load(Some(&root), Some(&file), &[]).map_err(|e| e.to_string())?;
    resolved.config.validate().map_err(|e| e.to_string())?;
    // The resolved config prints and reads back (what a run's config.yaml relies on).
    let _ = resolved.to_yaml();
    Ok(())
}

fn set_override(bytes: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(bytes);
    let o = tsfm_config::Override::parse_set(&text).map_err(|e| e.to_string())?;
    let resolved = tsfm_config::load(None, None, &[o]).map_err(|e| e.to_string())?;
    resolved.config.validate().map_err(|e| e.to_string())
}

/// A fixed, valid input: two series of 40 readings.
fn small_input() -> Vec<u8> {
    let mut s = String::from("id,timestamp,value\n");
    for id in ["a", "b"] {
        for t in 0..40 {
            let v = 6.0 + (t as f64 / 5.0).sin();
            s.push_str(&format!(
                "{id},2024-01-01 {:02}:{:02}:00,{v:.3}\n",
                t / 12,
                (t % 12) * 5
            ));
        }
    }
    s.into_bytes()
}

/// The fixed input through `checkpoint`, with quantiles when its family has them (TTM gives
/// point forecasts only, and refuses quantiles without a run's calibration).
fn forecast_with(ws: &Workspace, checkpoint: PathBuf) -> Result<(), String> {
    let input = ws.write("predict/input.csv", &small_input())?;
    let point_only = checkpoint.ends_with("checkpoint-ttm-tiny");
    let levels: &[f64] = if point_only { &[] } else { &[0.1, 0.5, 0.9] };
    run_predict(ws, checkpoint, input, levels)
}

fn predict_input(ws: &Workspace, bytes: &[u8]) -> Result<(), String> {
    let input = ws.write("predict/input.csv", bytes)?;
    run_predict(ws, ws.path("models/ttm-tiny"), input, &[])
}

fn run_predict(
    ws: &Workspace,
    checkpoint: PathBuf,
    input: PathBuf,
    levels: &[f64],
) -> Result<(), String> {
    let flags = DecodingFlags {
        decoding: None,
        num_samples: None,
        temperature: None,
        top_k: None,
        top_p: None,
        seed: None,
    };
    let request = PredictRequest {
        input,
        output: ws.path("predict/out.csv"),
        horizon: None,
        sampling: Sampling::parse(levels, &flags).map_err(|e| e.to_string())?,
        batch_size: 16,
        timesfm: Default::default(),
        target: None,
        unit: None,
    };
    let model = PredictModel::Checkpoint {
        spec: checkpoint.display().to_string(),
        device: tsfm_config::Device::Cpu,
    };
    let mut events = tsfm_experiment::events::Collected::default();
    predict(model, &request, &mut events)
        .map(drop)
        .map_err(|e| e.to_string())
}
