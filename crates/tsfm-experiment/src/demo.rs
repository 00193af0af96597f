//! The bundled demo, usable from any folder and after `cargo install`: the demo experiment's
//! data and checkpoint are compiled into the binary and written to the user's cache on first
//! use, so `tsfm train` works wherever it is called, not only from the repository root.
use std::path::{Path, PathBuf};

use tsfm_config::Config;

use crate::error::{Result, io};

/// `data.raw_path` of the shipped demo configs.
pub const DEMO_RAW_PATH: &str = "data/demo/brist1d/train.csv.gz";
/// `model.model_path` of the shipped demo experiments (TTM, Chronos-Bolt, TimesFM, Chronos-2).
pub const DEMO_MODEL_PATHS: &[&str] = &[
    "data/models/ttm-demo",
    "data/models/chronos-bolt-demo",
    "data/models/timesfm-demo",
    "data/models/chronos2-demo",
];

const FILES: &[(&str, &[u8])] = &[
    (
        "data/demo/brist1d/train.csv.gz",
        include_bytes!("../../../data/demo/brist1d/train.csv.gz"),
    ),
    (
        "data/models/ttm-demo/config.json",
        include_bytes!("../../../data/models/ttm-demo/config.json"),
    ),
    (
        "data/models/ttm-demo/model.safetensors",
        include_bytes!("../../../data/models/ttm-demo/model.safetensors"),
    ),
    (
        "data/models/chronos-bolt-demo/config.json",
        include_bytes!("../../../data/models/chronos-bolt-demo/config.json"),
    ),
    (
        "data/models/chronos-bolt-demo/model.safetensors",
        include_bytes!("../../../data/models/chronos-bolt-demo/model.safetensors"),
    ),
    (
        "data/models/timesfm-demo/config.json",
        include_bytes!("../../../data/models/timesfm-demo/config.json"),
    ),
    (
        "data/models/timesfm-demo/model.safetensors",
        include_bytes!("../../../data/models/timesfm-demo/model.safetensors"),
    ),
    (
        "data/models/chronos2-demo/config.json",
        include_bytes!("../../../data/models/chronos2-demo/config.json"),
    ),
    (
        "data/models/chronos2-demo/model.safetensors",
        include_bytes!("../../../data/models/chronos2-demo/model.safetensors"),
    ),
];

/// Where the demo files go: `$TSFM_CACHE_DIR`, else the platform's cache folder
/// (`~/.cache/tsfm` on Linux), in a folder named by this version and the files' size so a
/// newer binary never reads an older copy.
pub fn demo_root() -> Option<PathBuf> {
    let base = std::env::var_os("TSFM_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("tsfm")))?;
    let size: usize = FILES.iter().map(|(_, b)| b.len()).sum();
    Some(base.join(format!("demo-{}-{size}", env!("CARGO_PKG_VERSION"))))
}

/// Point a config's demo paths that do not exist where the user runs at the embedded copies
/// (written on first use). Returns the folder used, if any path was replaced.
pub fn use_embedded_demo(config: &mut Config) -> Result<Option<PathBuf>> {
    let data = config.data.raw_path == DEMO_RAW_PATH && !Path::new(DEMO_RAW_PATH).exists();
    let model_path = config.model.model_path.as_str();
    let model = DEMO_MODEL_PATHS.contains(&model_path) && !Path::new(model_path).exists();
    if !data && !model {
        return Ok(None);
    }
    let Some(root) = demo_root() else {
        return Ok(None);
    };
    write_once(&root)?;
    if data {
        config.data.raw_path = root.join(DEMO_RAW_PATH).display().to_string();
    }
    if model {
        config.model.model_path = root.join(&config.model.model_path).display().to_string();
    }
    Ok(Some(root))
}

/// Write the files into `root` unless a complete copy is there: into a temporary sibling
/// first, then renamed, so a crash or a concurrent first run never leaves half a demo.
fn write_once(root: &Path) -> Result<()> {
    if FILES.iter().all(|(name, bytes)| {
        std::fs::metadata(root.join(name)).is_ok_and(|m| m.len() == bytes.len() as u64)
    }) {
        return Ok(());
    }
    let parent = root.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    let tmp = parent.join(format!(".demo.{}.tmp", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    for (name, bytes) in FILES {
        let path = tmp.join(name);
        let dir = path.parent().expect("files are in folders");
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        tsfm_io::write_file(&path, bytes).map_err(|e| io(&path, e))?;
    }
    // A concurrent first run may have put its copy there already: the same bytes, replaced
    // whole.
    tsfm_io::replace_dir(&tmp, root).map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp);
        io(root, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_files_are_the_repositorys() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for (name, bytes) in FILES {
            assert_eq!(std::fs::read(repo.join(name)).unwrap(), *bytes, "{name}");
        }
    }

    #[test]
    fn written_once_and_complete() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("demo");
        write_once(&root).unwrap();
        for (name, bytes) in FILES {
            assert_eq!(std::fs::read(root.join(name)).unwrap().len(), bytes.len());
        }
        // A second call keeps the copy (and leaves no temporary folder behind).
        write_once(&root).unwrap();
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1);
    }
}
