use std::path::PathBuf;

/// What can go wrong reading or writing a run folder.
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
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn format(
        path: impl Into<PathBuf>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Self::Format {
            path: path.into(),
            expected: expected.into(),
            found: found.into(),
        }
    }
}
