use std::path::{Path, PathBuf};

use run_folder::RunFolderError;

/// Everything that can go wrong while writing arrays or pictures; each variant
/// names the file involved so a failed render can be traced to its input.
#[derive(Debug, thiserror::Error)]
pub enum VizError {
    /// A file could not be read or written, or is not in the format expected (the run
    /// folder's own error: viz reads and writes the same files).
    #[error(transparent)]
    File(#[from] RunFolderError),

    #[error("{}: no epoch files found (expected epoch_001.npy, epoch_002.npy, ...)", dir.display())]
    NoEpochs { dir: PathBuf },

    #[error("cannot render {}: {reason}", path.display())]
    Frame { path: PathBuf, reason: String },

    #[error("drawing {} failed", path.display())]
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
}

impl VizError {
    /// [`RunFolderError::format`], as a `VizError`.
    pub(crate) fn format(
        path: &Path,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        RunFolderError::format(path, expected, found).into()
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
