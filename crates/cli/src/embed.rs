//! `arcface-lab embed`: a trained run's embeddings of any images, preprocessed exactly as the
//! run's data was (centre crop, resize, grayscale: celeba-data's own decoder) and normalised
//! like its training batches, in eval mode.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use image::ImageDecoder;

use crate::checkpoint::{Model, load_model};
use crate::config::memory::EVAL_BATCH;
use crate::device::DeviceChoice;
use crate::train::host_values;

/// File name endings the data sets decode (celeba-data's `image` features).
const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "pgm", "ppm", "bmp"];
/// More images than this get a progress line on a terminal.
const PROGRESS_FROM: usize = 500;

/// The image files named by `paths`: files as given, folders searched recursively for
/// [`IMAGE_EXTENSIONS`] (sorted by path). A missing path or a folder without images is an error.
pub fn collect_images(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .with_context(|| format!("{}: no such file or folder", path.display()))?;
        if meta.is_dir() {
            let before = found.len();
            walk(path, &mut found)?;
            found[before..].sort();
            if found.len() == before {
                bail!(
                    "{}: no images in this folder (expected files ending in .{})",
                    path.display(),
                    IMAGE_EXTENSIONS.join(", .")
                );
            }
        } else {
            found.push(path.clone());
        }
    }
    if found.is_empty() {
        bail!("no images given");
    }
    Ok(found)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read folder {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read folder {}", dir.display()))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .with_context(|| format!("cannot read {}", path.display()))?;
        if kind.is_dir() || (kind.is_symlink() && path.is_dir()) {
            walk(&path, found)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
            found.push(path);
        }
    }
    Ok(())
}

/// Embeddings of `files` (row-major, `dim` per image) and the files they are of: all of them,
/// or with `skip_bad` those that decode (a warning names each other one). Without `skip_bad`
/// the first file that does not decode is an error naming it.
pub fn embed_files(
    model: &Model,
    files: &[PathBuf],
    skip_bad: bool,
) -> Result<(Vec<f32>, Vec<PathBuf>)> {
    let channels = if model.grayscale { 1 } else { 3 };
    let per_image = channels * model.image_size * model.image_size;
    let table: [f32; 256] = std::array::from_fn(|v| celeba_data::normalize_pixel(v as u8));
    let mut progress = Progress::new(files.len());
    let mut kept = Vec::with_capacity(files.len());
    let mut rows = Vec::with_capacity(files.len() * model.dim);
    let mut notes = 0usize;
    for chunk in files.chunks(EVAL_BATCH) {
        let mut pixels = Vec::with_capacity(chunk.len() * per_image);
        let mut in_batch = 0;
        for file in chunk {
            match celeba_data::decode_image(file, model.image_size, model.grayscale) {
                Ok(image) => {
                    if let Some(note) = conversion(file, model.grayscale) {
                        notes += 1;
                        if notes <= 10 {
                            eprintln!("note: {}: {note}", file.display());
                        }
                    }
                    pixels.extend(image.iter().map(|&v| table[usize::from(v)]));
                    kept.push(file.clone());
                    in_batch += 1;
                }
                Err(err) if skip_bad => eprintln!("warning: skipped {err}"),
                Err(err) => {
                    return Err(anyhow::Error::new(err)).context(
                        "an image does not decode (--skip-bad leaves such files out with a warning)",
                    );
                }
            }
        }
        if in_batch > 0 {
            let shape = [in_batch, channels, model.image_size, model.image_size];
            let images = Tensor::<4>::from_data(TensorData::new(pixels, shape), &model.device);
            rows.extend(host_values(model.net.embed(images), "embeddings")?);
        }
        progress.tick(chunk.len());
    }
    progress.finish();
    if notes > 10 {
        eprintln!("note: {} more images converted likewise", notes - 10);
    }
    if kept.is_empty() {
        bail!(
            "none of the {} file(s) given decodes as an image",
            files.len()
        );
    }
    Ok((rows, kept))
}

/// What preprocessing changes about `file`'s colours, when it is not what the run trained on.
fn conversion(file: &Path, grayscale: bool) -> Option<String> {
    let colour = image::ImageReader::open(file)
        .ok()?
        .with_guessed_format()
        .ok()?
        .into_decoder()
        .ok()?
        .color_type();
    let channels = colour.channel_count();
    let alpha = colour.has_alpha();
    let target = if grayscale { "grayscale" } else { "RGB" };
    match (grayscale, channels, alpha) {
        (false, 1 | 2, _) => Some(format!(
            "grayscale image converted to RGB (the run trained on {target} images)"
        )),
        (true, 3 | 4, _) => Some(format!(
            "colour image converted to grayscale (the run trained on {target} images)"
        )),
        (_, _, true) => Some("alpha channel dropped".to_owned()),
        _ => None,
    }
}

