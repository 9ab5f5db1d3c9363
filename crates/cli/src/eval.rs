//! `arcface-lab eval`: how well a trained run's embeddings verify and retrieve faces, on the
//! validation split (identities seen in training) and on the held-out identities (never seen):
//! `eval.json`, `plots/roc.png` and a summary on stderr.

use std::path::Path;

use anyhow::{Context, Result};
use arcface_core::EmbeddingNet;
use burn::data::dataloader::DataLoaderBuilder;
use burn::prelude::*;
use celeba_data::SplitDataset;
use embed_metrics::{EvalReport, MAX_POSITIVE_PAIRS, Roc, cosine_scores, make_pairs, roc};
use serde::Serialize;

use crate::checkpoint::Checkpoint;
use crate::config::memory::EVAL_BATCH;
use crate::device::DeviceChoice;
use crate::run_dir::write_atomic;
use crate::train::{LabelledBatcher, embed_in_order};

/// Seed of the negative pairs and of k-means: fixed, so two evals of one run agree.
const EVAL_SEED: u64 = 58;

/// `eval.json`.
#[derive(Debug, Serialize)]
struct EvalFile {
    checkpoint: String,
    epoch: Option<u64>,
    /// Identities seen in training (closed set).
    val: EvalReport,
    /// Identities never seen in training (open set); absent when the data set holds none out.
    held_out: Option<EvalReport>,
}

/// Evaluates `checkpoint` (`best` or `last`) of the run in `run_dir`.
pub fn eval(run_dir: &Path, checkpoint: &str, choice: DeviceChoice) -> Result<()> {
    evaluate(run_dir, checkpoint, choice).map(|_| ())
}

/// What `compare` keeps of one head's evaluation.
#[derive(Debug, Clone)]
pub struct Evaluated {
    /// The epoch of the checkpoint evaluated.
    pub epoch: Option<u64>,
    /// The open-set figures; `None` when the data set holds no identity out.
    pub held_out: Option<EvalReport>,
}

/// [`eval`], returning the figures too.
pub fn evaluate(run_dir: &Path, checkpoint: &str, choice: DeviceChoice) -> Result<Evaluated> {
    let opened = Checkpoint::open(run_dir, checkpoint)?;
    let data = crate::run_data::load(&opened.run, &opened.config)?;
    let model = opened.load(choice)?;
    let (run, config, dim) = (&opened.run, &opened.config, model.dim);
    let mut reports = Vec::new();
    let mut rocs = Vec::new();
    for (label, split) in [("val", &data.val), ("held out", &data.held_out)] {
        if split.is_empty() {
            reports.push(None);
            continue;
        }
        let points = embed(&model.net, split, &model.device)?;
        let labels = split.labels();
        reports.push(Some(embed_metrics::evaluate(
            &points, dim, &labels, EVAL_SEED,
        )));
        // The same seeded pairs as the report's.
        let pairs = make_pairs(&labels, EVAL_SEED, MAX_POSITIVE_PAIRS);
        let scores = cosine_scores(&points, dim, &pairs);
        rocs.push((label.to_string(), roc(&scores, &pairs.same)));
    }
    let held_out = reports.pop().flatten();
    let val = reports
        .pop()
        .flatten()
        .context("the validation split is empty: nothing to evaluate")?;
    let state = crate::run_dir::current_state(run.root())?;
    let epoch = if checkpoint == "best" {
        state.best_epoch.map(|e| e as u64)
    } else {
        Some(state.epochs_done as u64)
    };
    print_report("val (identities seen in training)", &val);
    if let Some(h) = &held_out {
        print_report("held out (identities never seen)", h);
    } else {
        eprintln!(
            "no held-out identities in this data set: open-set figures need data.held_out (CelebA, folder sets) or data.held_out_identities (synthetic)"
        );
    }

    let file = EvalFile {
        checkpoint: checkpoint.to_string(),
        epoch,
        val,
        held_out,
    };
    let json = serde_json::to_string_pretty(&file).context("cannot serialise eval.json")?;
    let evaluated = Evaluated {
        epoch: file.epoch,
        held_out: file.held_out.clone(),
    };
    write_atomic(&run.file(run_folder::layout::EVAL), json.as_bytes())?;

    let named: Vec<(String, &Roc)> = rocs.iter().map(|(l, r)| (l.clone(), r)).collect();
    let plot = run.root().join("plots").join("roc.png");
    viz::render_roc(
        &plot,
        &format!("{} · {checkpoint} checkpoint", config.name),
        &named,
    )
    .with_context(|| format!("cannot draw {}", plot.display()))?;
    eprintln!(
        "wrote {} and {}",
        run.root().join("eval.json").display(),
        plot.display()
    );
    Ok(evaluated)
}

fn print_report(title: &str, r: &EvalReport) {
    eprintln!(
        "{title}: {} images of {} identities, {} + {} pairs",
        r.samples, r.classes, r.positive_pairs, r.negative_pairs
    );
    eprintln!(
        "  verification: AUC {:.4}  EER {:.2}%  TAR@FAR=1e-1 {:.2}%  1e-2 {:.2}%  1e-3 {:.2}%  10-fold accuracy {:.2}% ± {:.2}",
        r.auc,
        100.0 * r.eer,
        100.0 * r.tar_at_far_1e1,
        100.0 * r.tar_at_far_1e2,
        100.0 * r.tar_at_far_1e3,
        100.0 * r.ten_fold_mean,
        100.0 * r.ten_fold_std
    );
    eprintln!(
        "  cosine thresholds: EER {:.4}  FAR=1e-1 {:.4}  1e-2 {:.4}  1e-3 {:.4}",
        r.threshold_at_eer, r.threshold_at_far_1e1, r.threshold_at_far_1e2, r.threshold_at_far_1e3
    );
    eprintln!(
        "  retrieval: precision@1 {:.2}%  MAP@R {:.4}  NMI of k-means {:.4}",
        100.0 * r.precision_at_1,
        r.map_at_r,
        r.nmi
    );
}

/// Eval-mode embeddings of `split`, in its order.
fn embed(model: &EmbeddingNet, split: &SplitDataset, device: &Device) -> Result<Vec<f32>> {
    let loader = DataLoaderBuilder::new(LabelledBatcher::default())
        .batch_size(EVAL_BATCH)
        .num_workers(1)
        .set_device(device.clone())
        .build(split.clone());
    embed_in_order(model, loader.as_ref())
}
