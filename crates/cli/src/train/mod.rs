//! `arcface-lab train`: data, network, burn-train's `Learner`, the per-epoch snapshot hook.

mod batches;
mod guard;
mod hook;
mod quiet_renderer;
mod strategy;
mod tally;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use burn::data::dataloader::DataLoaderBuilder;
use burn::optim::AdamConfig;
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::{Learner, SupervisedTraining, TrainingStrategy};

use crate::config::RunConfig;
use crate::device::{self, DeviceChoice};
use crate::run_dir::{MetricsRow, RunDir, RunStatus};
pub use batches::LabelledBatcher;
pub(crate) use hook::embed_in_order;
use hook::{AngleInputs, EpochHook};
use quiet_renderer::QuietRenderer;
use strategy::SnapshotStrategy;

/// Eval-mode passes (validation, snapshots) have no backward and no batch statistics, so their
/// batch size only trades memory for speed.
const EVAL_BATCH: usize = 256;

/// How `train` was asked to run.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Backend.
    pub device: DeviceChoice,
    /// Replace a run already in the folder.
    pub overwrite: bool,
}

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

/// Trains `config` and leaves a run folder; pictures are drawn by the caller.
pub fn train(config: &RunConfig, options: &TrainOptions) -> Result<Trained> {
    let (choice, device) = device::open(options.device)?;
    eprintln!("device: {choice:?}");
    eprintln!("data: {}", celeba_data::describe(&config.data));
    let data = celeba_data::load(&config.data, config.seed).context("cannot load the data set")?;
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
    if data.val.is_empty() {
        bail!("the validation split is empty: raise data.val_fraction or add images");
    }
    device.seed(config.seed);
    let network = config.network(data.classes.len(), data.shape);
    for advice in network.head.advice() {
        eprintln!(
            "warning: model.{} = {}: {}; try model.{} = {:.3}",
            advice.key, advice.value, advice.reason, advice.key, advice.suggested
        );
    }
    // Parameters created on the autodiff device are the ones that track gradients.
    let model = network
        .init(&device.clone().autodiff())
        .context("the [model] section cannot be built for this data set")?;

    // Everything the user gave checks out: only now is the run folder touched.
    let run = RunDir::create(&config.run_dir(), options.overwrite)?;
    let status = RunStatus {
        status: "running".into(),
        epochs_done: 0,
        epochs: config.train.epochs,
        best_epoch: None,
        best_val_loss: None,
        device: format!("{choice:?}").to_lowercase(),
    };
    run.write_status(&status)?;
    run.write_config(&config.to_toml()?)?;
    run.write_classes(&data.classes)?;
    run.write_labels("train", &data.train.labels())?;
    run.write_labels("val", &data.val.labels())?;
    if !data.held_out.is_empty() {
        run.write_labels("held_out", &data.held_out.labels())?;
        run.write_held_out_classes(&data.held_out_classes)?;
    }
    run.write_splits(&data.splits_json())?;
    if !data.skipped.is_empty() {
        run.write_skipped(
            &serde_json::to_string_pretty(&data.skipped)
                .context("cannot serialise skipped.json")?,
        )?;
    }

    let train_batcher = match config.data.augment() {
        Some(augment) => LabelledBatcher::augmenting(augment, config.seed),
        None => LabelledBatcher::default(),
    };
    let train_loader = DataLoaderBuilder::new(train_batcher)
        .batch_size(config.train.batch_size)
        .shuffle(config.seed)
        .num_workers(config.train.num_workers.max(1))
        .build(data.train.clone());
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
        config.train.lr,
        status,
        AngleInputs {
            train_labels: data.train.labels(),
            val_labels: data.val.labels(),
            margin: config.model.angular_margin(),
        },
    )));
    let strategy = SnapshotStrategy::new(device.clone(), hook.clone(), config.train.batch_size);
    let learner = Learner::new(model, AdamConfig::new().init(), config.train.lr);
    let mut training = SupervisedTraining::new(run.root().join("burn"), train_loader, valid_loader)
        .num_epochs(config.train.epochs)
        .with_training_strategy(TrainingStrategy::Custom(Arc::new(strategy)));
    if std::io::stdout().is_terminal() {
        // The dashboard's live loss and accuracy read every step back to the host; without a
        // terminal nobody watches them and the epoch tally (summed on the device) suffices.
        training = training.metrics((LossMetric::new(), AccuracyMetric::new()));
    } else {
        training = training.renderer(Box::new(QuietRenderer));
    }

    let started = std::time::Instant::now();
    let result = training.launch(learner);
    let seconds = started.elapsed().as_secs_f64();

    let mut hook = hook
        .lock()
        .map_err(|_| anyhow::anyhow!("the epoch hook panicked"))?;
    if let Some(err) = hook.take_error() {
        return Err(err.context(format!(
            "training stopped; the epochs before are kept in {}",
            run.root().display()
        )));
    }
    if let Some(err) = result.error {
        bail!(
            "training failed: {err}; the epochs before are kept in {}",
            run.root().display()
        );
    }
    let mut status = hook.status().clone();
    if status.epochs_done < config.train.epochs {
        status.status = "interrupted".into();
        run.write_status(&status)?;
        bail!(
            "training was interrupted after {} of {} epochs; what was done is in {}",
            status.epochs_done,
            config.train.epochs,
            run.root().display()
        );
    }
    status.status = "finished".into();
    run.write_status(&status)?;
    let images = (data.train.len() * status.epochs_done) as f64;
    Ok(Trained {
        run_dir: run.root().to_path_buf(),
        best: status.best_epoch.zip(status.best_val_loss),
        last_val_acc: hook.rows().last().map(|r| r.val_acc).unwrap_or(f64::NAN),
        images_per_second: images / seconds.max(1e-9),
        last: hook.rows().last().copied(),
        held_out: data.held_out.len(),
    })
}
