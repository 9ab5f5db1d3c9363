//! The run-output contract (see README "Run output"): every file a run leaves, written through
//! a temp file and a rename so that an interrupted run never leaves a file that looks complete.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// `run.json`: what state the run is in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunStatus {
    /// `"running"` while training, `"finished"` once every epoch and snapshot is written.
    pub status: String,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Epochs configured.
    pub epochs: usize,
    /// Epoch whose model is `checkpoints/best.bpk`.
    pub best_epoch: Option<usize>,
    /// Its validation loss.
    pub best_val_loss: Option<f64>,
    /// Backend that trained it.
    pub device: String,
}

/// One row of `metrics.csv`.
#[derive(Debug, Clone, Copy)]
pub struct MetricsRow {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss of the epoch.
    pub train_loss: f64,
    /// Mean validation loss.
    pub val_loss: f64,
    /// Training accuracy, fraction.
    pub train_acc: f64,
    /// Validation accuracy, fraction.
    pub val_acc: f64,
    /// Learning rate.
    pub lr: f64,
    /// Wall time of the epoch (training, validation and snapshots).
    pub seconds: f64,
    /// Angle diagnostics of the training split's snapshot.
    pub train_angles: SplitAngles,
    /// The same for the validation split.
    pub val_angles: SplitAngles,
    /// Smallest angle between two class centres, degrees.
    pub center_min_deg: f64,
}

/// The per-split angle columns of `metrics.csv` (see `viz::angle_stats`).
#[derive(Debug, Clone, Copy)]
pub struct SplitAngles {
    /// Mean angle between a sample and its class centre, degrees.
    pub mean_deg: f64,
    /// Its 95th percentile, degrees.
    pub p95_deg: f64,
    /// Share of samples whose target angle plus the margin exceeds pi.
    pub overflow: f64,
    /// Leave-one-out 1-NN accuracy (cosine).
    pub knn_acc: f64,
}

impl From<&viz::AngleStats> for SplitAngles {
    fn from(s: &viz::AngleStats) -> Self {
        Self {
            mean_deg: s.mean_deg,
            p95_deg: s.p95_deg,
            overflow: s.overflow_share,
            knn_acc: s.knn_acc,
        }
    }
}

