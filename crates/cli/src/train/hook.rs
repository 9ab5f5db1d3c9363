use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use arcface_core::{EmbeddingNet, LabelledBatch};
use burn::data::dataloader::DataLoader;
use burn::prelude::*;
use embed_metrics::{HIST_BINS, HIST_STEP_DEG, angle_stats, min_center_angle_deg};

use super::guard::{FIXES, first_non_finite, kept, non_finite_parameter};
use super::tally::SplitStats;
use run_folder::{RunState, RunStatus};

use crate::run_dir::{MetricsRow, RunDir, split_angles};

/// What happens at the end of every epoch: the eval-mode embeddings of both splits (and of
/// the held-out identities, when the data set has some) and the class centres are written as
/// `.npy`, the metrics row is appended, `checkpoints/last.bpk` is
/// replaced and, when the validation loss is the lowest so far, `checkpoints/best.bpk` too.
/// When the phases of an epoch ended, for the per-epoch line.
#[derive(Debug, Clone, Copy)]
pub struct EpochClock {
    pub started: Instant,
    pub train_done: Instant,
    pub val_done: Instant,
}

/// An epoch's loss and accuracy on both splits, and the rate of its first optimizer step.
#[derive(Debug, Clone, Copy)]
pub struct EpochTotals {
    pub train: SplitStats,
    pub val: SplitStats,
    pub lr: f64,
}

pub struct EpochHook {
    run: RunDir,
    /// The training split in its fixed order (no shuffle), on the non-autodiff device.
    train_in_order: Arc<dyn DataLoader<LabelledBatch>>,
    /// The held-out identities' images in split order, when there are any.
    held_out_in_order: Option<Arc<dyn DataLoader<LabelledBatch>>>,
    rows: Vec<MetricsRow>,
    status: RunState,
    /// Whether the epoch written last lowered the validation loss (best.bpk follows at commit).
    improved: bool,
    print_lines: bool,
    error: Option<anyhow::Error>,
    /// Class labels of the training split (in order) and of the validation split.
    labels: [Vec<i64>; 2],
    /// The head's additive angular margin, for the `theta + m > pi` share.
    margin: f64,
    /// `angles.csv` and `class_angles.csv` so far.
    angle_table: String,
    class_table: String,
}

/// Labels and margin the angle diagnostics need.
pub struct AngleInputs {
    pub train_labels: Vec<i64>,
    pub val_labels: Vec<i64>,
    pub margin: f64,
}

impl EpochHook {
    pub fn new(
        run: RunDir,
        train_in_order: Arc<dyn DataLoader<LabelledBatch>>,
        held_out_in_order: Option<Arc<dyn DataLoader<LabelledBatch>>>,
        status: RunState,
        angles: AngleInputs,
        resumed: Option<Resumed>,
    ) -> Self {
        let bins: Vec<String> = (0..HIST_BINS)
            .map(|b| format!("deg_{}", b as f64 * HIST_STEP_DEG))
            .collect();
        let (rows, angle_table, class_table) = match resumed {
            Some(r) => (r.rows, r.angle_table, r.class_table),
            None => (
                Vec::new(),
                format!("epoch,split,{}\n", bins.join(",")),
                "epoch,split,class,count,mean_deg,p95_deg\n".into(),
            ),
        };
        Self {
            labels: [angles.train_labels, angles.val_labels],
            margin: angles.margin,
            angle_table,
            class_table,
            run,
            train_in_order,
            held_out_in_order,
            rows,
            status,
            improved: false,
            // The dashboard owns a terminal; elsewhere one line per epoch is the progress report.
            print_lines: !std::io::stdout().is_terminal(),
            error: None,
        }
    }

