//! The run folder of arcface-lab, in one place: its layout ([`layout`]), `run.json`
//! ([`RunState`] with a [`RunStatus`]), the rows of `metrics.csv` ([`MetricsRow`]),
//! `compare.json` ([`CompareIndex`]), the lock that says a process is writing the folder
//! ([`RunLock`]), the fingerprints of the data a run used ([`SourceFiles`]) and the one
//! atomic-write helper ([`write_atomic`], [`PendingFile`]).
//!
//! No Burn here: `viz` reads run folders too, and a format this small should not drag a deep
//! learning framework into every reader.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))] // a failed unwrap is a failed test

mod atomic;
mod compare;
mod error;
pub mod layout;
mod lock;
mod metrics;
mod sources;
mod status;

pub use atomic::{PendingFile, remove_stale_temp_files, write_atomic, write_json};
pub use compare::{CompareIndex, HeldOutFigures};
pub use error::RunFolderError;
pub use lock::{LockHolder, RunLock};
pub use metrics::{
    METRICS_COLUMNS, MetricsRow, MetricsTable, SplitAngles, read_metrics, write_metrics,
};
pub use sources::{SourceChange, SourceFile, SourceFiles, describe_changes};
pub use status::{RunState, RunStatus, host_name, read_state};
