//! `arcface-lab export`: a run's embeddings for the tools people already use: TensorBoard's
//! projector (tensors + metadata TSV), CSV, or one numpy `.npz` of every epoch; and the trained
//! network itself (ONNX, safetensors: [`crate::export_model`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::args::ExportFormat;
use crate::run_dir::write_atomic;

/// The splits exported; `held_out` only when the run has it (`embeddings/held_out/`).
const SPLITS: [&str; 3] = ["train", "val", "held_out"];

/// One row of `splits.json`.
#[derive(Debug, Deserialize)]
struct SplitRecord {
    file: String,
    split: String,
}

/// Writes the export of `run` into `out` (default `<run>/export`); returns the files written.
pub fn export(
    run: &Path,
    format: ExportFormat,
    epoch: Option<usize>,
    out: Option<&Path>,
    checkpoint: &str,
) -> Result<Vec<PathBuf>> {
    if matches!(format, ExportFormat::Onnx | ExportFormat::Safetensors) {
        let out = out.map_or_else(|| run.join("export"), Path::to_path_buf);
        return crate::export_model::export_model(run, format, checkpoint, &out);
    }
    let dir = crate::run_dir::RunDir::open(run)?;
    // The export reads only the run's own files, so changed images do not stop it; the rows'
    // file names would then no longer match the images, which the user should hear.
    crate::run_data::warn_on_changes(&dir);
    let out = out.map_or_else(|| run.join("export"), Path::to_path_buf);
    let classes: Vec<String> = read_json(&run.join("classes.json"))?;
    let held_out_classes: Vec<String> = if has_split(run, "held_out") {
        read_json(&run.join("held_out_classes.json"))?
    } else {
        Vec::new()
    };
    match format {
        ExportFormat::Npz => export_npz(run, &out).map(|p| vec![p]),
        ExportFormat::Onnx | ExportFormat::Safetensors => unreachable!("handled above"),
        ExportFormat::Csv | ExportFormat::Projector => {
            let epoch = match epoch {
                Some(e) => e,
                None => default_epoch(run)?,
            };
            let rows = collect_rows(run, epoch, &classes, &held_out_classes)?;
            if format == ExportFormat::Csv {
                export_csv(&rows, epoch, &out).map(|p| vec![p])
            } else {
                export_projector(&rows, epoch, &out)
            }
        }
    }
}

/// Whether the run has snapshots of `split` (train and val always; held_out when the data set
/// held identities out).
fn has_split(run: &Path, split: &str) -> bool {
    run.join("embeddings")
        .join(split)
        .join("labels.npy")
        .exists()
}

/// The best epoch from run.json, else the last one done.
fn default_epoch(run: &Path) -> Result<usize> {
    let state = crate::run_dir::current_state(run)?;
    state
        .best_epoch
        .or(Some(state.epochs_done).filter(|&e| e > 0))
        .with_context(|| {
            format!(
                "{}: no finished epoch to export",
                run.join(run_folder::layout::RUN_JSON).display()
            )
        })
}

/// The epochs `dir` holds a snapshot of (`epoch_NNN.npy`), in order.
fn snapshot_epochs(dir: &Path) -> Result<Vec<usize>> {
    let mut epochs = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let name = entry.file_name();
        let epoch = name
            .to_str()
            .and_then(|n| n.strip_prefix("epoch_"))
            .and_then(|n| n.strip_suffix(".npy"))
            .and_then(|n| n.parse::<usize>().ok());
        epochs.extend(epoch);
    }
    epochs.sort_unstable();
    Ok(epochs)
}

