//! The data a run trained on, loaded again for `eval` and `view`: exactly the images listed in
//! its `splits.json`, in their splits, refused (naming the files) when one of them is missing
//! or changed since the run started (`sources.json`). Images added to the data set since are
//! left out, so the validation split never takes in images the model trained on.

use anyhow::{Context, Result, bail};
use celeba_data::{LoadedData, SplitRecord};
use run_folder::{SourceFiles, describe_changes, layout};

use crate::config::RunConfig;
use crate::run_dir::RunDir;

/// The run's images, as its `splits.json` lists them.
pub fn load(run: &RunDir, config: &RunConfig) -> Result<LoadedData> {
    let records = read_splits(run)?;
    check_sources(run, false, None)?;
    celeba_data::load_listed(&config.data, config.seed, &records).with_context(|| {
        format!(
            "cannot load the images listed in {} again (is data.root = {:?} still there?)",
            run.file(layout::SPLITS).display(),
            describe_root(config)
        )
    })
}

fn describe_root(config: &RunConfig) -> String {
    celeba_data::describe(&config.data)
}

/// `splits.json` of the run.
pub fn read_splits(run: &RunDir) -> Result<Vec<SplitRecord>> {
    let path = run.file(layout::SPLITS);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a splits.json written by arcface-lab",
            path.display()
        )
    })
}

/// [`check_sources`] as a warning, for the commands that read only the run's own files.
pub fn warn_on_changes(run: &RunDir) {
    if let Err(err) = check_sources(run, false, None) {
        eprintln!("warning: {err:#}");
    }
}

/// Refuses when a data file the run used is missing or changed (and, with `now`, when the data
/// set holds files the run did not use). A run of an earlier version has no `sources.json`:
/// then only a warning says the check was skipped.
pub fn check_sources(run: &RunDir, strict: bool, now: Option<&[std::path::PathBuf]>) -> Result<()> {
    let path = run.file(layout::SOURCES);
    if !path.exists() {
        eprintln!(
            "warning: {} is missing (a run of an earlier version): the data files' sizes and times cannot be checked",
            path.display()
        );
        return Ok(());
    }
    let record = SourceFiles::read(&path)?;
    let changes = record.changes(if strict { now } else { None });
    if !changes.is_empty() {
        bail!(
            "the data changed since the run started ({} file(s): {}; the run's files are recorded in {}): restore them, or train a new run",
            changes.len(),
            describe_changes(&changes),
            path.display()
        );
    }
    Ok(())
}
