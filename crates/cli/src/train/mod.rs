//! `arcface-lab train`: data, network, burn-train's `Learner`, the per-epoch snapshot hook.

mod batches;
mod guard;
mod hook;
mod init_from;
mod optim;
mod quiet_renderer;
mod resume;
mod state;
mod strategy;
mod tally;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use burn::data::dataloader::DataLoaderBuilder;
use burn::module::Module;
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::{Learner, SupervisedTraining, TrainingStrategy};
use run_folder::{RunState, RunStatus, SourceFiles, layout};

use crate::config::{RunConfig, memory};
use crate::device::{self, DeviceChoice};
use crate::run_dir::{MetricsRow, RunDir};
pub use batches::LabelledBatcher;
use celeba_data::EpochOrder;
use hook::{AngleInputs, EpochHook, Resumed};
pub(crate) use hook::{embed_in_order, host_values};
pub use init_from::check as check_init_from;
use quiet_renderer::QuietRenderer;
pub use resume::{ResumeRequest, resumable_key, resume};
use state::{EveryEpoch, Saved, StateFiles};
use strategy::{Schedule, SnapshotStrategy};

use crate::config::memory::EVAL_BATCH;

/// How `train` was asked to run.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Backend.
    pub device: DeviceChoice,
    /// Replace a run already in the folder.
    pub overwrite: bool,
}

