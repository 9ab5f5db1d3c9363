//! The JSON files of a run folder (`run.json`, `sources.json`, `compare.json`, `classes.json`, ...):
//! read whole with the file named in every error, written pretty through [`write_atomic`].

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::atomic::write_atomic;
use crate::error::{IoContext, RunFolderError};

/// Reads the JSON file at `path`; `expected` describes its content for the error when it does
/// not parse (e.g. "a run.json written by arcface-lab").
pub fn read_json<T: DeserializeOwned>(path: &Path, expected: &str) -> Result<T, RunFolderError> {
    let text = std::fs::read_to_string(path).io_context("read", path)?;
    serde_json::from_str(&text).map_err(|e| RunFolderError::format(path, expected, e.to_string()))
}

/// Writes `value` as pretty JSON through [`write_atomic`].
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), RunFolderError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| {
        RunFolderError::format(path, "a value that serialises to JSON", e.to_string())
    })?;
    write_atomic(path, text.as_bytes())
}
