use std::path::{Path, PathBuf};

/// What can go wrong reading or writing a run folder, or any file the tool writes.
#[derive(Debug, thiserror::Error)]
pub enum RunFolderError {
    /// A file or folder could not be read, written, renamed or listed; the cause is the source.
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file of the run folder is not in the format the tool writes.
    #[error("{}: expected {expected}, found {found}", path.display())]
    Format {
        path: PathBuf,
        expected: String,
        found: String,
    },
    /// Another process holds the run folder's lock.
    #[error("{} is in use by another arcface-lab process ({holder}); wait for it to finish or stop it first", path.display())]
    Locked { path: PathBuf, holder: String },
}

impl RunFolderError {
    /// [`RunFolderError::Format`]: `path` holds `found` where `expected` should be.
    pub fn format(path: &Path, expected: impl Into<String>, found: impl Into<String>) -> Self {
        Self::Format {
            path: path.to_path_buf(),
            expected: expected.into(),
            found: found.into(),
        }
    }
}

/// Names what was being done, and to which file, when an I/O call fails.
pub trait IoContext<T> {
    /// The error, if any, as a [`RunFolderError::Io`] that says "cannot `action` `path`".
    fn io_context(self, action: &'static str, path: &Path) -> Result<T, RunFolderError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io_context(self, action: &'static str, path: &Path) -> Result<T, RunFolderError> {
        self.map_err(|source| RunFolderError::Io {
            action,
            path: path.to_path_buf(),
            source,
        })
    }
}
