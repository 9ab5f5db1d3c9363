use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arcface_core::EmbeddingNet;
use burn::data::dataloader::{DataLoader, Progress};
use burn::prelude::*;
use burn::train::{
    EventProcessorTraining, Interrupter, Learner, LearnerEvent, SupervisedLearningStrategy,
    SupervisedTrainingEventProcessor, TrainLoader, TrainingComponents, TrainingItem, ValidLoader,
};

use super::guard::{FIXES, LossWatch, kept};
use super::hook::{EpochClock, EpochHook, EpochTotals};
use super::state::Saved;
use super::tally::Tally;
use celeba_data::{EpochOrderHandle, epoch_seed};

/// Salt of the per-epoch seed of the device's random draws (dropout).
const DROPOUT_SALT: u64 = 0xD80;

/// burn-train's single-device loop with an embedding snapshot at the end of every epoch.
///
/// burn-train's own `SingleDeviceTrainingStrategy` offers no per-epoch callback with the model,
/// and its epoch runners are private, so this strategy repeats its loop (train split, validation
/// split, `EndEpoch`) and adds two things: the validation pass also keeps the eval-mode
/// embeddings (so the validation set is forwarded once, not twice), and after it the
/// [`EpochHook`] embeds the training set in eval mode and writes the snapshot, the metrics row
/// and the checkpoints.
///
/// Everything random in an epoch is drawn from (seed, epoch): the batch order
/// ([`EpochOrderHandle`]) and the device's stream (dropout), reseeded at the start of every
/// epoch. With the model, Adam's state and the scheduler restored from the resume state, a run
/// resumed after epoch `k` trains epoch `k + 1` as an uninterrupted one would.
pub struct SnapshotStrategy {
    device: Device,
    hook: Arc<Mutex<EpochHook>>,
    batch_size: usize,
    /// The first epoch to train (1, or one after the last finished epoch of a resumed run).
    first_epoch: usize,
    seed: u64,
    order: EpochOrderHandle,
    saved: Arc<Saved>,
    /// The backbone is not updated in epochs `1..=freeze_backbone_epochs`.
    freeze_backbone_epochs: usize,
    /// burn-train's terminal dashboard is on.
    dashboard: bool,
    /// How long rayon's threads spin for work after each step asks them to (CPU only).
    spin_wait: Option<Duration>,
}

/// What the strategy needs beyond the device and the hook.
pub struct Schedule {
    pub batch_size: usize,
    pub first_epoch: usize,
    pub seed: u64,
    pub order: EpochOrderHandle,
    pub saved: Arc<Saved>,
    pub freeze_backbone_epochs: usize,
    /// [`crate::device::DeviceChoice::spin_wait`] of the training device.
    pub spin_wait: Option<Duration>,
}

impl SnapshotStrategy {
    pub fn new(device: Device, hook: Arc<Mutex<EpochHook>>, schedule: Schedule) -> Self {
        Self {
            device,
            hook,
            batch_size: schedule.batch_size,
            first_epoch: schedule.first_epoch,
            seed: schedule.seed,
            order: schedule.order,
            saved: schedule.saved,
            freeze_backbone_epochs: schedule.freeze_backbone_epochs,
            dashboard: std::io::IsTerminal::is_terminal(&std::io::stdout()),
            spin_wait: schedule.spin_wait,
        }
    }

    /// Stops at the end of the current step when a signal asked for it.
    fn stop_on_signal(&self, interrupter: &Interrupter) {
        if let Some(signal) = crate::signals::received()
            && !interrupter.should_stop()
        {
            interrupter.stop(Some(&format!("{} received", crate::signals::name(signal))));
        }
    }

    /// Stops training because the loss at `bad_step` of `steps` turned NaN or infinite; the
    /// hook marks the run `diverged` and keeps the message for the caller.
    fn diverge(
        &self,
        interrupter: &Interrupter,
        (bad_step, value): (usize, f32),
        epoch: usize,
        steps: usize,
    ) {
        let message = format!(
            "the training loss became {value} at epoch {epoch}, step {bad_step} of {steps}; {} ({FIXES})",
            kept(epoch)
        );
        if let Ok(mut hook) = self.hook.lock() {
            hook.diverged(anyhow::anyhow!(message.clone()));
        }
        interrupter.stop(Some(&message));
    }

    /// Hands the batches of `loader` to `step` with their progress and 1-based iteration,
    /// until they run out, one fails to load (the interrupter keeps the error), `step` returns
    /// false, or a stop is asked for (a signal included).
    fn each_batch<B>(
        &self,
        loader: &dyn DataLoader<B>,
        interrupter: &Interrupter,
        mut step: impl FnMut(B, Progress, usize) -> bool,
    ) {
        let mut iterator = loader.iter();
        let mut iteration = 0;
        while let Some(batch) = iterator.next() {
            let batch = match batch {
                Ok(batch) => batch,
                Err(err) => {
                    interrupter.fail(err);
                    break;
                }
            };
            iteration += 1;
            let progress = iterator.progress();
            if let Some(idle) = self.spin_wait {
                // The step's parallel sections then start on both threads at once.
                kernels::keep_pool_warm(idle);
            }
            if !step(batch, progress, iteration) {
                break;
            }
            self.stop_on_signal(interrupter);
            if interrupter.should_stop() {
                break;
            }
        }
    }
}

