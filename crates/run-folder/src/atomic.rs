//! The one way a run folder's files are written: into a hidden temp file beside the target,
//! then renamed over it, so an interrupted write never leaves a file that looks finished.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{IoContext, RunFolderError};

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A hidden temp file next to `target` that only becomes `target` on [`PendingFile::commit`].
/// Dropping it uncommitted removes the temp file.
#[derive(Debug)]
pub struct PendingFile {
    tmp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl PendingFile {
    /// Creates the parent folder if needed and picks the temp name (nothing is written yet).
    /// The name carries the pid and a counter, so two writers never share a temp file.
    pub fn new(target: &Path) -> Result<Self, RunFolderError> {
        let name = target
            .file_name()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"))
            .io_context("write", target)?;
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(parent).io_context("create folder", parent)?;
        // The real extension stays last: plotters picks the image encoder from it.
        let ext = target
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let tmp = parent.join(format!(
            ".{}.{}-{id}.tmp{ext}",
            name.to_string_lossy(),
            std::process::id()
        ));
        Ok(Self {
            tmp,
            target: target.to_path_buf(),
            committed: false,
        })
    }

    /// Where to write the content.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Where it goes on commit.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the temp file onto the target.
    pub fn commit(mut self) -> Result<(), RunFolderError> {
        fs::rename(&self.tmp, &self.target).io_context("rename a temp file onto", &self.target)?;
        self.committed = true;
        Ok(())
    }

    /// Flushes the temp file to the disk, then [`Self::commit`]s: after a power cut the target
    /// holds either the old or the new content.
    pub fn commit_durable(self) -> Result<(), RunFolderError> {
        let file = fs::File::open(&self.tmp).io_context("open", &self.tmp)?;
        file.sync_all().io_context("flush", &self.tmp)?;
        self.commit()
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the temp file may never have been created.
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `path` through a temp file, a flush and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RunFolderError> {
    let pending = PendingFile::new(path)?;
    let mut file = fs::File::create(pending.path()).io_context("create", pending.path())?;
    file.write_all(bytes).io_context("write", pending.path())?;
    file.sync_all().io_context("flush", pending.path())?;
    drop(file);
    pending.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_replaces_the_target_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.json");
        std::fs::write(&target, "old").unwrap();
        write_atomic(&target, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "only the target remains");
    }

    #[test]
    fn an_uncommitted_write_keeps_the_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.csv");
        std::fs::write(&target, "old").unwrap();
        {
            let pending = PendingFile::new(&target).unwrap();
            std::fs::write(pending.path(), "half").unwrap();
            // dropped without commit: an interrupted writer
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

/// Whether `name` is a temp name [`PendingFile::new`] makes: `.<name>.<pid>-<n>.tmp[.<ext>]`.
fn is_temp_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    let Some(at) = rest.rfind(".tmp") else {
        return false;
    };
    let tail = &rest[at + ".tmp".len()..];
    if !(tail.is_empty() || tail.starts_with('.')) {
        return false;
    }
    let Some((_, ids)) = rest[..at].rsplit_once('.') else {
        return false;
    };
    ids.split_once('-').is_some_and(|(pid, n)| {
        [pid, n]
            .iter()
            .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Removes the temp files a killed writer left under `root` (recursively) and returns how many.
///
/// Call it only while holding the run's [`crate::RunLock`]: then no live process is writing one.
/// A `kill -9` between a temp file's creation and its rename leaves it behind; nothing reads it,
/// but it would sit among the run's files for ever.
pub fn remove_stale_temp_files(root: &Path) -> Result<usize, RunFolderError> {
    let mut removed = 0;
    let entries = fs::read_dir(root).io_context("list", root)?;
    for entry in entries {
        let entry = entry.io_context("list", root)?;
        let path = entry.path();
        let kind = entry.file_type().io_context("inspect", &path)?;
        if kind.is_dir() {
            removed += remove_stale_temp_files(&path)?;
        } else if kind.is_file() && is_temp_name(&entry.file_name().to_string_lossy()) {
            fs::remove_file(&path).io_context("remove", &path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod temp_name_tests {
    use super::*;

    #[test]
    fn recognises_only_the_names_pending_file_makes() {
        let dir = tempfile::tempdir().unwrap();
        let made =
            PendingFile::new(&dir.path().join("embeddings").join("val.epoch_003.npy")).unwrap();
        let name = made
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(is_temp_name(&name), "{name}");
        // Hand-written examples of both shapes, and user files that merely look alike.
        assert!(is_temp_name(".run.json.123-0.tmp.json"));
        assert!(is_temp_name(".notes.77-12.tmp"));
        for keep in [
            "run.json",
            ".hidden",
            ".notes.tmp",
            ".notes.x-1.tmp",
            ".notes.1-.tmp",
            ".a.1-2.tmpfile",
            "a.1-2.tmp.npy",
        ] {
            assert!(!is_temp_name(keep), "{keep}");
        }
    }

    #[test]
    fn removes_stale_temp_files_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("embeddings");
        fs::create_dir_all(&sub).unwrap();
        for name in [
            ".val.epoch_002.npy.4242-7.tmp.npy",
            "val.epoch_001.npy",
            ".keep",
        ] {
            fs::write(sub.join(name), b"x").unwrap();
        }
        fs::write(dir.path().join(".run.json.4242-8.tmp.json"), b"{").unwrap();
        assert_eq!(remove_stale_temp_files(dir.path()).unwrap(), 2);
        let mut left: Vec<_> = fs::read_dir(&sub)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [".keep", "val.epoch_001.npy"]);
        assert!(!dir.path().join(".run.json.4242-8.tmp.json").exists());
    }
}