/// A progress line on stderr for many images on a terminal.
struct Progress {
    total: usize,
    done: usize,
    start: Instant,
    shown: bool,
}

impl Progress {
    fn new(total: usize) -> Self {
        Self {
            total,
            done: 0,
            start: Instant::now(),
            shown: total > PROGRESS_FROM && std::io::stderr().is_terminal(),
        }
    }

    fn tick(&mut self, n: usize) {
        self.done += n;
        if !self.shown {
            return;
        }
        let rate = self.done as f64 / self.start.elapsed().as_secs_f64().max(1e-3);
        let bar_len = 30;
        let filled = self.done * bar_len / self.total.max(1);
        let mut err = std::io::stderr().lock();
        // Best effort: a closed stderr must not fail the embedding.
        let _ = write!(
            err,
            "\rembedding [{}{}] {}/{} images, {rate:.0}/s\x1b[K",
            "#".repeat(filled),
            "-".repeat(bar_len - filled),
            self.done,
            self.total
        );
    }

    fn finish(&self) {
        if self.shown {
            eprintln!();
        }
    }
}

/// What `embed` writes: `.npy` (+ `.files.txt`), `.csv`, or CSV on stdout.
enum Output {
    Npy(PathBuf, PathBuf),
    Csv(PathBuf),
    Stdout,
}

fn output(out: Option<&Path>) -> Result<Output> {
    let Some(path) = out else {
        return Ok(Output::Stdout);
    };
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let output = match ext.as_deref() {
        Some("npy") => Output::Npy(path.to_path_buf(), path.with_extension("files.txt")),
        Some("csv") => Output::Csv(path.to_path_buf()),
        _ => bail!(
            "--out {}: expected a file name ending in .npy or .csv",
            path.display()
        ),
    };
    let targets: Vec<&Path> = match &output {
        Output::Npy(a, b) => vec![a, b],
        Output::Csv(a) => vec![a],
        Output::Stdout => vec![],
    };
    for target in targets {
        if target.exists() {
            bail!(
                "{} already exists: embed never overwrites a file (remove it, or pick another --out)",
                target.display()
            );
        }
    }
    Ok(output)
}

/// `arcface-lab embed`.
pub fn embed(
    run_dir: &Path,
    paths: &[PathBuf],
    checkpoint: &str,
    out: Option<&Path>,
    skip_bad: bool,
    choice: DeviceChoice,
) -> Result<()> {
    let output = output(out)?;
    let files = collect_images(paths)?;
    let model = load_model(run_dir, checkpoint, choice)?;
    let (rows, kept) = embed_files(&model, &files, skip_bad)?;
    let dim = model.dim;
    match output {
        Output::Npy(npy, list) => {
            let mut text = String::new();
            for file in &kept {
                text.push_str(&file.to_string_lossy());
                text.push('\n');
            }
            viz::write_npy_f32(&npy, &rows, &[kept.len(), dim])
                .with_context(|| format!("cannot write {}", npy.display()))?;
            std::fs::write(&list, text)
                .with_context(|| format!("cannot write {}", list.display()))?;
            eprintln!(
                "wrote {} embeddings of size {dim} to {} (files in {})",
                kept.len(),
                npy.display(),
                list.display()
            );
        }
        Output::Csv(path) => {
            let file = std::fs::File::create(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            write_csv(file, &kept, &rows, dim)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "wrote {} embeddings of size {dim} to {}",
                kept.len(),
                path.display()
            );
        }
        Output::Stdout => {
            write_csv(std::io::stdout().lock(), &kept, &rows, dim)
                .context("cannot write to stdout")?;
        }
    }
    Ok(())
}

fn write_csv(to: impl Write, files: &[PathBuf], rows: &[f32], dim: usize) -> Result<()> {
    let mut writer = csv::Writer::from_writer(to);
    let mut header = vec!["file".to_owned()];
    header.extend((0..dim).map(|k| format!("e{k}")));
    writer.write_record(&header)?;
    for (file, row) in files.iter().zip(rows.chunks(dim.max(1))) {
        let mut record = vec![file.to_string_lossy().into_owned()];
        record.extend(row.iter().map(|v| v.to_string()));
        writer.write_record(&record)?;
    }
    writer.flush()?;
    Ok(())
}
