//! `train --resume DIR`: continues a run from its last finished epoch, with the model, Adam's
//! state and the scheduler restored from `checkpoints/state/`, the batch order and dropout of
//! every later epoch as an uninterrupted run draws them (see `strategy`), and the files of the
//! finished epochs kept.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use run_folder::{RunStatus, layout};

use super::hook::{Resumed, save_model};
use super::{
    Start, Trained, fit, init_from, load_data, new_learner, optim, state, steps_per_epoch,
};
use crate::config::RunConfig;
use crate::device::{self, DeviceChoice};
use crate::run_dir::RunDir;

/// Config keys `--set` may change on a resume: they change nothing the finished epochs
/// computed, only how far the run goes, how fast batches are prepared, where the image cache
/// lives, and how the pictures are drawn. Keys ending in `.` are prefixes.
pub const RESUMABLE_KEYS: [&str; 5] = [
    "train.epochs",
    "train.num_workers",
    "data.cache",
    "data.cache_dir",
    "render.",
];

/// What `--resume` was asked.
#[derive(Debug, Clone)]
pub struct ResumeRequest {
    pub dir: PathBuf,
    /// `--epochs N`: train to N epochs (extends a finished run).
    pub epochs: Option<usize>,
    pub set: Vec<String>,
    pub device: DeviceChoice,
}

/// Whether `--set key=...` may be given with `--resume`.
pub fn resumable_key(item: &str) -> bool {
    let key = item.split_once('=').map_or(item, |(k, _)| k).trim();
    RESUMABLE_KEYS.iter().any(|k| {
        if k.ends_with('.') {
            key.starts_with(k)
        } else {
            key == *k
        }
    })
}

/// Continues the run in `request.dir`.
pub fn resume(request: &ResumeRequest) -> Result<Trained> {
    if let Some(bad) = request.set.iter().find(|s| !resumable_key(s)) {
        bail!(
            "--set {bad:?} with --resume: a resumed run keeps the config it was trained with ({}); only {} may change (edit that file by hand to change anything else, e.g. a lower train.lr after a divergence)",
            request.dir.join(layout::CONFIG).display(),
            RESUMABLE_KEYS
                .map(|k| if k.ends_with('.') {
                    format!("{k}*")
                } else {
                    k.to_string()
                })
                .join(", ")
        );
    }
    let (run, mut state) = RunDir::resume(&request.dir)?;
    let mut overrides = request.set.clone();
    if let Some(epochs) = request.epochs {
        overrides.push(format!("train.epochs={epochs}"));
    }
    let config = RunConfig::load(&run.file(layout::CONFIG), &overrides)?;
    let done = state.epochs_done;
    if config.train.epochs < done {
        bail!(
            "--epochs {}: {} has already trained {done} epochs",
            config.train.epochs,
            run.root().display()
        );
    }
    if config.train.epochs == done {
        bail!(
            "{} has trained all {done} epochs ({}): pass --epochs N with N > {done} to train it further",
            run.root().display(),
            state.status
        );
    }

    let (choice, device) = device::open(request.device)?;
    eprintln!("device: {choice:?}");
    let data = load_data(&config)?;
    check_same_data(&run, &data)?;

    let (learner, resumed) = if done > 0 {
        let restored = state::restore(&run.state_dir(), done)?;
        check_schedule(&config, &data, &restored.scheduler, &run, done)?;
        let mut learner = new_learner(&config, &data, &device, Start::Resume(restored.model))
            .with_context(|| {
                format!(
                    "cannot continue epoch {done}'s model with the config in {}",
                    run.file(layout::CONFIG).display()
                )
            })?;
        learner.load_optim(restored.optim);
        learner.load_scheduler(restored.scheduler);
        let rows = run.read_metrics(done)?;
        let (angle_table, class_table) = run.read_angle_tables(done)?.with_context(|| {
            format!(
                "{} or {} is missing",
                run.file(layout::ANGLES).display(),
                run.file(layout::CLASS_ANGLES).display()
            )
        })?;
        // A crash between run.json and the checkpoint copies leaves them one epoch behind.
        let valid = learner.model().valid();
        save_model(&valid, &run.checkpoint("last"))?;
        if state.best_epoch == Some(done) {
            save_model(&valid, &run.checkpoint("best"))?;
        }
        let resumed = Resumed {
            rows,
            angle_table,
            class_table,
        };
        (learner, Some(resumed))
    } else {
        // Killed in its first epoch: the same seed (and train.init_from's run, read again)
        // gives the same initial weights.
        let start = match init_from::open(&config, &data, &device)? {
            Some(source) => Start::InitFrom(source),
            None => Start::Seed,
        };
        (new_learner(&config, &data, &device, start)?, None)
    };

    eprintln!(
        "resuming {} ({}) after epoch {done}, to epoch {}",
        run.root().display(),
        match state.status {
            RunStatus::Running => RunStatus::Interrupted,
            s => s,
        },
        config.train.epochs
    );
    if config.train.epochs != state.epochs && !config.train.is_constant_rate() {
        eprintln!(
            "warning: train.schedule is made for the run's length: from epoch {} on the rate follows it stretched to {} epochs (it was {})",
            done + 1,
            config.train.epochs,
            state.epochs
        );
    }
    state.status = RunStatus::Running;
    state.epochs = config.train.epochs;
    state.resumed += 1;
    state.device = format!("{choice:?}").to_lowercase();
    run.write_state(&state)?;
    if !overrides.is_empty() {
        run.write_config(&config.to_toml()?)?;
    }
    fit(
        &config,
        &data,
        (choice, &device),
        run,
        state,
        learner,
        resumed,
    )
}

