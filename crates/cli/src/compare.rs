//! `arcface-lab compare`: one run per head on the same data, split, seed and epochs, then one
//! grid GIF per split with every head at the same epoch and the heads' curves overlaid.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::config::{HeadKind, RunConfig};
use crate::run_dir::write_atomic;
use crate::train::{self, TrainOptions, Trained};

/// `compare.json` in the comparison folder: which runs it holds, for `render --compare` and
/// the viewer.
#[derive(Debug, Serialize)]
struct CompareIndex {
    status: String,
    heads: Vec<String>,
    runs: Vec<String>,
    /// Width of the grid, pixels.
    size: u32,
    /// Per head, in `heads` order: open-set verification of its best checkpoint on the
    /// held-out identities (from its `eval.json`); absent when the data set holds none out.
    #[serde(skip_serializing_if = "Option::is_none")]
    held_out: Option<Vec<HeldOutFigures>>,
}

/// One head's row of `compare.json`'s `held_out`: fractions, `null` where undefined.
#[derive(Debug, Clone, Serialize)]
struct HeldOutFigures {
    head: String,
    /// The best epoch, whose checkpoint was evaluated.
    epoch: Option<u64>,
    auc: f64,
    eer: f64,
    tar_at_far_1e2: f64,
    ten_fold_accuracy: f64,
    ten_fold_std: f64,
    precision_at_1: f64,
}

impl HeldOutFigures {
    fn new(head: HeadKind, epoch: Option<u64>, r: &viz::EvalReport) -> Self {
        Self {
            head: head.name().to_string(),
            epoch,
            auc: r.auc,
            eer: r.eer,
            tar_at_far_1e2: r.tar_at_far_1e2,
            ten_fold_accuracy: r.ten_fold_mean,
            ten_fold_std: r.ten_fold_std,
            precision_at_1: r.precision_at_1,
        }
    }
}

/// Trains every head of `compare` (heads from `--heads` replace the config's), renders each
/// run, then the comparison.
pub fn compare(
    config: &RunConfig,
    heads: Option<Vec<HeadKind>>,
    options: &TrainOptions,
    render: bool,
) -> Result<()> {
    let mut config = config.clone();
    let mut settings = config.compare.clone().unwrap_or_default();
    if let Some(heads) = heads {
        settings.heads = heads;
    }
    if settings.heads.is_empty() {
        bail!("--heads: expected at least one head, e.g. --heads softmax,arcface");
    }
    let mut seen = Vec::new();
    for head in &settings.heads {
        if seen.contains(head) {
            bail!("head {:?} is listed twice", head.name());
        }
        seen.push(*head);
    }
    config.compare = Some(settings.clone());
    let root = config.run_dir();
    prepare_root(&root, options.overwrite)?;

    let runs: Vec<RunConfig> = settings
        .heads
        .iter()
        .map(|&h| config.with_head(h))
        .collect();
    let mut index = CompareIndex {
        status: "running".into(),
        heads: settings
            .heads
            .iter()
            .map(|h| h.name().to_string())
            .collect(),
        runs: runs.iter().map(|r| r.name.clone()).collect(),
        size: settings.size,
        held_out: None,
    };
    write_index(&root, &index)?;
    let mut results: Vec<(HeadKind, Trained)> = Vec::new();
    let mut held_out = Vec::new();
    for (head, run) in settings.heads.iter().zip(&runs) {
        eprintln!(
            "== {} ({} of {})",
            head.name(),
            results.len() + 1,
            runs.len()
        );
        let trained = train::train(run, options)
            .with_context(|| format!("the {} run of the comparison failed", head.name()))?;
        if trained.held_out > 0 {
            // As `train` does: the open-set figures are what the comparison is about.
            let evaluated = crate::eval::evaluate(&trained.run_dir, "best", options.device)
                .with_context(|| {
                    format!(
                        "the {} run trained, but evaluating it on the held-out identities failed",
                        head.name()
                    )
                })?;
            if let Some(report) = &evaluated.held_out {
                held_out.push(HeldOutFigures::new(*head, evaluated.epoch, report));
            }
        }
        if render {
            crate::render::render(&trained.run_dir, &run.render, run.geometry())?;
        }
        results.push((*head, trained));
    }
    index.status = "finished".into();
    index.held_out = (!held_out.is_empty()).then_some(held_out);
    write_index(&root, &index)?;
    print_table(&results);
    if let Some(rows) = &index.held_out {
        print_held_out_table(rows);
    }
    if render {
        render_comparison(&root, settings.size, &runs)?;
    } else {
        eprintln!("pictures: run `arcface-lab render {}`", root.display());
    }
    Ok(())
}