    pub fn on_epoch_end(
        &mut self,
        epoch: usize,
        model: &EmbeddingNet,
        val_embeddings: Vec<Tensor<2>>,
        totals: EpochTotals,
        clock: EpochClock,
    ) -> Result<()> {
        let EpochTotals { train, val, lr } = totals;
        let dim = model.head.centers().dims()[1];
        let train_points = embed_in_order(model, self.train_in_order.as_ref())?;
        let val_points = read_rows(val_embeddings)?;
        let held_out_points = match &self.held_out_in_order {
            Some(loader) => Some(embed_in_order(model, loader.as_ref())?),
            None => None,
        };
        let centers = host_values(model.head.centers(), "the class centres")?;
        let what = self
            .non_finite(model, &train_points, &val_points, &centers, dim, val)
            .or_else(|| {
                let i = held_out_points.as_deref().and_then(first_non_finite)?;
                Some(format!(
                    "the embedding of held-out image {} is not finite",
                    i / dim.max(1)
                ))
            });
        if let Some(what) = what {
            let message = format!(
                "{what} at the end of epoch {epoch}; {} ({FIXES})",
                kept(epoch)
            );
            self.diverged(anyhow::anyhow!(message.clone()));
            bail!(message);
        }
        self.run
            .write_embeddings("train", epoch, &train_points, dim)?;
        self.run.write_embeddings("val", epoch, &val_points, dim)?;
        if let Some(points) = &held_out_points {
            self.run.write_embeddings("held_out", epoch, points, dim)?;
        }
        self.run.write_embeddings("centers", epoch, &centers, dim)?;

        let improved =
            val.loss.is_finite() && self.status.best_val_loss.is_none_or(|best| val.loss < best);
        self.improved = improved;

        let train_angles = angle_stats(&train_points, &self.labels[0], &centers, dim, self.margin);
        let val_angles = angle_stats(&val_points, &self.labels[1], &centers, dim, self.margin);
        for (split, stats) in [("train", &train_angles), ("val", &val_angles)] {
            let counts: Vec<String> = stats.histogram.iter().map(u64::to_string).collect();
            self.angle_table
                .push_str(&format!("{epoch},{split},{}\n", counts.join(",")));
            for (class, c) in stats.per_class.iter().enumerate() {
                self.class_table.push_str(&format!(
                    "{epoch},{split},{class},{},{:.3},{:.3}\n",
                    c.count, c.mean_deg, c.p95_deg
                ));
            }
        }
        self.run
            .write_angle_tables(&self.angle_table, &self.class_table)?;

        let row = MetricsRow {
            epoch,
            train_loss: train.loss,
            val_loss: val.loss,
            train_acc: train.accuracy,
            val_acc: val.accuracy,
            lr,
            seconds: clock.started.elapsed().as_secs_f64(),
            train_angles: split_angles(&train_angles),
            val_angles: split_angles(&val_angles),
            center_min_deg: min_center_angle_deg(&centers, dim),
        };
        self.rows.push(row);
        self.run.write_metrics(&self.rows)?;
        if self.print_lines {
            println!(
                "epoch {:>3}/{}  train loss {:.4} acc {:5.1}%  val loss {:.4} acc {:5.1}%  {:.1}s (train {:.1}, val {:.1}, snapshot {:.1}){}",
                epoch,
                self.status.epochs,
                row.train_loss,
                100.0 * row.train_acc,
                row.val_loss,
                100.0 * row.val_acc,
                row.seconds,
                (clock.train_done - clock.started).as_secs_f64(),
                (clock.val_done - clock.train_done).as_secs_f64(),
                clock.val_done.elapsed().as_secs_f64(),
                if improved { "  (best)" } else { "" }
            );
        }
        Ok(())
    }

    /// Ends epoch `epoch` once its resume state is on disk: `run.json` names it as done, then
    /// `last.bpk` (and `best.bpk` when it improved) follow. A crash before `run.json` leaves the
    /// epoch to be redone by a resume; one after it leaves at worst a stale `last.bpk`/`best.bpk`,
    /// which the resume rewrites from the resume state.
    pub fn commit(&mut self, epoch: usize, model: &EmbeddingNet) -> Result<()> {
        let val_loss = self.rows.last().map(|r| r.val_loss);
        self.status.epochs_done = epoch;
        if epoch >= self.status.epochs {
            // Said now, not after `launch` returns: the dashboard may wait for a key press
            // first, and a kill there must not leave a finished run looking unfinished.
            self.status.status = RunStatus::Finished;
        }
        if self.improved {
            self.status.best_epoch = Some(epoch);
            self.status.best_val_loss = val_loss;
        }
        self.run.write_state(&self.status)?;
        save_model(model, &self.run.checkpoint("last"))?;
        if self.improved {
            crate::run_dir::copy_atomic(
                &self.run.checkpoint("last"),
                &self.run.checkpoint("best"),
            )?;
        }
        Ok(())
    }

