//! Replacing a file, a folder or a link on disk so that a reader, or a crash, sees either the
//! old content or the new, never a mix, and so that the new content survives a power loss.
//!
//! Files go through `atomic-write-file` (temporary sibling, fsync, rename, fsync of the folder).
//! That crate has no folder or link replacement, so those two live here, with the same order of
//! operations: stage under a temporary sibling name, rename over, fsync the parent folder (the
//! rename itself is only durable once the folder's entry is on disk).
//!
//! Errors are plain `std::io::Error`s: each caller wraps them in its own error type with the path
//! it was writing, which this crate cannot phrase better.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use atomic_write_file::AtomicWriteFile;

mod fault;
mod lock;

pub use fault::write_point;
pub use lock::{FileLock, lock_exclusive};

/// Replaces `path` with `bytes`. The folder must exist. On error the previous file, if any, is
/// untouched; the temporary file is removed too, except when the final rename is what failed
/// (atomic-write-file then keeps it, under a hidden `.{name}.` prefix).
pub fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_file_with(path, |w| w.write_all(bytes))
}

/// Replaces `path` with what `fill` writes (buffered), e.g. a serialiser writing straight into
/// the file. If `fill` fails the new content is discarded and the previous file stays as it was.
pub fn write_file_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let mut file = AtomicWriteFile::open(path)?;
    {
        let mut writer = BufWriter::new(&mut file);
        fill(&mut writer)?;
        writer.flush()?;
    }
    // A fault here leaves a written temporary file, as a disk that fills during the write does.
    write_point("write", path)?;
    // Dropping an uncommitted file (the `?`s above) removes the temporary file.
    file.commit()
}

/// Appends `bytes` to the file `path` (created if missing) in one `write` call, for logs that
/// grow line by line: a crash can cut the last line short, never reorder or lose earlier ones
/// (the trainer rewrites its log from the checkpoint's history on resume).
pub fn append(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_point("append", path)?;
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(bytes)
}

/// Makes the entries of `dir` (a rename, a new file) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    // Windows cannot open a folder as a file without extra flags, and NTFS journals renames.
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Replaces the folder `target` by `staged`, a fully written sibling folder (same parent, so the
/// renames stay on one file system). Everything in `staged` is fsynced first: the rename makes
/// the folder appear, and without that its files could still be empty after a crash. A folder
/// cannot be renamed over a non-empty one, so an existing `target` is first renamed aside,
/// restored if the second rename fails, and removed once the new folder is in place and the
/// parent folder is synced.
pub fn replace_dir(staged: &Path, target: &Path) -> io::Result<()> {
    let parent = parent_of(target);
    write_point("replace folder", target)?;
    sync_tree(staged)?;
    if fs::symlink_metadata(target).is_ok() {
        let aside = sibling(target, "old");
        fs::rename(target, &aside)?;
        if let Err(e) = fs::rename(staged, target) {
            let _ = fs::rename(&aside, target);
            return Err(e);
        }
        sync_dir(&parent)?;
        // The swap is done and durable; a leftover hidden folder is only wasted space, and
        // failing here would tell the caller its new content is not in place when it is.
        let _ = fs::remove_dir_all(&aside);
    } else {
        fs::rename(staged, target)?;
        sync_dir(&parent)?;
    }
    Ok(())
}

/// Fsyncs every file and folder under `dir`, then `dir` itself.
pub fn sync_tree(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_tree(&entry.path())?;
        } else {
            fs::File::open(entry.path())?.sync_all()?;
        }
    }
    sync_dir(dir)
}

/// Points the symbolic link `link` at `target` (kept as given, so a relative target stays
/// relative), replacing an existing link in one rename.
pub fn replace_symlink(target: &Path, link: &Path) -> io::Result<()> {
    write_point("link", link)?;
    let tmp = sibling(link, "tmp");
    let result = make_symlink(target, &tmp).and_then(|()| fs::rename(&tmp, link));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(&parent_of(link))
}

#[cfg(unix)]
fn make_symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(windows)]
fn make_symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::windows::fs::symlink_dir(target, link)
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A hidden sibling name no other writer uses: process id plus a nanosecond clock, so two
/// processes, or two calls in one process, do not collide.
fn sibling(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    path.with_file_name(format!(".{name}.{what}-{}-{nanos}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_write_replaces_the_file_and_leaves_no_temporary_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a.json");
        write_file(&path, b"old").unwrap();
        write_file(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(names(tmp.path()), ["a.json"]);
    }

    #[test]
    fn a_failed_fill_keeps_the_previous_content_and_no_temporary_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a.json");
        write_file(&path, b"old").unwrap();
        let err = write_file_with(&path, |w| {
            w.write_all(b"half a fi")?;
            Err(io::Error::other("serialiser failed"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "serialiser failed");
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(names(tmp.path()), ["a.json"]);
    }

    #[test]
    fn a_missing_folder_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let err = write_file(&tmp.path().join("no/such/a.json"), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[cfg(unix)]
    #[test]
    fn a_read_only_folder_keeps_the_previous_content() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ro");
        fs::create_dir(&dir).unwrap();
        let path = dir.join("a.json");
        write_file(&path, b"old").unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
        let result = write_file(&path, b"new");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        // root ignores folder permissions: then the write legitimately succeeds.
        if fs::File::create(dir.join("probe")).is_ok() && result.is_ok() {
            return;
        }
        assert!(result.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(names(&dir), ["a.json"]);
    }

    #[test]
    fn replace_dir_swaps_a_folder_in_and_removes_the_old_one() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("processed");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("old.txt"), "old").unwrap();
        let staged = tmp.path().join(".processed.staged");
        fs::create_dir(&staged).unwrap();
        fs::write(staged.join("new.txt"), "new").unwrap();
        replace_dir(&staged, &target).unwrap();
        assert_eq!(names(&target), ["new.txt"]);
        assert_eq!(names(tmp.path()), ["processed"]);
    }

    #[test]
    fn replace_dir_without_a_staged_folder_keeps_the_old_one() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("processed");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("old.txt"), "old").unwrap();
        assert!(replace_dir(&tmp.path().join("missing"), &target).is_err());
        assert_eq!(names(&target), ["old.txt"]);
        assert_eq!(names(tmp.path()), ["processed"]);
    }

    #[cfg(unix)]
    #[test]
    fn replace_symlink_repoints_a_relative_link() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("run-1")).unwrap();
        fs::create_dir(tmp.path().join("run-2")).unwrap();
        let link = tmp.path().join("best_model");
        replace_symlink(Path::new("run-1"), &link).unwrap();
        replace_symlink(Path::new("run-2"), &link).unwrap();
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("run-2"));
        assert_eq!(names(tmp.path()), ["best_model", "run-1", "run-2"]);
    }
}
