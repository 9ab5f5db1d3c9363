//! Rendering a whole training run folder: every epoch's snapshot of each split
//! becomes a PNG, and each split an animated GIF.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use run_folder::IoContext;

use crate::error::VizError;
use crate::frame::{
    FrameData, MAX_SIZE, MIN_SIZE, RenderOptions, draw_frame, frame_dims, sphere_view, write_png,
};
use crate::gif::GifWriter;
use crate::metrics::{EpochMetrics, read_metrics};
use crate::npy::{read_npy_f32, read_npy_i64, read_npy_info};
use crate::pca::Pca;

/// What [`render_run`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderSummary {
    /// Distinct epochs found across the splits.
    pub epochs: usize,
    /// PNG frames written, all splits together.
    pub frames_written: usize,
    /// The animations written, one per split.
    pub gifs: Vec<PathBuf>,
    /// Charts: `plots/diagnostics.png` and `plots/angles.png` when the run has angle data.
    pub charts: Vec<PathBuf>,
}

pub(crate) const SPLITS: [&str; 2] = ["train", "val"];

/// Renders `run_dir` (the layout the training loop writes: `classes.json`,
/// `metrics.csv`, `embeddings/{train,val,centers}/epoch_NNN.npy`,
/// `embeddings/{train,val}/labels.npy`) into `plots/{train,val}/epoch_NNN.png`
/// and `plots/{train,val}.gif`. A split without an `embeddings/<split>` folder
/// is skipped. Every input file is checked before the first picture is drawn.
pub fn render_run(run_dir: &Path, opts: &RenderOptions) -> Result<RenderSummary, VizError> {
    if !(MIN_SIZE..=MAX_SIZE).contains(&opts.size) {
        return Err(VizError::frame(
            &run_dir.join("plots"),
            format!(
                "image size {} px is outside the supported {MIN_SIZE}..={MAX_SIZE}",
                opts.size
            ),
        ));
    }
    let name = run_name(run_dir);
    let classes = read_classes(&run_dir.join("classes.json"))?;
    let metrics = read_metrics(&run_dir.join("metrics.csv"))?;
    let embeddings = run_dir.join("embeddings");

    let mut plans = Vec::new();
    for split in SPLITS {
        let dir = embeddings.join(split);
        if dir.is_dir() {
            plans.push(SplitPlan::scan(
                split,
                &dir,
                &embeddings.join("centers"),
                classes.len(),
            )?);
        }
    }
    if plans.is_empty() {
        return Err(VizError::NoEpochs {
            dir: embeddings.join(SPLITS[0]),
        });
    }
    let epochs: BTreeSet<u32> = plans
        .iter()
        .flat_map(|p| p.epochs.iter().map(|e| e.number))
        .collect();
    let total = epochs
        .iter()
        .chain(metrics.keys())
        .copied()
        .max()
        .unwrap_or(0);

    let mut summary = RenderSummary {
        epochs: epochs.len(),
        frames_written: 0,
        gifs: Vec::new(),
        charts: Vec::new(),
    };
    for plan in &plans {
        let titles = |e: u32| {
            format!(
                "{name} · {}\n{}",
                plan.split,
                epoch_line(e, total, metrics.get(&e), plan.split)
            )
        };
        summary.frames_written +=
            plan.render(run_dir, &classes, opts, &titles, &mut summary.gifs)?;
    }
    let plots = run_dir.join("plots");
    summary.charts.extend(crate::curves::render_diagnostics(
        run_dir,
        &plots.join("diagnostics.png"),
    )?);
    summary
        .charts
        .extend(crate::curves::render_angle_histograms(
            run_dir,
            &plots.join("angles.png"),
        )?);
    Ok(summary)
}

/// "epoch 7/20 · loss 0.41 · acc 93.1%", with the split's own loss and
/// accuracy; parts without a number are left out.
pub(crate) fn epoch_line(epoch: u32, total: u32, m: Option<&EpochMetrics>, split: &str) -> String {
    let mut line = format!("epoch {epoch}/{total}");
    let m = m.copied().unwrap_or_default();
    let (loss, acc) = if split == "train" {
        (m.train_loss, m.train_acc)
    } else {
        (m.val_loss, m.val_acc)
    };
    if let Some(l) = loss {
        line += &format!(" · loss {}", fmt_loss(l));
    }
    if let Some(a) = acc {
        line += &format!(" · acc {:.1}%", a * 100.0);
    }
    line
}

