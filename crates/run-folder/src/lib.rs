//! The run folder of arcface-lab, in one place: its layout ([`layout`]), `run.json`
//! ([`RunState`] with a [`RunStatus`]), the rows of `metrics.csv` ([`MetricsRow`]),
//! `compare.json` ([`CompareIndex`]), the lock that says a process is writing the folder
//! ([`RunLock`]), the fingerprints of the data a run used ([`SourceFiles`]), the one
//! atomic-write helper ([`write_atomic`], [`PendingFile`]), JSON files read and written
//! whole ([`read_json`], [`write_json`]), and the error type of all of it ([`RunFolderError`],
//! with [`IoContext`] naming the file an I/O error happened on).
//!
//! No Burn here: `viz` reads run folders too, and a format this small should not drag a deep
//! learning framework into every reader.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))] // a failed unwrap is a failed test

mod atomic;
mod compare;
mod error;
mod json;
pub mod layout;
mod lock;
mod metrics;
mod sources;
mod status;

pub use crate::{
    atomic::{PendingFile, remove_stale_temp_files, write_atomic},
    compare::{CompareIndex, HeldOutFigures},
    error::{IoContext, RunFolderError},
    json::{read_json, write_json},
    lock::{LockHolder, RunLock},
    metrics::{
        METRICS_COLUMNS, MetricsRow, MetricsTable, SplitAngles, read_metrics, write_metrics,
    },
    sources::{SourceChange, SourceFile, SourceFiles, describe_changes},
    status::{RunState, RunStatus, host_name, read_state},
};