/// Training stopped early by a signal or the dashboard: the run is marked `interrupted` and
/// can be resumed. `main` turns it into exit status 128 + signal.
#[derive(Debug)]
pub struct Interrupted {
    pub signal: i32,
    pub message: String,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Interrupted {}

/// A finished training.
#[derive(Debug)]
pub struct Trained {
    /// The run folder.
    pub run_dir: PathBuf,
    /// Best epoch and its validation loss.
    pub best: Option<(usize, f64)>,
    /// Validation accuracy of the last epoch.
    pub last_val_acc: f64,
    /// Training images per second over all epochs (training, validation and snapshots).
    pub images_per_second: f64,
    /// The last epoch's row of metrics.csv.
    pub last: Option<MetricsRow>,
    /// Images held out for open-set evaluation (0 when the data set holds none out).
    pub held_out: usize,
}

/// Trains `config` into a new run folder; pictures are drawn by the caller.
pub fn train(config: &RunConfig, options: &TrainOptions) -> Result<Trained> {
    let (choice, device) = device::open(options.device)?;
    eprintln!("device: {choice:?}");
    let data = load_data(config)?;
    // The config alone knows no class count for a CelebA or folder set without top_k or ids.
    let mut footprint = config.footprint();
    footprint.classes = data.classes.len() as u128;
    memory::check_fits(&footprint, memory::machine_memory())?;
    if config.train.freeze_backbone_epochs > 0 && config.train.init_from.is_none() {
        eprintln!(
            "warning: train.freeze_backbone_epochs = {} without train.init_from keeps the randomly initialised backbone for those epochs",
            config.train.freeze_backbone_epochs
        );
    }
    let start = match init_from::open(config, &data, &device)? {
        Some(source) => Start::InitFrom(source),
        None => Start::Seed,
    };
    let learner = new_learner(config, &data, &device, start)?;
    let sources = SourceFiles::stat(&data.source_files())
        .context("cannot read the data files' sizes and times")?;

    // Everything the user gave checks out: only now is the run folder touched.
    let run = RunDir::create(&config.run_dir(), options.overwrite)?;
    let state = RunState {
        status: RunStatus::Running,
        epochs_done: 0,
        epochs: config.train.epochs,
        best_epoch: None,
        best_val_loss: None,
        device: format!("{choice:?}").to_lowercase(),
        pid: None,
        host: None,
        resumed: 0,
    };
    run.write_state(&state)?;
    run.write_config(&config.to_toml()?)?;
    run.write_classes(&data.classes)?;
    run.write_labels("train", &data.train.labels())?;
    run.write_labels("val", &data.val.labels())?;
    if !data.held_out.is_empty() {
        run.write_labels("held_out", &data.held_out.labels())?;
        run.write_held_out_classes(&data.held_out_classes)?;
    }
    run.write_splits(&data.splits_json())?;
    sources.write(&run.file(layout::SOURCES))?;
    if !data.skipped.is_empty() {
        run.write_skipped(
            &serde_json::to_string_pretty(&data.skipped)
                .context("cannot serialise skipped.json")?,
        )?;
    }
    fit(config, &data, (choice, &device), run, state, learner, None)
}

/// Where a learner's weights come from.
enum Start {
    /// The run's seed.
    Seed,
    /// `train.init_from`'s run, over the seed's weights for what it does not give.
    InitFrom(init_from::InitFrom),
    /// The model record of a resumed run's last finished epoch.
    Resume(burn::store::ModuleRecord),
}

/// Optimizer steps in an epoch of `config` on `data` (a last, smaller batch included).
fn steps_per_epoch(config: &RunConfig, data: &celeba_data::LoadedData) -> usize {
    data.train.len().div_ceil(config.train.batch_size.max(1))
}

/// The learner of `config` on `device`: the network as `start` says, and a fresh optimizer
/// and learning-rate schedule (a resume loads their records over them).
fn new_learner(
    config: &RunConfig,
    data: &celeba_data::LoadedData,
    device: &burn::tensor::Device,
    start: Start,
) -> Result<Learner<arcface_core::EmbeddingNet>> {
    device.seed(config.seed);
    let network = config.network(data.classes.len(), data.shape);
    if !matches!(start, Start::Resume(_)) {
        for advice in network.head.advice() {
            eprintln!(
                "warning: model.{} = {}: {}; try model.{} = {:.3}",
                advice.key, advice.value, advice.reason, advice.key, advice.suggested
            );
        }
    }
    // Parameters created on the autodiff device are the ones that track gradients.
    let mut model = network
        .init(&device.clone().autodiff())
        .context("the [model] section cannot be built for this data set")?;
    match start {
        Start::Seed => {}
        Start::InitFrom(source) => model = source.apply(model)?,
        Start::Resume(weights) => {
            model = model
                .try_load_record(weights)
                .context("the resume state does not fit the run's [model]")?;
        }
    }
    Ok(Learner::new(
        model,
        optim::optimizer(&config.train),
        optim::LrSchedule::new(&config.train, steps_per_epoch(config, data)),
    ))
}

/// Loads the data set of `config`, saying what it found.
fn load_data(config: &RunConfig) -> Result<celeba_data::LoadedData> {
    eprintln!("data: {}", celeba_data::describe(&config.data));
    let data = celeba_data::load(&config.data, config.seed).context("cannot load the data set")?;
    report_data(&data);
    if data.val.is_empty() {
        bail!("the validation split is empty: raise data.val_fraction or add images");
    }
    Ok(data)
}

fn report_data(data: &celeba_data::LoadedData) {
    eprintln!(
        "  {} classes, {} training and {} validation images of {:?} (channels, height, width)",
        data.classes.len(),
        data.train.len(),
        data.val.len(),
        data.shape
    );
    for warning in &data.warnings {
        eprintln!("warning: {warning}");
    }
    if let Some(cache) = &data.cache {
        eprintln!(
            "  image cache: {} ({})",
            cache.path.display(),
            if cache.built { "built now" } else { "reused" }
        );
    }
    if !data.held_out.is_empty() {
        eprintln!(
            "  held out for open-set evaluation: {} images of {} identities",
            data.held_out.len(),
            data.held_out_classes.len()
        );
    }
}

/// Trains epochs `state.epochs_done + 1 ..= config.train.epochs` of the run in `run`.
fn fit(
    config: &RunConfig,
    data: &celeba_data::LoadedData,
    (choice, device): (DeviceChoice, &burn::tensor::Device),
    run: RunDir,
    state: RunState,
    learner: Learner<arcface_core::EmbeddingNet>,
    resumed: Option<Resumed>,
) -> Result<Trained> {
    let first_epoch = state.epochs_done + 1;
    eprintln!("optimizer: {}", config.train.describe());
    let train_batcher = match config.data.augment() {
        Some(augment) => LabelledBatcher::augmenting(augment, config.seed, state.epochs_done),
        None => LabelledBatcher::default(),
    };
    let order = EpochOrder::new(data.train.clone(), config.seed);
    let order_handle = order.handle();
    let train_loader = DataLoaderBuilder::new(train_batcher)
        .batch_size(config.train.batch_size)
        .num_workers(config.train.num_workers.max(1))
        .build(order);
    // One worker keeps the batches in dataset order, which the snapshots rely on.
    let valid_loader = DataLoaderBuilder::new(LabelledBatcher::default())
        .batch_size(EVAL_BATCH)
        .num_workers(1)
        .build(data.val.clone());
    let train_in_order = DataLoaderBuilder::new(LabelledBatcher::default())
        .batch_size(EVAL_BATCH)
        .num_workers(1)
        .set_device(device.clone())
        .build(data.train.clone());

    let held_out_in_order = (!data.held_out.is_empty()).then(|| {
        DataLoaderBuilder::new(LabelledBatcher::default())
            .batch_size(EVAL_BATCH)
            .num_workers(1)
            .set_device(device.clone())
            .build(data.held_out.clone())
    });

    let hook = Arc::new(Mutex::new(EpochHook::new(
        run.clone(),
        train_in_order,
        held_out_in_order,
        state,
        AngleInputs {
            train_labels: data.train.labels(),
            val_labels: data.val.labels(),
            margin: config.model.head.angular_margin(),
        },
        resumed,
    )));
    let saved = Arc::new(Saved::default());
    let strategy = SnapshotStrategy::new(
        device.clone(),
        hook.clone(),
        Schedule {
            batch_size: config.train.batch_size,
            first_epoch,
            seed: config.seed,
            order: order_handle,
            saved: saved.clone(),
            freeze_backbone_epochs: config.train.freeze_backbone_epochs,
            spin_wait: choice.spin_wait(),
        },
    );
    let state_dir = run.state_dir();
    let mut training = SupervisedTraining::new(run.root().join("burn"), train_loader, valid_loader)
        .num_epochs(config.train.epochs)
        .with_custom_checkpointers(
            StateFiles::new(&state_dir, "model", saved.clone()),
            StateFiles::new(&state_dir, "optim", saved.clone()),
            StateFiles::new(&state_dir, "scheduler", saved.clone()),
        )
        .with_checkpointing_strategy(EveryEpoch)
        .with_training_strategy(TrainingStrategy::Custom(Arc::new(strategy)));
    if std::io::stdout().is_terminal() {
        // The dashboard's live loss and accuracy read every step back to the host; without a
        // terminal nobody watches them and the epoch tally (summed on the device) suffices.
        training = training.metrics((LossMetric::new(), AccuracyMetric::new()));
    } else {
        training = training.renderer(Box::new(QuietRenderer));
    }

    let started = std::time::Instant::now();
    let armed = crate::signals::arm()?;
    let result = training.launch(learner);
    drop(armed);
    let seconds = started.elapsed().as_secs_f64();

    let mut hook = hook
        .lock()
        .map_err(|_| anyhow::anyhow!("the epoch hook panicked"))?;
    let resume_hint = format!("arcface-lab train --resume {}", run.root().display());
    if let Some(err) = hook.take_error() {
        if hook.status().status != RunStatus::Diverged {
            let mut state = hook.status().clone();
            state.status = RunStatus::Failed;
            run.write_state(&state)?;
        }
        return Err(err.context(format!(
            "training stopped; the epochs before are kept in {} (after fixing the cause: {resume_hint})",
            run.root().display()
        )));
    }
    if let Some(err) = result.error {
        let mut state = hook.status().clone();
        state.status = RunStatus::Failed;
        run.write_state(&state)?;
        bail!(
            "training failed: {err}; the epochs before are kept in {} (after fixing the cause: {resume_hint})",
            run.root().display()
        );
    }
    let mut state = hook.status().clone();
    if state.epochs_done < config.train.epochs {
        state.status = RunStatus::Interrupted;
        run.write_state(&state)?;
        let signal = crate::signals::received().unwrap_or(signal_hook::consts::SIGINT);
        let why = match crate::signals::received() {
            Some(s) => format!("{} received", crate::signals::name(s)),
            None => "stopped from the dashboard".into(),
        };
        return Err(Interrupted {
            signal,
            message: format!(
                "training interrupted ({why}) after {} of {} epochs; {} keeps them; continue with `{resume_hint}`",
                state.epochs_done,
                config.train.epochs,
                run.root().display()
            ),
        }
        .into());
    }
    state.status = RunStatus::Finished;
    run.write_state(&state)?;
    let images = (data.train.len() * (state.epochs_done + 1 - first_epoch)) as f64;
    Ok(Trained {
        run_dir: run.root().to_path_buf(),
        best: state.best_epoch.zip(state.best_val_loss),
        last_val_acc: hook.rows().last().map(|r| r.val_acc).unwrap_or(f64::NAN),
        images_per_second: images / seconds.max(1e-9),
        last: hook.rows().last().copied(),
        held_out: data.held_out.len(),
    })
}

/// A finished run's figures, read back from its folder (`compare --resume` keeps such heads).
pub fn trained_of(dir: &std::path::Path) -> Result<Trained> {
    let state = crate::run_dir::current_state(dir)?;
    let rows = run_folder::read_metrics(&dir.join(layout::METRICS))?;
    let labels = dir
        .join(layout::EMBEDDINGS)
        .join("held_out")
        .join("labels.npy");
    let held_out = if labels.exists() {
        viz::read_npy_i64(&labels)
            .with_context(|| format!("cannot read {}", labels.display()))?
            .0
            .len()
    } else {
        0
    };
    Ok(Trained {
        run_dir: dir.to_path_buf(),
        best: state.best_epoch.zip(state.best_val_loss),
        last_val_acc: rows.last().map_or(f64::NAN, |r| r.val_acc),
        images_per_second: f64::NAN,
        last: rows.last().copied(),
        held_out,
    })
}
