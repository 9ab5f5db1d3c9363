//! `arcface-lab view`: the interactive viewer of a run or a comparison, one self-contained
//! HTML file (`report.html` in the folder) with a thumbnail of every image.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::compare::compare_heads;
use crate::config::RunConfig;

/// `--thumb-size`'s default, pixels.
pub const DEFAULT_THUMB_SIZE: u32 = 32;
/// `--max-thumbs`'s default.
pub const DEFAULT_MAX_THUMBS: usize = 20_000;

/// How `view` was asked to run.
#[derive(Debug, Clone)]
pub struct ViewOptions {
    /// The page to write (default `<dir>/report.html`).
    pub out: Option<PathBuf>,
    /// Side of the thumbnails, pixels; 0 = none.
    pub thumb_size: u32,
    /// At most this many thumbnails (spread evenly over the rows beyond it).
    pub max_thumbs: usize,
    /// Open the page in the system's browser afterwards.
    pub open: bool,
}

/// Writes the viewer of `dir` (a run folder or a comparison folder); returns the page's path.
pub fn view(dir: &Path, options: &ViewOptions) -> Result<PathBuf> {
    let (title, runs, configs, first) = if dir.join("compare.json").exists() {
        let heads = compare_heads(dir)?;
        let mut runs = Vec::new();
        let mut configs = Vec::new();
        for head in &heads {
            let run = dir.join(head.to_string());
            let config = RunConfig::load(&run.join("config.toml"), &[])?;
            runs.push(view_run(&run, &head.to_string(), &config));
            configs.push(config);
        }
        let first = heads
            .first()
            .map_or_else(|| dir.to_path_buf(), |h| dir.join(h.to_string()));
        (
            format!("{} (comparison)", folder_name(dir)),
            runs,
            configs,
            first,
        )
    } else if dir.join("run.json").exists() {
        let config = RunConfig::load(&dir.join("config.toml"), &[])?;
        let run = view_run(dir, &folder_name(dir), &config);
        (folder_name(dir), vec![run], vec![config], dir.to_path_buf())
    } else {
        bail!(
            "{} is neither a run folder (no run.json) nor a comparison folder (no compare.json)",
            dir.display()
        );
    };
    let thumbs = if options.thumb_size == 0 {
        None
    } else {
        match thumbnails(&first, &configs[0], options) {
            Ok(t) => Some(t),
            Err(err) => {
                eprintln!("warning: the page gets no thumbnails: {err:#}");
                None
            }
        }
    };
    let out = options
        .out
        .clone()
        .unwrap_or_else(|| dir.join("report.html"));
    let summary = viz::write_report(&out, &title, &runs, thumbs.as_ref())
        .with_context(|| format!("cannot write the viewer of {}", dir.display()))?;
    for note in &summary.notes {
        eprintln!("warning: {note}");
    }
    eprintln!(
        "wrote {} ({:.1} MB): {} panel(s), {} epochs, {} points an epoch, {} thumbnails",
        summary.path.display(),
        summary.bytes as f64 / 1e6,
        summary.panels,
        summary.epochs,
        summary.points,
        summary.thumbnails
    );
    if options.open {
        open_in_browser(&summary.path);
    }
    Ok(summary.path)
}

/// The viewer with the default options after `train` or `compare` has drawn its pictures; a
/// failure only warns, as the run itself is complete.
pub fn after_training(dir: &Path) {
    let options = ViewOptions {
        out: None,
        thumb_size: DEFAULT_THUMB_SIZE,
        max_thumbs: DEFAULT_MAX_THUMBS,
        open: false,
    };
    if let Err(err) = view(dir, &options) {
        eprintln!(
            "warning: the run is complete, but its viewer could not be written: {err:#}; try `arcface-lab view {}`",
            dir.display()
        );
    }
}

fn view_run(dir: &Path, name: &str, config: &RunConfig) -> viz::ViewRun {
    viz::ViewRun {
        dir: dir.to_path_buf(),
        name: name.to_string(),
        head: config.model.head.describe(),
        geometry: config.geometry(),
    }
}

fn folder_name(dir: &Path) -> String {
    dir.canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string())
}

/// Thumbnails of every row of the run's splits, from the images its `splits.json` lists.
fn thumbnails(
    run_dir: &Path,
    config: &RunConfig,
    options: &ViewOptions,
) -> Result<viz::Thumbnails> {
    let data = crate::run_data::load(&crate::run_dir::RunDir::open(run_dir)?, config)?;
    let total = data.train.len() + data.val.len() + data.held_out.len();
    // Every `step`-th row of each split gets one, so that a sample of every class remains.
    let step = total.div_ceil(options.max_thumbs.max(1)).max(1);
    let side = data.shape[1].min(data.shape[2]);
    let size = (options.thumb_size as usize).min(side).max(1);
    let mut thumbs = viz::Thumbnails {
        size: size as u32,
        splits: Default::default(),
    };
    for (name, split) in [
        ("train", &data.train),
        ("val", &data.val),
        ("held_out", &data.held_out),
    ] {
        if split.is_empty() {
            continue;
        }
        let shape = split.shape();
        let tiles = (0..split.len())
            .map(|i| {
                (i % step == 0).then(|| viz::downscale_chw(split.item(i).pixels(), shape, size))
            })
            .collect();
        thumbs.splits.insert(name.to_string(), tiles);
    }
    Ok(thumbs)
}

/// Best effort: the page is written either way.
fn open_in_browser(path: &Path) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(target_os = "windows") {
        "explorer"
    } else {
        "xdg-open"
    };
    match std::process::Command::new(opener).arg(path).spawn() {
        Ok(_) => {}
        Err(err) => eprintln!(
            "warning: cannot start {opener} to open {}: {err}; open it by hand",
            path.display()
        ),
    }
}
