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