/// A run folder, `<out_dir>/<name>`.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// Opens `root` for a new run. An existing run there is kept unless `overwrite`; a folder
    /// that is not a run (no `run.json`) and not empty is never deleted.
    pub fn create(root: &Path, overwrite: bool) -> Result<Self> {
        if root.exists() {
            let status = root.join("run.json");
            let empty = std::fs::read_dir(root)
                .with_context(|| format!("cannot list {}", root.display()))?
                .next()
                .is_none();
            if status.exists() {
                if !overwrite {
                    let state = read_status(&status)
                        .map(|s| s.status)
                        .unwrap_or_else(|_| "unreadable".into());
                    bail!(
                        "{} already holds a run ({state}); pass --overwrite to replace it, or choose another folder with --out or --set name=...",
                        root.display()
                    );
                }
                std::fs::remove_dir_all(root)
                    .with_context(|| format!("cannot remove the old run {}", root.display()))?;
            } else if !empty {
                bail!(
                    "{} exists, is not empty and is not a run folder (no run.json): refusing to write into it",
                    root.display()
                );
            }
        }
        let dir = RunDir {
            root: root.to_path_buf(),
        };
        for sub in [
            "checkpoints",
            "embeddings/train",
            "embeddings/val",
            "embeddings/centers",
        ] {
            let path = dir.root.join(sub);
            std::fs::create_dir_all(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
        }
        Ok(dir)
    }

    /// An existing run folder, for `render`.
    pub fn open(root: &Path) -> Result<Self> {
        if !root.join("run.json").exists() {
            bail!(
                "{} is not a run folder (no run.json); `train` creates one",
                root.display()
            );
        }
        Ok(RunDir {
            root: root.to_path_buf(),
        })
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes `run.json`.
    pub fn write_status(&self, status: &RunStatus) -> Result<()> {
        let text = serde_json::to_string_pretty(status).context("cannot serialise run.json")?;
        write_atomic(&self.root.join("run.json"), text.as_bytes())
    }

    /// Writes `config.toml`.
    pub fn write_config(&self, toml: &str) -> Result<()> {
        write_atomic(&self.root.join("config.toml"), toml.as_bytes())
    }

    /// Writes `classes.json` (class index -> identity or label).
    pub fn write_classes(&self, classes: &[String]) -> Result<()> {
        let text =
            serde_json::to_string_pretty(classes).context("cannot serialise classes.json")?;
        write_atomic(&self.root.join("classes.json"), text.as_bytes())
    }

    /// Writes `held_out_classes.json` (held-out class index -> identity).
    pub fn write_held_out_classes(&self, classes: &[String]) -> Result<()> {
        let text = serde_json::to_string_pretty(classes)
            .context("cannot serialise held_out_classes.json")?;
        write_atomic(&self.root.join("held_out_classes.json"), text.as_bytes())
    }

    /// Writes `embeddings/<split>/labels.npy`, creating the split's folder if needed
    /// (`held_out` exists only when the data set holds identities out).
    pub fn write_labels(&self, split: &str, labels: &[i64]) -> Result<()> {
        let dir = self.root.join("embeddings").join(split);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("labels.npy");
        viz::write_npy_i64(&path, labels, &[labels.len()])
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Writes `embeddings/<split>/epoch_NNN.npy` (`split` may be `centers`).
    pub fn write_embeddings(
        &self,
        split: &str,
        epoch: usize,
        data: &[f32],
        dim: usize,
    ) -> Result<()> {
        let path = self
            .root
            .join("embeddings")
            .join(split)
            .join(format!("epoch_{epoch:03}.npy"));
        viz::write_npy_f32(&path, data, &[data.len() / dim.max(1), dim])
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Rewrites `metrics.csv` with all rows so far.
    pub fn write_metrics(&self, rows: &[MetricsRow]) -> Result<()> {
        let mut text = String::from(
            "epoch,train_loss,val_loss,train_acc,val_acc,lr,seconds,\
             train_angle_mean_deg,train_angle_p95_deg,val_angle_mean_deg,val_angle_p95_deg,\
             center_angle_min_deg,train_overflow,val_overflow,train_knn_acc,val_knn_acc\n",
        );
        for r in rows {
            let (t, v) = (r.train_angles, r.val_angles);
            text.push_str(&format!(
                "{},{:.6},{:.6},{:.6},{:.6},{},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.6},{:.6},{:.6},{:.6}\n",
                r.epoch,
                r.train_loss,
                r.val_loss,
                r.train_acc,
                r.val_acc,
                r.lr,
                r.seconds,
                t.mean_deg,
                t.p95_deg,
                v.mean_deg,
                v.p95_deg,
                r.center_min_deg,
                t.overflow,
                v.overflow,
                t.knn_acc,
                v.knn_acc
            ));
        }
        write_atomic(&self.root.join("metrics.csv"), text.as_bytes())
    }

    /// Rewrites `angles.csv` (the target-angle histogram of each split and epoch, one column
    /// per 5-degree bin) and `class_angles.csv` (per class mean and 95th percentile).
    pub fn write_angle_tables(&self, histograms: &str, classes: &str) -> Result<()> {
        write_atomic(&self.root.join("angles.csv"), histograms.as_bytes())?;
        write_atomic(&self.root.join("class_angles.csv"), classes.as_bytes())
    }

    /// Writes `splits.json`: every image with its class and split (train, val, held_out).
    pub fn write_splits(&self, json: &str) -> Result<()> {
        write_atomic(&self.root.join("splits.json"), json.as_bytes())
    }

    /// Writes `skipped.json`: the images left out (`on_bad_image = "skip"`) and why.
    pub fn write_skipped(&self, json: &str) -> Result<()> {
        write_atomic(&self.root.join("skipped.json"), json.as_bytes())
    }

    /// `checkpoints/<name>.bpk`.
    pub fn checkpoint(&self, name: &str) -> PathBuf {
        self.root.join("checkpoints").join(format!("{name}.bpk"))
    }
}

fn read_status(path: &Path) -> Result<RunStatus> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid run.json", path.display()))
}

/// Writes `bytes` to `path` through `path.tmp` and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path);
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
}

/// `dir/.name.tmp`, beside the final file so that the rename stays on one file system.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}
