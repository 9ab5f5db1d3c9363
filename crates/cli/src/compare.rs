//! `arcface-lab compare`: one run per head on the same data, split, seed and epochs, then one
//! grid GIF per split with every head at the same epoch and the heads' curves overlaid.

use std::path::Path;

use anyhow::{Context, Result, bail};
use embed_metrics::EvalReport;
use run_folder::{CompareIndex, HeldOutFigures, RunStatus, layout};

use crate::config::{HeadKind, RunConfig};
use crate::run_dir::write_atomic;
use crate::train::{self, ResumeRequest, TrainOptions, Trained};

fn held_out_figures(head: HeadKind, epoch: Option<u64>, r: &EvalReport) -> HeldOutFigures {
    let finite = |v: f64| v.is_finite().then_some(v);
    HeldOutFigures {
        head: head.to_string(),
        epoch,
        auc: finite(r.auc),
        eer: finite(r.eer),
        tar_at_far_1e2: finite(r.tar_at_far_1e2),
        ten_fold_accuracy: finite(r.ten_fold_mean),
        ten_fold_std: finite(r.ten_fold_std),
        precision_at_1: finite(r.precision_at_1),
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
            bail!("head {:?} is listed twice", head.to_string());
        }
        seen.push(*head);
    }
    crate::config::check_grid(settings.size, settings.heads.len())?;
    config.compare = Some(settings.clone());
    let root = config.run_dir();
    prepare_root(&root, options.overwrite)?;
    // The comparison's own config, for `compare --resume` of heads not started yet.
    write_atomic(&root.join(layout::CONFIG), config.to_toml()?.as_bytes())?;
    run_heads(&config, options, render, None)
}

/// `compare --resume DIR`: finished heads are kept, interrupted ones resumed, heads not
/// started yet trained.
pub fn resume(root: &Path, request: &ResumeRequest, render: bool) -> Result<()> {
    let index_path = root.join(layout::COMPARE_JSON);
    if !index_path.exists() {
        bail!(
            "{} is not a comparison folder (no compare.json): nothing to resume",
            root.display()
        );
    }
    let config_path = root.join(layout::CONFIG);
    if !config_path.exists() {
        bail!(
            "{} is missing (a comparison of an earlier version): it cannot be resumed; start it again with --overwrite",
            config_path.display()
        );
    }
    if let Some(bad) = request.set.iter().find(|s| !train::resumable_key(s)) {
        bail!(
            "--set {bad:?} with --resume: a resumed comparison keeps its config ({})",
            config_path.display()
        );
    }
    let mut overrides = request.set.clone();
    if let Some(epochs) = request.epochs {
        overrides.push(format!("train.epochs={epochs}"));
    }
    let mut config = RunConfig::load(&config_path, &overrides)?;
    // `out_dir` may be relative to where the comparison was started; the folder is `root`.
    config.name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .context("--resume: expected a folder path")?;
    config.out_dir = root.parent().map(Path::to_path_buf).unwrap_or_default();
    if !overrides.is_empty() {
        write_atomic(&config_path, config.to_toml()?.as_bytes())?;
    }
    let options = TrainOptions {
        device: request.device,
        overwrite: false,
    };
    run_heads(&config, &options, render, Some(request))
}

/// Trains (or, with `resume`, continues) each head's run of the comparison `config`.
fn run_heads(
    config: &RunConfig,
    options: &TrainOptions,
    render: bool,
    resume: Option<&ResumeRequest>,
) -> Result<()> {
    let root = config.run_dir();
    let settings = config.compare.clone().unwrap_or_default();
    let runs: Vec<RunConfig> = settings
        .heads
        .iter()
        .map(|&h| config.with_head(h))
        .collect();
    let mut index = CompareIndex {
        status: RunStatus::Running,
        heads: settings.heads.iter().map(|h| h.to_string()).collect(),
        runs: runs.iter().map(|r| r.name.clone()).collect(),
        size: settings.size,
        held_out: None,
    };
    write_index(&root, &index)?;
    let mut results: Vec<(HeadKind, Trained)> = Vec::new();
    let mut held_out = Vec::new();
    for (head, run) in settings.heads.iter().zip(&runs) {
        let dir = run.run_dir();
        let state = resume
            .filter(|_| dir.join(layout::RUN_JSON).exists())
            .map(|_| crate::run_dir::current_state(&dir))
            .transpose()?;
        let wanted = run.train.epochs;
        let trained = match (&state, resume) {
            (Some(state), Some(_))
                if state.status == RunStatus::Finished && state.epochs_done >= wanted =>
            {
                eprintln!("== {}: finished ({} epochs), kept", head, state.epochs_done);
                train::trained_of(&dir)?
            }
            (Some(_), Some(request)) => {
                eprintln!("== {}: resuming", head);
                train::resume(&ResumeRequest {
                    dir: dir.clone(),
                    epochs: Some(wanted),
                    set: Vec::new(),
                    device: request.device,
                })
                .with_context(|| format!("the {} run of the comparison failed", head))?
            }
            _ => {
                eprintln!("== {} ({} of {})", head, results.len() + 1, runs.len());
                train::train(run, options)
                    .with_context(|| format!("the {} run of the comparison failed", head))?
            }
        };
        if trained.held_out > 0 {
            // As `train` does: the open-set figures are what the comparison is about.
            let evaluated = crate::eval::evaluate(&trained.run_dir, "best", options.device)
                .with_context(|| {
                    format!(
                        "the {} run trained, but evaluating it on the held-out identities failed",
                        head
                    )
                })?;
            if let Some(report) = &evaluated.held_out {
                held_out.push(held_out_figures(*head, evaluated.epoch, report));
            }
        }
        if render {
            crate::render::render(&trained.run_dir, &run.render, run.geometry())?;
        }
        results.push((*head, trained));
    }
    index.status = RunStatus::Finished;
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
    let options = crate::render::options(&first.render, size);
    let summary = viz::render_comparison(&compared, root, &options)
        .with_context(|| format!("cannot draw the comparison in {}", root.display()))?;
    eprintln!(
        "comparison of {} heads over {} epochs: {}",
        runs.len(),
        summary.epochs,
        crate::render::joined(&summary.files)
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
    run_folder::write_json(&root.join(layout::COMPARE_JSON), index)?;
    Ok(())
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
            head,
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
        let f = |v: Option<f64>| v.unwrap_or(f64::NAN);
        eprintln!(
            "{:<11} {:>7.4} {:>6.2}% {:>12.2}% {:>7.2}% ± {:>4.2} {:>6.2}% {:>10}",
            r.head,
            f(r.auc),
            100.0 * f(r.eer),
            100.0 * f(r.tar_at_far_1e2),
            100.0 * f(r.ten_fold_accuracy),
            100.0 * f(r.ten_fold_std),
            100.0 * f(r.precision_at_1),
            r.epoch.map_or("-".to_string(), |e| e.to_string())
        );
    }
}

/// `compare.json` of the comparison folder `root`.
pub fn read_index(root: &Path) -> Result<CompareIndex> {
    Ok(CompareIndex::read(&root.join(layout::COMPARE_JSON))?)
}

/// The heads of the comparison folder `root`, from its `compare.json`.
pub fn compare_heads(root: &Path) -> Result<Vec<HeadKind>> {
    let path = root.join(layout::COMPARE_JSON);
    read_index(root)?
        .heads
        .iter()
        .map(|h| {
            crate::config::parse_head(h).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        })
        .collect()
}
