use std::path::{Path, PathBuf};

/// Everything that can go wrong while writing arrays or pictures; each variant
/// names the file involved so a failed render can be traced to its input.
#[derive(Debug, thiserror::Error)]
pub enum VizError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: expected {expected}, found {found}", path.display())]
    Format {
        path: PathBuf,
        expected: String,
        found: String,
    },

    #[error("{}: no epoch files found (expected epoch_001.npy, epoch_002.npy, ...)", dir.display())]
    NoEpochs { dir: PathBuf },

    #[error("cannot render {}: {reason}", path.display())]
    Frame { path: PathBuf, reason: String },

    #[error("drawing {} failed: {source}", path.display())]
    Draw {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// An array handed to the `.npz` writer is not a whole `.npy` file.
    #[error("{}: cannot pack array {entry}: {problem}; nothing was written", archive.display())]
    BadArray {
        archive: PathBuf,
        entry: String,
        problem: String,
    },

    #[error("the embedded font {name} could not be registered with plotters")]
    Font { name: &'static str },

    /// Reading or writing a run folder's own files (metrics, atomic writes).
    #[error(transparent)]
    RunFolder(#[from] run_folder::RunFolderError),
}

impl VizError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        VizError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn format(
        path: &Path,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        VizError::Format {
            path: path.to_path_buf(),
            expected: expected.into(),
            found: found.into(),
        }
    }

    pub(crate) fn frame(path: &Path, reason: impl Into<String>) -> Self {
        VizError::Frame {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    pub(crate) fn draw<E: std::error::Error + Send + Sync + 'static>(
        path: &Path,
        source: E,
    ) -> Self {
        VizError::Draw {
            path: path.to_path_buf(),
            source: Box::new(source),
        }
    }
}
