use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::RunFolderError;
use crate::json::read_json;

/// Where a run stands. Written to `run.json` as a lower-case string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// A process is training it (it holds the folder's lock).
    Running,
    /// Every configured epoch and its snapshot is written.
    Finished,
    /// Stopped by a signal, `q` on the dashboard, or a process that died: resumable.
    Interrupted,
    /// A loss, weight or embedding turned NaN or infinite: resumable once the cause is fixed.
    Diverged,
    /// An error stopped it (a disk full, a data error): resumable once the cause is fixed.
    Failed,
}

impl RunStatus {
    /// The word `run.json` holds.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Finished => "finished",
            Self::Interrupted => "interrupted",
            Self::Diverged => "diverged",
            Self::Failed => "failed",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `run.json`: what state the run is in. Written after everything of an epoch, so its
/// `epochs_done` is the last epoch a resume can start after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub status: RunStatus,
    /// Epochs completed: their snapshots, metrics rows and resume state are all on disk.
    pub epochs_done: usize,
    /// Epochs configured.
    pub epochs: usize,
    /// Epoch whose model is `checkpoints/best.bpk`.
    pub best_epoch: Option<usize>,
    /// Its validation loss.
    pub best_val_loss: Option<f64>,
    /// Backend that trained it (the last one, after a resume).
    pub device: String,
    /// The process that wrote it last, and on which host, to tell a live run from a dead one.
    #[serde(default)]
    pub pid: Option<u32>,
    #[serde(default)]
    pub host: Option<String>,
    /// How often the run was resumed.
    #[serde(default)]
    pub resumed: usize,
}

/// Reads `run.json` at `path`.
pub fn read_state(path: &Path) -> Result<RunState, RunFolderError> {
    read_json(
        path,
        "a run.json written by arcface-lab (status, epochs_done, epochs, best_epoch, best_val_loss, device)",
    )
}

/// This machine's name, for `run.json` and the lock file: from the kernel (Linux) or
/// `/etc/hostname`, else "unknown". Not `$HOSTNAME`: a shell variable, usually not exported, and
/// a library reads no environment.
pub fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_json_reads_the_words_and_the_old_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        // A run.json of an earlier version: no pid, host or resumed.
        std::fs::write(
            &path,
            r#"{"status":"running","epochs_done":2,"epochs":5,"best_epoch":1,"best_val_loss":0.5,"device":"flex"}"#,
        )
        .unwrap();
        let state = read_state(&path).unwrap();
        assert_eq!(state.status, RunStatus::Running);
        assert_eq!(
            (state.epochs_done, state.epochs, state.best_epoch),
            (2, 5, Some(1))
        );
        assert_eq!(state.pid, None);
        std::fs::write(&path, r#"{"status":"sleeping"}"#).unwrap();
        let err = read_state(&path).unwrap_err().to_string();
        assert!(
            err.contains("run.json") && err.contains("sleeping"),
            "{err}"
        );
    }
}
