//! viz writes every file through the run folder's one atomic-write helper.

use std::path::Path;

use crate::error::VizError;

pub(crate) use run_folder::PendingFile;

/// Writes `bytes` to `path` through a temp file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), VizError> {
    Ok(run_folder::write_atomic(path, bytes)?)
}
