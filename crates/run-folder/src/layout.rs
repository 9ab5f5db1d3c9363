//! The names of a run folder's files (README, "Run output"), so no other module spells them.

/// The run's state: [`crate::RunState`].
pub const RUN_JSON: &str = "run.json";
/// The resolved config the run trains with; `--resume` reads it back.
pub const CONFIG: &str = "config.toml";
/// One row per finished epoch: [`crate::MetricsRow`].
pub const METRICS: &str = "metrics.csv";
/// Held by the process that writes the folder: [`crate::RunLock`].
pub const LOCK: &str = "run.lock";
/// Sizes and modification times of the data files the run used: [`crate::SourceFiles`].
pub const SOURCES: &str = "sources.json";
/// Every image with its class and split.
pub const SPLITS: &str = "splits.json";
/// Class index -> identity.
pub const CLASSES: &str = "classes.json";
/// Held-out class index -> identity.
pub const HELD_OUT_CLASSES: &str = "held_out_classes.json";
/// Images left out (`on_bad_image = "skip"`).
pub const SKIPPED: &str = "skipped.json";
/// Target-angle histograms per split and epoch.
pub const ANGLES: &str = "angles.csv";
/// Per-class angle figures per split and epoch.
pub const CLASS_ANGLES: &str = "class_angles.csv";
/// `eval` output.
pub const EVAL: &str = "eval.json";
/// A comparison folder's index: [`crate::CompareIndex`].
pub const COMPARE_JSON: &str = "compare.json";
/// `best.bpk`, `last.bpk` and the resume state.
pub const CHECKPOINTS: &str = "checkpoints";
/// Model, optimizer and scheduler records of the last finished epochs, for `--resume`.
pub const RESUME_STATE: &str = "checkpoints/state";
/// `embeddings/<split>/epoch_NNN.npy` and `labels.npy`.
pub const EMBEDDINGS: &str = "embeddings";
/// Frames, GIFs and charts.
pub const PLOTS: &str = "plots";

/// `embeddings/<split>/epoch_NNN.npy` relative to the run folder.
pub fn epoch_file(split: &str, epoch: usize) -> String {
    format!("{EMBEDDINGS}/{split}/epoch_{epoch:03}.npy")
}
