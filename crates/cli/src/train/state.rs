//! The resume state: burn-train's model, optimizer (Adam's moments and step count) and
//! learning-rate scheduler records of the last finished epochs, one file each per epoch in
//! `checkpoints/state/`. burn-train's `LearningCheckpointer` is the only way to reach the
//! optimizer's record, so this module gives it a [`Checkpointer`] that writes through a temp
//! file and a flush, and says when an epoch's three files are on disk: `run.json` is written
//! only after that, so the epoch it names can always be resumed from.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use anyhow::{Context, Result, anyhow};
use burn::optim::OptimizerRecord;
use burn::optim::lr_scheduler::LrSchedulerRecord;
use burn::store::ModuleRecord;
use burn::train::checkpoint::{
    Checkpoint, Checkpointer, CheckpointerError, CheckpointingAction, CheckpointingStrategy,
};
use burn::train::metric::store::EventStoreClient;

/// The three records of an epoch.
pub const PARTS: [&str; 3] = ["model", "optim", "scheduler"];

/// `dir/<part>-<epoch>.bpk`.
pub fn state_file(dir: &Path, part: &str, epoch: usize) -> PathBuf {
    dir.join(format!("{part}-{epoch}.bpk"))
}

/// Which epochs' records are on disk, shared by the writer threads and the training loop.
#[derive(Default)]
pub struct Saved {
    done: Mutex<SavedState>,
    changed: Condvar,
}

#[derive(Default)]
struct SavedState {
    epochs: HashMap<&'static str, usize>,
    error: Option<String>,
}

impl Saved {
    fn mark(&self, part: &'static str, epoch: usize) {
        let mut done = self
            .done
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        done.epochs.insert(part, epoch);
        self.changed.notify_all();
    }

    fn fail(&self, message: String) {
        let mut done = self
            .done
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        done.error.get_or_insert(message);
        self.changed.notify_all();
    }

    /// Blocks until all three records of `epoch` are written, or one failed.
    pub fn wait(&self, epoch: usize) -> Result<()> {
        let mut done = self
            .done
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if let Some(error) = &done.error {
                return Err(anyhow!("cannot write the resume state: {error}"));
            }
            if PARTS
                .iter()
                .all(|p| done.epochs.get(p).is_some_and(|&e| e >= epoch))
            {
                return Ok(());
            }
            done = self
                .changed
                .wait(done)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

/// Writes one part's records as `dir/<part>-<epoch>.bpk`.
pub struct StateFiles {
    dir: PathBuf,
    part: &'static str,
    saved: Arc<Saved>,
}

impl StateFiles {
    pub fn new(dir: &Path, part: &'static str, saved: Arc<Saved>) -> Self {
        Self {
            dir: dir.to_path_buf(),
            part,
            saved,
        }
    }

    fn write<R: Checkpoint>(&self, epoch: usize, record: R) -> Result<(), String> {
        let path = state_file(&self.dir, self.part, epoch);
        let pending = run_folder::PendingFile::new(&path).map_err(|e| e.to_string())?;
        record
            .save(pending.path().to_path_buf())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        pending.commit_durable().map_err(|e| e.to_string())
    }
}

impl<R: Checkpoint> Checkpointer<R> for StateFiles {
    fn save(&self, epoch: usize, record: R) -> Result<(), CheckpointerError> {
        match self.write(epoch, record) {
            Ok(()) => {
                self.saved.mark(self.part, epoch);
                Ok(())
            }
            Err(message) => {
                self.saved.fail(message.clone());
                Err(CheckpointerError::Unknown(message))
            }
        }
    }

    fn restore(&self, epoch: usize) -> Result<R, CheckpointerError> {
        R::load(state_file(&self.dir, self.part, epoch))
    }

    fn delete(&self, epoch: usize) -> Result<(), CheckpointerError> {
        let path = state_file(&self.dir, self.part, epoch);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(CheckpointerError::IOError(e))
            }
            _ => Ok(()),
        }
    }
}

/// Save every epoch; drop the records of the epoch before the previous one, which no resume
/// can need once the previous one is in `run.json`.
pub struct EveryEpoch;

impl CheckpointingStrategy for EveryEpoch {
    fn checkpointing(
        &mut self,
        epoch: usize,
        _collector: &EventStoreClient,
    ) -> Vec<CheckpointingAction> {
        let mut actions = vec![CheckpointingAction::Save];
        if epoch > 2 {
            actions.push(CheckpointingAction::Delete(epoch - 2));
        }
        actions
    }
}

/// The records of epoch `epoch`, read back for a resume, with the file named on failure.
pub struct Restored {
    pub model: ModuleRecord,
    pub optim: OptimizerRecord,
    pub scheduler: LrSchedulerRecord,
}

pub fn restore(dir: &Path, epoch: usize) -> Result<Restored> {
    let load = |part: &str| {
        let path = state_file(dir, part, epoch);
        if !path.exists() {
            return Err(anyhow!(
                "{} is missing: the run has no resume state for epoch {epoch} (it was written by an arcface-lab without --resume, or the file was removed)",
                path.display()
            ));
        }
        Ok(path)
    };
    let model = load("model")?;
    let optim = load("optim")?;
    let scheduler = load("scheduler")?;
    Ok(Restored {
        model: <ModuleRecord as Checkpoint>::load(model.clone())
            .with_context(|| format!("cannot read {}", model.display()))?,
        optim: <OptimizerRecord as Checkpoint>::load(optim.clone())
            .with_context(|| format!("cannot read {}", optim.display()))?,
        scheduler: <LrSchedulerRecord as Checkpoint>::load(scheduler.clone())
            .with_context(|| format!("cannot read {}", scheduler.display()))?,
    })
}