impl SupervisedLearningStrategy<EmbeddingNet> for SnapshotStrategy {
    fn fit(
        &self,
        components: TrainingComponents<EmbeddingNet>,
        mut learner: Learner<EmbeddingNet>,
        dataloader_train: TrainLoader<EmbeddingNet>,
        dataloader_valid: ValidLoader<EmbeddingNet>,
        _starting_epoch: usize,
    ) -> (EmbeddingNet, SupervisedTrainingEventProcessor<EmbeddingNet>) {
        let train_device = self.device.clone().autodiff();
        let dataloader_train = dataloader_train.to_device(&train_device);
        let dataloader_valid = dataloader_valid.to_device(&self.device);
        learner.fork(&train_device);
        let interrupter = components.interrupter.clone();
        let mut processor = components.event_processor;
        let total = components.num_epochs;
        let mut checkpointer = components.checkpointer;
        let event_store = components.event_store;

        for epoch in self.first_epoch..=total {
            let started = Instant::now();
            self.order.set_epoch(epoch);
            self.device.seed(epoch_seed(self.seed, epoch, DROPOUT_SALT));
            self.stop_on_signal(&interrupter);
            if interrupter.should_stop() {
                break;
            }

            // Training split.
            interrupter.fail_on_error(processor.process_train(LearnerEvent::StartSplit {
                epoch_number: epoch,
                total_items: dataloader_train.num_items(),
            }));
            let mut train_tally = Tally::default();
            let mut watch = LossWatch::default();
            // The rate of the epoch's first step, for metrics.csv.
            let mut epoch_lr = f64::NAN;
            let frozen = epoch <= self.freeze_backbone_epochs;
            let steps = dataloader_train
                .num_items()
                .div_ceil(self.batch_size.max(1));
            self.each_batch(
                &*dataloader_train,
                &interrupter,
                |batch, progress, iteration| {
                    if iteration == 1 && self.dashboard {
                        // The dashboard's thread has set raw mode by now.
                        crate::signals::ctrl_c_on_dashboard();
                    }
                    // A frozen backbone's backward pass is not even computed.
                    let step = if frozen {
                        learner.model().head_step(batch)
                    } else {
                        learner.train_step(batch)
                    };
                    learner.lr_step();
                    if iteration == 1 {
                        epoch_lr = learner.lr_current().base();
                    }
                    learner.optimizer_step(step.grads);
                    train_tally.add(&step.item);
                    if let Some(bad) = watch.push(&step.item, iteration) {
                        self.diverge(&interrupter, bad, epoch, steps);
                        return false;
                    }
                    let item = TrainingItem::new(
                        step.item,
                        progress,
                        Some(iteration),
                        Some(learner.lr_current()),
                    );
                    interrupter
                        .fail_on_error(processor.process_train(LearnerEvent::ProcessedItem(item)));
                    true
                },
            );
            if !interrupter.should_stop()
                && let Some(bad) = watch.check()
            {
                self.diverge(&interrupter, bad, epoch, steps);
            }
            interrupter.fail_on_error(processor.process_train(LearnerEvent::EndSplit(epoch)));
            if interrupter.should_stop() {
                break;
            }
            let train_done = Instant::now();

            // Validation split, in eval mode, keeping the embeddings.
            interrupter.fail_on_error(processor.process_valid(LearnerEvent::StartSplit {
                epoch_number: epoch,
                total_items: dataloader_valid.num_items(),
            }));
            let model = learner.model().valid();
            let mut val_tally = Tally::default();
            let mut val_embeddings = Vec::new();
            self.each_batch(
                &*dataloader_valid,
                &interrupter,
                |batch, progress, iteration| {
                    let forward = model.forward(batch);
                    val_tally.add(&forward.output);
                    val_embeddings.push(forward.embeddings);
                    let item = TrainingItem::new(forward.output, progress, Some(iteration), None);
                    interrupter
                        .fail_on_error(processor.process_valid(LearnerEvent::ProcessedItem(item)));
                    true
                },
            );
            interrupter.fail_on_error(processor.process_valid(LearnerEvent::EndSplit(epoch)));
            interrupter.fail_on_error(processor.process_train(LearnerEvent::EndEpoch(epoch)));
            if interrupter.should_stop() {
                break;
            }

            let outcome = match self.hook.lock() {
                Ok(mut hook) => hook.on_epoch_end(
                    epoch,
                    &model,
                    val_embeddings,
                    EpochTotals {
                        train: train_tally.finish(),
                        val: val_tally.finish(),
                        lr: epoch_lr,
                    },
                    EpochClock {
                        started,
                        train_done,
                        val_done: Instant::now(),
                    },
                ),
                Err(_) => Err(anyhow::anyhow!(
                    "the epoch hook panicked in an earlier epoch"
                )),
            };
            // The epoch's files are written; its resume state goes next, and only then does
            // run.json name it as done.
            let outcome = outcome.and_then(|()| {
                let checkpointer = checkpointer
                    .as_mut()
                    .ok_or_else(|| anyhow::anyhow!("no resume-state writer was set up"))?;
                checkpointer.checkpoint(&learner, epoch, &event_store);
                self.saved.wait(epoch)?;
                match self.hook.lock() {
                    Ok(mut hook) => hook.commit(epoch, &model),
                    Err(_) => Err(anyhow::anyhow!("the epoch hook panicked")),
                }
            });
            if let Err(err) = outcome {
                let message = format!("{err:#}");
                if let Ok(mut hook) = self.hook.lock() {
                    hook.fail(err);
                }
                interrupter.stop(Some(&message));
                break;
            }
        }

        (learner.model(), processor)
    }
}
