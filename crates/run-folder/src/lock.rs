use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, RunFolderError};
use crate::layout;
use crate::status::host_name;

/// The exclusive lock on a run folder's `run.lock`, held by the one process that writes the
/// run. The operating system drops it when the process ends, however it ends, so a `run.json`
/// that says `running` while nobody holds the lock belongs to a process that is gone.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

/// Who holds (or last held) a lock: `pid N on HOST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder(pub String);

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl RunLock {
    /// Takes the lock of the run folder `root` (creating `run.lock`), or says who holds it.
    pub fn acquire(root: &Path) -> Result<Self, RunFolderError> {
        let path = root.join(layout::LOCK);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .io_context("open", &path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(RunFolderError::Locked {
                    holder: holder_of(&path).0,
                    path: root.to_path_buf(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(e).io_context("lock", &path),
        }
        let me = format!("pid {} on {}", std::process::id(), host_name());
        file.set_len(0)
            .and_then(|()| file.write_all(me.as_bytes()))
            .io_context("write", &path)?;
        Ok(Self { _file: file, path })
    }

    /// Whether some process holds the lock of `root` now (without taking it for long).
    pub fn is_held(root: &Path) -> bool {
        let path = root.join(layout::LOCK);
        let Ok(file) = File::open(&path) else {
            return false;
        };
        match file.try_lock() {
            // We got it, so nobody else had it; dropping `file` releases it again.
            Ok(()) => false,
            Err(TryLockError::WouldBlock) => true,
            Err(TryLockError::Error(_)) => false,
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What the lock file says of its holder.
pub fn holder_of(path: &Path) -> LockHolder {
    LockHolder(
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "an unknown process".into()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        assert!(RunLock::is_held(dir.path()));
        let err = RunLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "names the holder: {err}"
        );
        drop(first);
        assert!(!RunLock::is_held(dir.path()));
        RunLock::acquire(dir.path()).unwrap();
    }
}
