//! The CLI's handle on a run folder. The format itself (layout, `run.json`, `metrics.csv`,
//! the lock, atomic writes) belongs to the `run-folder` crate; this module decides when a
//! folder may be created, replaced, resumed or only read.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use embed_metrics::AngleStats;
use run_folder::{RunLock, RunState, RunStatus, layout};

pub use run_folder::{MetricsRow, SplitAngles};

/// The `metrics.csv` columns of viz's angle figures of one split.
pub fn split_angles(s: &AngleStats) -> SplitAngles {
    SplitAngles {
        mean_deg: s.mean_deg,
        p95_deg: s.p95_deg,
        overflow: s.overflow_share,
        knn_acc: s.knn_acc,
    }
}

/// A run folder, `<out_dir>/<name>`. One that is written holds its lock for as long as this
/// value lives.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
    _lock: Option<std::sync::Arc<RunLock>>,
}

/// `run.json` as it stands, with a `running` whose process is gone read as `interrupted`.
pub fn current_state(root: &Path) -> Result<RunState> {
    let mut state = run_folder::read_state(&root.join(layout::RUN_JSON))?;
    if state.status == RunStatus::Running && !RunLock::is_held(root) {
        state.status = RunStatus::Interrupted;
    }
    Ok(state)
}

impl RunDir {
    /// Opens `root` for a new run. An existing run there is kept unless `overwrite` (and never
    /// replaced while a process trains it); a folder that is not a run (no `run.json`) and not
    /// empty is never touched.
    pub fn create(root: &Path, overwrite: bool) -> Result<Self> {
        if root.exists() {
            let empty = std::fs::read_dir(root)
                .with_context(|| format!("cannot list {}", root.display()))?
                .next()
                .is_none();
            if root.join(layout::RUN_JSON).exists() {
                if RunLock::is_held(root) {
                    // Taking the lock names the holder.
                    RunLock::acquire(root)?;
                }
                if !overwrite {
                    let hint = match current_state(root).map(|s| s.status) {
                        Ok(RunStatus::Finished) => format!(
                            "finished); `arcface-lab train --resume {} --epochs N` trains it further, --overwrite replaces it",
                            root.display()
                        ),
                        Ok(status) => format!(
                            "{status}); `arcface-lab train --resume {}` continues it, --overwrite replaces it",
                            root.display()
                        ),
                        Err(_) => "unreadable run.json); --overwrite replaces it".into(),
                    };
                    bail!(
                        "{} already holds a run ({hint}, or choose another folder with --out or --set name=...",
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
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create {}", root.display()))?;
        let lock = RunLock::acquire(root)?;
        let dir = RunDir {
            root: root.to_path_buf(),
            _lock: Some(std::sync::Arc::new(lock)),
        };
        for sub in [
            "checkpoints",
            layout::RESUME_STATE,
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

    /// An existing run folder to continue: takes its lock (refused while another process holds
    /// it) and returns its state.
    pub fn resume(root: &Path) -> Result<(Self, RunState)> {
        if !root.join(layout::RUN_JSON).exists() {
            bail!(
                "{} is not a run folder (no run.json): nothing to resume",
                root.display()
            );
        }
        let lock = RunLock::acquire(root)?;
        // With the lock held nobody else writes here: a temp file is what a killed process left.
        run_folder::remove_stale_temp_files(root)?;
        let state = run_folder::read_state(&root.join(layout::RUN_JSON))?;
        let dir = RunDir {
            root: root.to_path_buf(),
            _lock: Some(std::sync::Arc::new(lock)),
        };
        std::fs::create_dir_all(dir.root.join(layout::RESUME_STATE)).with_context(|| {
            format!(
                "cannot create {}",
                dir.root.join(layout::RESUME_STATE).display()
            )
        })?;
        Ok((dir, state))
    }

    /// An existing run folder, to read (`render`, `eval`, `export`, `view`).
    pub fn open(root: &Path) -> Result<Self> {
        if !root.join(layout::RUN_JSON).exists() {
            bail!(
                "{} is not a run folder (no run.json); `train` creates one",
                root.display()
            );
        }
        Ok(RunDir {
            root: root.to_path_buf(),
            _lock: None,
        })
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `root/name`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Writes `run.json`, stamped with this process and host.
    pub fn write_state(&self, state: &RunState) -> Result<()> {
        let mut state = state.clone();
        state.pid = Some(std::process::id());
        state.host = Some(run_folder::host_name());
        run_folder::write_json(&self.file(layout::RUN_JSON), &state)?;
        Ok(())
    }

    /// Writes `config.toml`.
    pub fn write_config(&self, toml: &str) -> Result<()> {
        write_atomic(&self.file(layout::CONFIG), toml.as_bytes())
    }

    /// Writes `classes.json` (class index -> identity or label).
    pub fn write_classes(&self, classes: &[String]) -> Result<()> {
        run_folder::write_json(&self.file(layout::CLASSES), &classes)?;
        Ok(())
    }

    /// Writes `held_out_classes.json` (held-out class index -> identity).
    pub fn write_held_out_classes(&self, classes: &[String]) -> Result<()> {
        run_folder::write_json(&self.file(layout::HELD_OUT_CLASSES), &classes)?;
        Ok(())
    }

    /// Writes `embeddings/<split>/labels.npy`, creating the split's folder if needed
    /// (`held_out` exists only when the data set holds identities out).
    pub fn write_labels(&self, split: &str, labels: &[i64]) -> Result<()> {
        let dir = self.root.join(layout::EMBEDDINGS).join(split);
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
        let path = self.file(&layout::epoch_file(split, epoch));
        viz::write_npy_f32(&path, data, &[data.len() / dim.max(1), dim])
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Rewrites `metrics.csv` with all rows so far.
    pub fn write_metrics(&self, rows: &[MetricsRow]) -> Result<()> {
        run_folder::write_metrics(&self.file(layout::METRICS), rows)?;
        Ok(())
    }

    /// The rows of `metrics.csv` of the first `epochs` epochs (a resume drops the rows of an
    /// epoch that did not finish).
    pub fn read_metrics(&self, epochs: usize) -> Result<Vec<MetricsRow>> {
        let rows = run_folder::read_metrics(&self.file(layout::METRICS))?;
        let kept: Vec<MetricsRow> = rows.into_iter().filter(|r| r.epoch <= epochs).collect();
        if kept.len() != epochs || kept.iter().enumerate().any(|(i, r)| r.epoch != i + 1) {
            bail!(
                "{}: expected one row for each of epochs 1..={epochs}, found epochs {:?}",
                self.file(layout::METRICS).display(),
                kept.iter().map(|r| r.epoch).collect::<Vec<_>>()
            );
        }
        Ok(kept)
    }

    /// Rewrites `angles.csv` (the target-angle histogram of each split and epoch, one column
    /// per 5-degree bin) and `class_angles.csv` (per class mean and 95th percentile).
    pub fn write_angle_tables(&self, histograms: &str, classes: &str) -> Result<()> {
        write_atomic(&self.file(layout::ANGLES), histograms.as_bytes())?;
        write_atomic(&self.file(layout::CLASS_ANGLES), classes.as_bytes())
    }

    /// `angles.csv` and `class_angles.csv` cut to the first `epochs` epochs (their first
    /// column), for a resume; `None` when a file is missing.
    pub fn read_angle_tables(&self, epochs: usize) -> Result<Option<(String, String)>> {
        let cut = |name: &str| -> Result<Option<String>> {
            let path = self.file(name);
            if !path.exists() {
                return Ok(None);
            }
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let mut out = String::new();
            for (i, line) in text.lines().enumerate() {
                let epoch = line.split(',').next().and_then(|e| e.parse::<usize>().ok());
                if i == 0 || epoch.is_some_and(|e| e <= epochs) {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            Ok(Some(out))
        };
        Ok(cut(layout::ANGLES)?.zip(cut(layout::CLASS_ANGLES)?))
    }

    /// Writes `splits.json`: every image with its class and split (train, val, held_out).
    pub fn write_splits(&self, json: &str) -> Result<()> {
        write_atomic(&self.file(layout::SPLITS), json.as_bytes())
    }

    /// Writes `skipped.json`: the images left out (`on_bad_image = "skip"`) and why.
    pub fn write_skipped(&self, json: &str) -> Result<()> {
        write_atomic(&self.file(layout::SKIPPED), json.as_bytes())
    }

    /// `checkpoints/<name>.bpk`.
    pub fn checkpoint(&self, name: &str) -> PathBuf {
        self.root
            .join(layout::CHECKPOINTS)
            .join(format!("{name}.bpk"))
    }

    /// The folder of the resume state (model, optimizer and scheduler records per epoch).
    pub fn state_dir(&self) -> PathBuf {
        self.file(layout::RESUME_STATE)
    }
}

/// Writes `bytes` to `path` through a temp file, a flush and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    run_folder::write_atomic(path, bytes)?;
    Ok(())
}

/// Copies `from` onto `to` through a temp file and a rename.
pub fn copy_atomic(from: &Path, to: &Path) -> Result<()> {
    let pending = run_folder::PendingFile::new(to)?;
    std::fs::copy(from, pending.path())
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    pending.commit_durable()?;
    Ok(())
}
