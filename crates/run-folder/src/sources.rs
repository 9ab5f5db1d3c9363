//! `sources.json`: the size and modification time of every data file a run used, so that
//! `--resume` (and `eval`, `export`, `view`) can tell that the data changed under the run.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, RunFolderError};
use crate::json::{read_json, write_json};

/// One data file as it was when the run started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    pub path: PathBuf,
    pub size: u64,
    /// Nanoseconds since the Unix epoch; 0 where the file system keeps no time.
    pub mtime_ns: u128,
}

/// Every data file of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFiles {
    pub files: Vec<SourceFile>,
}

/// How one file differs from the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceChange {
    Missing(PathBuf),
    Size {
        path: PathBuf,
        was: u64,
        now: u64,
    },
    Modified(PathBuf),
    /// A file the data set uses now that the run did not.
    Added(PathBuf),
}

impl std::fmt::Display for SourceChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing(p) => write!(f, "{} is missing", p.display()),
            Self::Size { path, was, now } => {
                write!(f, "{} changed size ({was} -> {now} bytes)", path.display())
            }
            Self::Modified(p) => write!(f, "{} was modified since", p.display()),
            Self::Added(p) => write!(f, "{} is new", p.display()),
        }
    }
}

impl SourceFiles {
    /// Stats `paths` now.
    pub fn stat(paths: &[PathBuf]) -> Result<Self, RunFolderError> {
        let files = paths
            .iter()
            .map(|p| {
                let meta = std::fs::metadata(p).io_context("stat", p)?;
                Ok(SourceFile {
                    path: p.clone(),
                    size: meta.len(),
                    mtime_ns: mtime_ns(&meta),
                })
            })
            .collect::<Result<_, RunFolderError>>()?;
        Ok(Self { files })
    }

    /// Reads `sources.json`.
    pub fn read(path: &Path) -> Result<Self, RunFolderError> {
        read_json(path, "a sources.json written by arcface-lab")
    }

    /// Writes `sources.json`.
    pub fn write(&self, path: &Path) -> Result<(), RunFolderError> {
        write_json(path, self)
    }

    /// What differs between the record and the files on disk now; `now` lists the files the
    /// data set would use today (to find added ones), or `None` to check only the record.
    pub fn changes(&self, now: Option<&[PathBuf]>) -> Vec<SourceChange> {
        let mut out = Vec::new();
        for file in &self.files {
            match std::fs::metadata(&file.path) {
                Err(_) => out.push(SourceChange::Missing(file.path.clone())),
                Ok(meta) if meta.len() != file.size => out.push(SourceChange::Size {
                    path: file.path.clone(),
                    was: file.size,
                    now: meta.len(),
                }),
                Ok(meta) if mtime_ns(&meta) != file.mtime_ns => {
                    out.push(SourceChange::Modified(file.path.clone()));
                }
                Ok(_) => {}
            }
        }
        if let Some(now) = now {
            let known: std::collections::HashSet<&Path> =
                self.files.iter().map(|f| f.path.as_path()).collect();
            out.extend(
                now.iter()
                    .filter(|p| !known.contains(p.as_path()))
                    .map(|p| SourceChange::Added(p.clone())),
            );
        }
        out
    }
}

fn mtime_ns(meta: &std::fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

/// `changes` as one sentence: the first few, and how many more.
pub fn describe_changes(changes: &[SourceChange]) -> String {
    const SHOWN: usize = 5;
    let mut parts: Vec<String> = changes
        .iter()
        .take(SHOWN)
        .map(ToString::to_string)
        .collect();
    if changes.len() > SHOWN {
        parts.push(format!("and {} more", changes.len() - SHOWN));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_removed_or_added_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.jpg");
        let b = dir.path().join("b.jpg");
        let c = dir.path().join("c.jpg");
        std::fs::write(&a, "aaaa").unwrap();
        std::fs::write(&b, "bb").unwrap();
        let record = SourceFiles::stat(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(record.files[0].size, 4);
        assert!(record.changes(None).is_empty());
        std::fs::write(&a, "aaaaaa").unwrap();
        std::fs::remove_file(&b).unwrap();
        std::fs::write(&c, "c").unwrap();
        let changes = record.changes(Some(&[a.clone(), c.clone()]));
        assert_eq!(
            changes,
            vec![
                SourceChange::Size {
                    path: a,
                    was: 4,
                    now: 6
                },
                SourceChange::Missing(b),
                SourceChange::Added(c),
            ]
        );
    }
}