/// Draws the comparison of `runs` (each head's resolved config) in `root`, `size` px wide.
pub fn render_comparison(root: &Path, size: u32, runs: &[RunConfig]) -> Result<()> {
    let first = runs
        .first()
        .context("a comparison needs at least one run")?;
    let compared: Vec<viz::ComparedRun> = runs
        .iter()
        .map(|run| viz::ComparedRun {
            label: run.name.clone(),
            dir: root.join(&run.name),
            geometry: run.geometry(),
        })
        .collect();
    let options = viz::RenderOptions {
        size,
        frame_ms: first.render.frame_ms,
        last_frame_ms: first.render.last_frame_ms,
        ..viz::RenderOptions::default()
    };
    let summary = viz::render_comparison(&compared, root, &options)
        .with_context(|| format!("cannot draw the comparison in {}", root.display()))?;
    eprintln!(
        "comparison of {} heads over {} epochs: {}",
        runs.len(),
        summary.epochs,
        summary
            .files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// The comparison folder must be new, empty, or (with `--overwrite`) an earlier comparison;
/// every run folder is checked before the first head trains, so a clash never costs a run.
fn prepare_root(root: &Path, overwrite: bool) -> Result<()> {
    if root.exists() {
        let is_compare = root.join("compare.json").exists();
        let empty = std::fs::read_dir(root)
            .with_context(|| format!("cannot list {}", root.display()))?
            .next()
            .is_none();
        if is_compare && !overwrite {
            bail!(
                "{} already holds a comparison; pass --overwrite to replace it, or choose another folder with --out",
                root.display()
            );
        }
        if !is_compare && !empty {
            bail!(
                "{} exists, is not empty and is not a comparison folder (no compare.json): refusing to write into it",
                root.display()
            );
        }
        if is_compare {
            std::fs::remove_dir_all(root)
                .with_context(|| format!("cannot remove the old comparison {}", root.display()))?;
        }
    }
    std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
    Ok(())
}

fn write_index(root: &Path, index: &CompareIndex) -> Result<()> {
    let text = serde_json::to_string_pretty(index).context("cannot serialise compare.json")?;
    write_atomic(&root.join("compare.json"), text.as_bytes())
}

/// One line per head: the last epoch's validation figures.
fn print_table(results: &[(HeadKind, Trained)]) {
    eprintln!(
        "{:<11} {:>8} {:>10} {:>12} {:>12} {:>10}",
        "head", "val acc", "val 1-NN", "val angle", "min centre", "best epoch"
    );
    for (head, t) in results {
        let (angle, centre, knn) = t.last.map_or((f64::NAN, f64::NAN, f64::NAN), |r| {
            (
                r.val_angles.mean_deg,
                r.center_min_deg,
                r.val_angles.knn_acc,
            )
        });
        eprintln!(
            "{:<11} {:>7.1}% {:>9.1}% {:>11.1}° {:>11.1}° {:>10}",
            head.name(),
            100.0 * t.last_val_acc,
            100.0 * knn,
            angle,
            centre,
            t.best.map_or("-".to_string(), |(e, _)| e.to_string())
        );
    }
}

/// One line per head: open-set verification and retrieval on the held-out identities.
fn print_held_out_table(rows: &[HeldOutFigures]) {
    eprintln!("held-out identities (never seen in training), best checkpoint of each head:");
    eprintln!(
        "{:<11} {:>7} {:>7} {:>13} {:>14} {:>7} {:>10}",
        "head", "AUC", "EER", "TAR@FAR=1e-2", "10-fold acc", "P@1", "best epoch"
    );
    for r in rows {
        eprintln!(
            "{:<11} {:>7.4} {:>6.2}% {:>12.2}% {:>7.2}% ± {:>4.2} {:>6.2}% {:>10}",
            r.head,
            r.auc,
            100.0 * r.eer,
            100.0 * r.tar_at_far_1e2,
            100.0 * r.ten_fold_accuracy,
            100.0 * r.ten_fold_std,
            100.0 * r.precision_at_1,
            r.epoch.map_or("-".to_string(), |e| e.to_string())
        );
    }
}

/// `compare.json` of the comparison folder `root`.
pub fn read_index(root: &Path) -> Result<serde_json::Value> {
    let path = root.join("compare.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

/// The heads of the comparison folder `root`, from its `compare.json`.
pub fn compare_heads(root: &Path) -> Result<Vec<HeadKind>> {
    let path = root.join("compare.json");
    read_index(root)?["heads"]
        .as_array()
        .with_context(|| format!("{}: expected a \"heads\" list", path.display()))?
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(HeadKind::parse)
                .with_context(|| format!("{}: unknown head {h}", path.display()))
        })
        .collect()
}
