//! An exclusive lock between processes (and between threads holding their own handles), for
//! the read-modify-write steps that atomic renames alone cannot protect: two writers that read
//! the same old file and each rename their own new one lose one writer's change.
//!
//! The lock is advisory (`flock` on Unix, `LockFileEx` on Windows, through `std::fs::File::lock`)
//! on a separate, empty lock file, so it never touches the data it guards and is released by
//! the kernel when the process dies: a killed writer cannot leave a stale lock behind.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Held while alive; dropping it releases the lock.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first makes the order explicit.
        let _ = self.file.unlock();
    }
}

/// Takes the exclusive lock on the file `path` (created empty if missing, its folder too),
/// waiting for the holder to release it. `on_wait` is called once, before waiting, only if
/// another holder has it: callers tell the user why nothing happens.
pub fn lock_exclusive(path: &Path, on_wait: impl FnOnce()) -> io::Result<FileLock> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            on_wait();
            file.lock()?;
        }
        Err(fs::TryLockError::Error(e)) => return Err(e),
    }
    Ok(FileLock {
        file,
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    #[test]
    fn a_second_holder_waits_until_the_first_releases() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("sub/x.lock");
        let first = lock_exclusive(&path, || panic!("nobody holds it yet")).unwrap();
        let waited = Arc::new(AtomicUsize::new(0));
        let (p, w) = (path.clone(), waited.clone());
        let second = std::thread::spawn(move || {
            let _held = lock_exclusive(&p, || {
                w.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        });
        // The second thread must report that it waits, and cannot finish while we hold it.
        while waited.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        assert!(!second.is_finished());
        drop(first);
        second.join().unwrap();
    }

    #[test]
    fn the_lock_serialises_read_modify_write_across_threads() {
        let tmp = tempfile::tempdir().unwrap();
        let counter = tmp.path().join("counter");
        fs::write(&counter, "0").unwrap();
        let lock = tmp.path().join("counter.lock");
        let start = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (counter, lock, start) = (counter.clone(), lock.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..25 {
                        let _held = lock_exclusive(&lock, || {}).unwrap();
                        let n: u32 = fs::read_to_string(&counter).unwrap().parse().unwrap();
                        crate::write_file(&counter, (n + 1).to_string().as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(fs::read_to_string(&counter).unwrap(), "200");
    }
}
