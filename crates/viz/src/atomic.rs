use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::VizError;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A hidden temp file next to `target` that only becomes `target` on
/// [`PendingFile::commit`], so an interrupted write never leaves a file that
/// looks finished. Dropping it uncommitted removes the temp file.
pub(crate) struct PendingFile {
    tmp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl PendingFile {
    /// Creates the parent folder if needed and picks the temp name (nothing is
    /// written yet).
    pub(crate) fn new(target: &Path) -> Result<Self, VizError> {
        let name = target.file_name().ok_or_else(|| {
            VizError::io(
                "write",
                target,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"),
            )
        })?;
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(|e| VizError::io("create folder", parent, e))?;
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

    pub(crate) fn path(&self) -> &Path {
        &self.tmp
    }

    pub(crate) fn target(&self) -> &Path {
        &self.target
    }

    pub(crate) fn commit(mut self) -> Result<(), VizError> {
        fs::rename(&self.tmp, &self.target)
            .map_err(|e| VizError::io("rename temp file onto", &self.target, e))?;
        self.committed = true;
        Ok(())
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

/// Writes `bytes` to `path` through a temp file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), VizError> {
    let pending = PendingFile::new(path)?;
    fs::write(pending.path(), bytes).map_err(|e| VizError::io("write", pending.path(), e))?;
    pending.commit()
}