    /// What turned NaN or infinite this epoch, if anything: the validation loss, a weight, an
    /// embedding or a class centre.
    fn non_finite(
        &self,
        model: &EmbeddingNet,
        train_points: &[f32],
        val_points: &[f32],
        centers: &[f32],
        dim: usize,
        val: SplitStats,
    ) -> Option<String> {
        let row = |i: usize| i / dim.max(1);
        if let Some(i) = first_non_finite(train_points) {
            return Some(format!(
                "the embedding of training image {} is not finite",
                row(i)
            ));
        }
        if let Some(i) = first_non_finite(val_points) {
            return Some(format!(
                "the embedding of validation image {} is not finite",
                row(i)
            ));
        }
        if let Some(i) = first_non_finite(centers) {
            return Some(format!("the centre of class {} is not finite", row(i)));
        }
        if let Some(path) = non_finite_parameter(model) {
            return Some(format!("the weight {path} is not finite"));
        }
        (!val.loss.is_finite()).then(|| format!("the validation loss is {}", val.loss))
    }

    /// Marks the run `diverged` in run.json and keeps `err` for the caller.
    pub fn diverged(&mut self, err: anyhow::Error) {
        self.status.status = RunStatus::Diverged;
        if let Err(write) = self.run.write_state(&self.status) {
            eprintln!("warning: {write:#}");
        }
        self.fail(err);
    }

    /// Keeps the error that stopped training, for the caller of `launch`.
    pub fn fail(&mut self, err: anyhow::Error) {
        self.error.get_or_insert(err);
    }

    pub fn take_error(&mut self) -> Option<anyhow::Error> {
        self.error.take()
    }

    pub fn status(&self) -> &RunState {
        &self.status
    }

    pub fn rows(&self) -> &[MetricsRow] {
        &self.rows
    }
}

/// Eval-mode embeddings of every batch of `loader`, in its order.
pub(crate) fn embed_in_order(
    model: &EmbeddingNet,
    loader: &dyn DataLoader<LabelledBatch>,
) -> Result<Vec<f32>> {
    let mut parts = Vec::new();
    for batch in loader.iter() {
        // burn's DatasetError prints the error it wraps and also returns it as its source:
        // formatted here, so that the cause prints once.
        let batch = batch.map_err(|e| anyhow::anyhow!("cannot load a batch to embed: {e}"))?;
        parts.push(model.embed(batch.images));
    }
    read_rows(parts)
}

fn read_rows(parts: Vec<Tensor<2>>) -> Result<Vec<f32>> {
    if parts.is_empty() {
        bail!("a split is empty: nothing to embed");
    }
    host_values(Tensor::cat(parts, 0), "embeddings")
}

/// The values of `tensor` (of `what`), read back from its device.
pub(crate) fn host_values<const D: usize>(tensor: Tensor<D>, what: &str) -> Result<Vec<f32>> {
    // burn's DataError prints the error it wraps and also returns it as its source (for a
    // storage access): formatted here, so that the cause prints once.
    tensor
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("cannot read {what} back from the device: {e}"))
}

/// Writes `model`'s weights to `path` (through a temp file, a flush and a rename).
pub(crate) fn save_model(model: &EmbeddingNet, path: &std::path::Path) -> Result<()> {
    let pending = run_folder::PendingFile::new(path)?;
    model
        .clone()
        .into_record()
        .save(pending.path())
        .with_context(|| format!("cannot save the model to {}", pending.path().display()))?;
    pending.commit_durable()?;
    Ok(())
}

/// What a resumed run takes over from its finished epochs.
pub struct Resumed {
    pub rows: Vec<MetricsRow>,
    pub angle_table: String,
    pub class_table: String,
}