/// "the run has epochs 1..=20" (or "epochs 1, 3, 7" when some are missing, or none).
fn describe_epochs(epochs: &[usize]) -> String {
    match epochs {
        [] => "the run has no epoch snapshot yet".to_string(),
        [one] => format!("the run has epoch {one} only"),
        [first, .., last] if last - first + 1 == epochs.len() => {
            format!("the run has epochs {first}..={last}")
        }
        _ => format!(
            "the run has epochs {}",
            epochs
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The embeddings of every split at one epoch, with what is known about each row.
struct Row {
    split: &'static str,
    index: usize,
    label: i64,
    class: String,
    file: String,
    values: Vec<f32>,
}

fn collect_rows(
    run: &Path,
    epoch: usize,
    classes: &[String],
    held_out_classes: &[String],
) -> Result<Vec<Row>> {
    let records: Vec<SplitRecord> = if run.join("splits.json").exists() {
        read_json(&run.join("splits.json"))?
    } else {
        Vec::new()
    };
    let mut rows = Vec::new();
    for split in SPLITS {
        if split == "held_out" && !has_split(run, split) {
            continue;
        }
        let classes = if split == "held_out" {
            held_out_classes
        } else {
            classes
        };
        let dir = run.join("embeddings").join(split);
        let file = dir.join(format!("epoch_{epoch:03}.npy"));
        if !file.exists() {
            bail!(
                "--epoch {epoch}: {} has no snapshot of epoch {epoch}; {}",
                dir.display(),
                describe_epochs(&snapshot_epochs(&dir)?)
            );
        }
        let (points, shape) =
            viz::read_npy_f32(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let (labels, _) = viz::read_npy_i64(&dir.join("labels.npy"))
            .with_context(|| format!("cannot read {}", dir.join("labels.npy").display()))?;
        let &[n, dim] = shape.as_slice() else {
            bail!(
                "{}: expected a 2-D array, found shape {shape:?}",
                file.display()
            );
        };
        if labels.len() != n {
            bail!(
                "{}: {n} rows but {} labels in labels.npy",
                file.display(),
                labels.len()
            );
        }
        let files: Vec<&str> = records
            .iter()
            .filter(|r| r.split == split)
            .map(|r| r.file.as_str())
            .collect();
        for (i, (values, &label)) in points.chunks_exact(dim).zip(&labels).enumerate() {
            rows.push(Row {
                split,
                index: i,
                label,
                class: usize::try_from(label)
                    .ok()
                    .and_then(|l| classes.get(l))
                    .cloned()
                    .unwrap_or_else(|| label.to_string()),
                file: files.get(i).map(|f| f.to_string()).unwrap_or_default(),
                values: values.to_vec(),
            });
        }
    }
    Ok(rows)
}

/// A cell for CSV/TSV: separators, quotes and line breaks cannot break a row.
fn cell(text: &str, sep: char) -> String {
    if text.contains([sep, '"', '\n', '\r']) {
        if sep == '\t' {
            text.replace(['\t', '\n', '\r'], " ")
        } else {
            format!("\"{}\"", text.replace('"', "\"\""))
        }
    } else {
        text.to_string()
    }
}

fn export_csv(rows: &[Row], epoch: usize, out: &Path) -> Result<PathBuf> {
    let dim = rows.first().map_or(0, |r| r.values.len());
    let mut text = String::from("split,index,label,class,file");
    for d in 0..dim {
        text.push_str(&format!(",e{d}"));
    }
    text.push('\n');
    for r in rows {
        text.push_str(&format!(
            "{},{},{},{},{}",
            r.split,
            r.index,
            r.label,
            cell(&r.class, ','),
            cell(&r.file, ',')
        ));
        for v in &r.values {
            text.push_str(&format!(",{v}"));
        }
        text.push('\n');
    }
    let path = out.join(format!("epoch_{epoch:03}.csv"));
    create(out)?;
    write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

fn export_projector(rows: &[Row], epoch: usize, out: &Path) -> Result<Vec<PathBuf>> {
    let dir = out.join(format!("projector-epoch_{epoch:03}"));
    create(&dir)?;
    let mut tensors = String::new();
    let mut metadata = String::from("class\tsplit\tlabel\tfile\n");
    for r in rows {
        let values: Vec<String> = r.values.iter().map(f32::to_string).collect();
        tensors.push_str(&values.join("\t"));
        tensors.push('\n');
        metadata.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            cell(&r.class, '\t'),
            r.split,
            r.label,
            cell(&r.file, '\t')
        ));
    }
    let (t, m) = (dir.join("tensors.tsv"), dir.join("metadata.tsv"));
    write_atomic(&t, tensors.as_bytes())?;
    write_atomic(&m, metadata.as_bytes())?;
    Ok(vec![t, m])
}

/// Every `.npy` of the run as one archive: `{train,val}_labels` and
/// `{train,val,centers}_epoch_NNN`, plus `held_out_labels` and `held_out_epoch_NNN` when the
/// run has held-out identities.
fn export_npz(run: &Path, out: &Path) -> Result<PathBuf> {
    let splits: Vec<&str> = SPLITS
        .into_iter()
        .filter(|s| *s != "held_out" || has_split(run, s))
        .collect();
    let mut entries = Vec::new();
    for &split in &splits {
        let labels = run.join("embeddings").join(split).join("labels.npy");
        entries.push((format!("{split}_labels"), labels));
    }
    for split in splits.iter().copied().chain(["centers"]) {
        let dir = run.join("embeddings").join(split);
        let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let stem = name.strip_suffix(".npy")?.to_string();
                stem.starts_with("epoch_").then(|| (stem, e.path()))
            })
            .collect();
        files.sort();
        entries.extend(
            files
                .into_iter()
                .map(|(stem, path)| (format!("{split}_{stem}"), path)),
        );
    }
    let path = out.join("embeddings.npz");
    // Every .npy is checked before the archive's temp file (and its folder) is created, and a
    // bad one is named by its path in the run.
    viz::write_npz_files(&path, &entries)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

fn create(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_are_described_as_the_snapshots_found() {
        assert_eq!(describe_epochs(&[1, 2]), "the run has epochs 1..=2");
        assert_eq!(describe_epochs(&[3]), "the run has epoch 3 only");
        assert_eq!(describe_epochs(&[1, 2, 5]), "the run has epochs 1, 2, 5");
        assert_eq!(describe_epochs(&[]), "the run has no epoch snapshot yet");
    }

    #[test]
    fn snapshot_epochs_reads_the_file_names_only() {
        let tmp = tempfile::tempdir().unwrap();
        for name in [
            "epoch_002.npy",
            "epoch_001.npy",
            "labels.npy",
            "epoch_x.npy",
            ".epoch_003.npy.tmp",
        ] {
            std::fs::write(tmp.path().join(name), b"").unwrap();
        }
        assert_eq!(snapshot_epochs(tmp.path()).unwrap(), vec![1, 2]);
    }
}
