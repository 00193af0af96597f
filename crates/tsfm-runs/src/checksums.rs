//! `checksums.json`: the size and SHA-256 of every file of a folder, so that a copy that was
//! damaged after it was written (a truncated file, a changed weight) is found before it is used.
//! The format is the one checkpoints carry (`{file: {"bytes": n, "sha256": hex}}`), with paths
//! relative to the folder and `/`-separated so a nested `model/` folder is covered too.
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::RunsError;

pub const CHECKSUMS_FILE: &str = "checksums.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSum {
    pub bytes: u64,
    pub sha256: String,
}

/// Size and SHA-256 (hex) of a file, read in chunks.
pub fn digest(path: &Path) -> Result<FileSum, RunsError> {
    use sha2::Digest;
    let mut file = std::fs::File::open(path).map_err(RunsError::io(path))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(RunsError::io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    let sha256 = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(FileSum { bytes, sha256 })
}

/// Every file under `dir` (recursively, hidden ones too), by relative `/`-separated name,
/// without `checksums.json` itself.
fn files_under(dir: &Path) -> Result<Vec<(String, PathBuf)>, RunsError> {
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), dir.to_path_buf())];
    while let Some((prefix, folder)) = stack.pop() {
        for entry in std::fs::read_dir(&folder).map_err(RunsError::io(&folder))? {
            let entry = entry.map_err(RunsError::io(&folder))?;
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            let path = entry.path();
            if path.is_dir() {
                stack.push((format!("{name}/"), path));
            } else if name != CHECKSUMS_FILE {
                out.push((name, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Writes `dir/checksums.json` over every file under `dir`.
pub fn write_checksums(dir: &Path) -> Result<(), RunsError> {
    let mut sums = BTreeMap::new();
    for (name, path) in files_under(dir)? {
        sums.insert(name, digest(&path)?);
    }
    crate::write_json_atomic(&dir.join(CHECKSUMS_FILE), &sums)
}

/// Checks every file `dir/checksums.json` lists, and that no file was added beside them.
/// `Err` says which file and what is wrong with it.
pub fn verify_checksums(dir: &Path) -> Result<(), String> {
    let path = dir.join(CHECKSUMS_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{CHECKSUMS_FILE}: {e}"))?;
    let sums: BTreeMap<String, FileSum> =
        serde_json::from_str(&text).map_err(|e| format!("{CHECKSUMS_FILE} is damaged: {e}"))?;
    for (name, want) in &sums {
        let file = dir.join(name);
        if !file.is_file() {
            return Err(format!("{name} is missing"));
        }
        let got = digest(&file).map_err(|e| e.to_string())?;
        if got.bytes != want.bytes {
            return Err(format!(
                "{name} has {} bytes, {} were written (truncated or overwritten)",
                got.bytes, want.bytes
            ));
        }
        if got.sha256 != want.sha256 {
            return Err(format!(
                "{name} does not match its checksum (its content changed after it was written)"
            ));
        }
    }
    let files = files_under(dir).map_err(|e| e.to_string())?;
    if let Some((extra, _)) = files.iter().find(|(n, _)| !sums.contains_key(n)) {
        return Err(format!(
            "{extra} is not in {CHECKSUMS_FILE} (added after the folder was written)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_cover_nested_files_and_find_every_kind_of_damage() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir(d.join("model")).unwrap();
        std::fs::write(d.join("model/w.bin"), b"abc").unwrap();
        std::fs::write(d.join("card.md"), b"hello").unwrap();
        write_checksums(d).unwrap();
        let sums: BTreeMap<String, FileSum> =
            serde_json::from_str(&std::fs::read_to_string(d.join(CHECKSUMS_FILE)).unwrap())
                .unwrap();
        assert_eq!(sums.keys().collect::<Vec<_>>(), ["card.md", "model/w.bin"]);
        // sha256("abc"), the FIPS 180-2 test vector.
        assert_eq!(
            sums["model/w.bin"],
            FileSum {
                bytes: 3,
                sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into()
            }
        );
        assert_eq!(verify_checksums(d), Ok(()));
        std::fs::write(d.join("model/w.bin"), b"abd").unwrap();
        assert_eq!(
            verify_checksums(d).unwrap_err(),
            "model/w.bin does not match its checksum (its content changed after it was written)"
        );
        std::fs::write(d.join("model/w.bin"), b"ab").unwrap();
        assert_eq!(
            verify_checksums(d).unwrap_err(),
            "model/w.bin has 2 bytes, 3 were written (truncated or overwritten)"
        );
        std::fs::write(d.join("model/w.bin"), b"abc").unwrap();
        std::fs::write(d.join("extra.txt"), b"x").unwrap();
        assert_eq!(
            verify_checksums(d).unwrap_err(),
            "extra.txt is not in checksums.json (added after the folder was written)"
        );
        std::fs::remove_file(d.join("extra.txt")).unwrap();
        std::fs::remove_file(d.join("card.md")).unwrap();
        assert_eq!(verify_checksums(d).unwrap_err(), "card.md is missing");
    }
}