fn fmt_loss(l: f64) -> String {
    match l.abs() {
        a if a >= 100.0 => format!("{l:.0}"),
        a if a >= 10.0 => format!("{l:.1}"),
        a if a >= 0.01 || a == 0.0 => format!("{l:.2}"),
        _ => format!("{l:.1e}"),
    }
}

pub(crate) fn run_name(run_dir: &Path) -> String {
    run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .or_else(|| {
            run_dir
                .canonicalize()
                .ok()?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "run".to_string())
}

/// Fails, naming the first one, unless every label of `labels.npy` at `path` is in `0..limit`;
/// `why` says where the limit comes from.
pub(crate) fn check_labels(
    path: &Path,
    labels: &[i64],
    limit: usize,
    why: &str,
) -> Result<(), VizError> {
    match labels
        .iter()
        .enumerate()
        .find(|(_, l)| !(0..limit as i64).contains(l))
    {
        Some((i, l)) => Err(VizError::format(
            path,
            format!("labels in 0..{limit} ({why})"),
            format!("label {l} at row {i}"),
        )),
        None => Ok(()),
    }
}

pub(crate) fn read_classes(path: &Path) -> Result<Vec<String>, VizError> {
    Ok(run_folder::read_json(
        path,
        "a JSON array of class names (strings)",
    )?)
}

pub(crate) struct Epoch {
    pub number: u32,
    pub points: PathBuf,
    pub centers: PathBuf,
}

/// One split's checked inputs.
pub(crate) struct SplitPlan {
    pub split: &'static str,
    pub labels: Vec<i64>,
    pub dim: usize,
    pub epochs: Vec<Epoch>,
}

impl SplitPlan {
    pub(crate) fn scan(
        split: &'static str,
        dir: &Path,
        centers_dir: &Path,
        classes: usize,
    ) -> Result<Self, VizError> {
        let files = epoch_files(dir)?;
        if files.is_empty() {
            return Err(VizError::NoEpochs {
                dir: dir.to_path_buf(),
            });
        }
        let labels_path = dir.join("labels.npy");
        let (labels, shape) = read_npy_i64(&labels_path)?;
        if shape.len() != 1 {
            return Err(VizError::format(
                &labels_path,
                "a 1-D array (one label per point)",
                format!("shape {shape:?}"),
            ));
        }
        check_labels(
            &labels_path,
            &labels,
            classes,
            &format!("classes.json lists {classes} classes"),
        )?;
        let rows = labels.len();
        let mut dim: Option<(usize, &Path)> = None;
        let mut epochs = Vec::with_capacity(files.len());
        for (number, points) in &files {
            let shape = f32_shape(points)?;
            let &[n, d] = shape.as_slice() else {
                return Err(VizError::format(
                    points,
                    "a 2-D array (points, dimensions)",
                    format!("shape {shape:?}"),
                ));
            };
            if n != rows {
                return Err(VizError::format(
                    points,
                    format!("{rows} rows, one per label in {}", labels_path.display()),
                    format!("{n} rows"),
                ));
            }
            match dim {
                Some((d0, first)) if d0 != d => {
                    return Err(VizError::format(
                        points,
                        format!("{d0} dimensions, as in {}", first.display()),
                        format!("{d}"),
                    ));
                }
                None if d < 2 => {
                    return Err(VizError::format(
                        points,
                        "embeddings of at least 2 dimensions (a circle or a sphere to draw on)",
                        format!("{d} dimension"),
                    ));
                }
                None => dim = Some((d, points)),
                _ => {}
            }
            let centers = centers_dir.join(points.file_name().unwrap_or_default());
            let cshape = f32_shape(&centers)?;
            if cshape != [classes, d] {
                return Err(VizError::format(
                    &centers,
                    format!(
                        "shape [{classes}, {d}] (one centre per class in classes.json, dimensions as the embeddings)"
                    ),
                    format!("shape {cshape:?}"),
                ));
            }
            epochs.push(Epoch {
                number: *number,
                points: points.clone(),
                centers,
            });
        }
        let dim = dim.map_or(0, |(d, _)| d);
        Ok(Self {
            split,
            labels,
            dim,
            epochs,
        })
    }

    /// Writes the PNGs and the GIF; returns the number of PNGs.
    fn render(
        &self,
        run_dir: &Path,
        classes: &[String],
        opts: &RenderOptions,
        title: &dyn Fn(u32) -> String,
        gifs: &mut Vec<PathBuf>,
    ) -> Result<usize, VizError> {
        let plots = run_dir.join("plots");
        // Fitted once on the final epoch so every frame is seen through the same axes.
        let pca = match self.epochs.last() {
            Some(last) if self.dim > 3 => {
                Some(Pca::fit(&self.read_points(&last.points)?, self.dim, 3))
            }
            _ => None,
        };
        // Every frame of a split has the same dimensions: the frames with the map are 2:1.
        let mut gif = GifWriter::create_rect(
            &plots.join(format!("{}.gif", self.split)),
            frame_dims(opts.size, sphere_view(self.dim, opts)),
            opts.frame_ms,
        )?;
        for epoch in &self.epochs {
            let points = self.read_points(&epoch.points)?;
            let (centers, _) = read_npy_f32(&epoch.centers)?;
            let png = plots
                .join(self.split)
                .join(format!("epoch_{:03}.png", epoch.number));
            let frame = FrameData {
                points: &points,
                dim: self.dim,
                labels: &self.labels,
                centers: &centers,
                class_names: classes,
                title: title(epoch.number),
            };
            let canvas = draw_frame(&png, &frame, opts, pca.as_ref())?;
            write_png(&png, &canvas)?;
            gif.push_rgb(&canvas.buf, canvas.dims())?;
        }
        gifs.push(gif.finish(opts.last_frame_ms)?);
        Ok(self.epochs.len())
    }

    /// The points of one epoch file, re-checked in case it changed since the scan.
    pub(crate) fn read_points(&self, path: &Path) -> Result<Vec<f32>, VizError> {
        let (points, shape) = read_npy_f32(path)?;
        if shape != [self.labels.len(), self.dim] {
            return Err(VizError::format(
                path,
                format!(
                    "shape [{}, {}] as when the run was scanned",
                    self.labels.len(),
                    self.dim
                ),
                format!("shape {shape:?}"),
            ));
        }
        Ok(points)
    }
}

fn f32_shape(path: &Path) -> Result<Vec<usize>, VizError> {
    let info = read_npy_info(path)?;
    if info.descr != "<f4" {
        return Err(VizError::format(
            path,
            "dtype '<f4' (little-endian float32)",
            format!("'{}'", info.descr),
        ));
    }
    Ok(info.shape)
}

/// `epoch_NNN.npy` files of `dir`, by epoch number.
pub(crate) fn epoch_files(dir: &Path) -> Result<Vec<(u32, PathBuf)>, VizError> {
    let entries = std::fs::read_dir(dir).io_context("list", dir)?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.io_context("list", dir)?;
        let name = entry.file_name();
        let number = name
            .to_str()
            .and_then(|n| n.strip_prefix("epoch_"))
            .and_then(|n| n.strip_suffix(".npy"))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u32>().ok());
        if let Some(number) = number {
            found.push((number, entry.path()));
        }
    }
    found.sort();
    found.dedup_by_key(|(n, _)| *n);
    Ok(found)
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod run_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_carry_the_split_metrics() {
        let m = EpochMetrics {
            train_loss: Some(0.4123),
            val_loss: Some(12.34),
            train_acc: Some(0.9312),
            val_acc: None,
        };
        assert_eq!(
            epoch_line(7, 20, Some(&m), "train"),
            "epoch 7/20 · loss 0.41 · acc 93.1%"
        );
        assert_eq!(epoch_line(7, 20, Some(&m), "val"), "epoch 7/20 · loss 12.3");
        assert_eq!(epoch_line(3, 9, None, "val"), "epoch 3/9");
        assert_eq!(fmt_loss(0.0012), "1.2e-3");
    }
}