/// Refuses a resume whose schedule record does not say the steps `done` epochs took: the rate
/// would not continue where it stopped. A record without the count is from before schedules
/// existed, when the rate was constant.
fn check_schedule(
    config: &RunConfig,
    data: &celeba_data::LoadedData,
    record: &burn::optim::lr_scheduler::LrSchedulerRecord,
    run: &RunDir,
    done: usize,
) -> Result<()> {
    let file = state::state_file(&run.state_dir(), "scheduler", done);
    let steps = done * steps_per_epoch(config, data);
    match optim::steps_taken(record) {
        Some(taken) if taken != steps => bail!(
            "{} says {taken} optimizer steps were taken, but {done} epochs of this run are {steps}: the learning rate would not continue where it stopped",
            file.display()
        ),
        None if !config.train.is_constant_rate() => bail!(
            "{} holds no step count, which train.schedule and train.warmup_epochs need to continue",
            file.display()
        ),
        _ => Ok(()),
    }
}

/// Refuses a resume when the data set is not the one the run started with: another split
/// (`splits.json`) or files changed since (`sources.json`).
fn check_same_data(run: &RunDir, data: &celeba_data::LoadedData) -> Result<()> {
    let splits_path = run.file(layout::SPLITS);
    let recorded = crate::run_data::read_splits(run)?;
    let now = data.split_records();
    if recorded != now {
        let first = recorded
            .iter()
            .zip(&now)
            .position(|(a, b)| a != b)
            .unwrap_or(recorded.len().min(now.len()));
        let what = match (recorded.get(first), now.get(first)) {
            (Some(a), Some(b)) => format!(
                "entry {first} was {} ({:?}) and is now {} ({:?})",
                a.file, a.split, b.file, b.split
            ),
            (Some(a), None) => format!(
                "{} images fewer: the first missing is {}",
                recorded.len() - now.len(),
                a.file
            ),
            (None, Some(b)) => format!(
                "{} images more: the first new one is {}",
                now.len() - recorded.len(),
                b.file
            ),
            (None, None) => "they differ".into(),
        };
        bail!(
            "the data set is not the one this run trained on: the split differs from {} ({what}); resuming would train on other images. Restore the data, or start a new run",
            splits_path.display()
        );
    }
    crate::run_data::check_sources(run, true, Some(&data.source_files()))?;
    Ok(())
}
