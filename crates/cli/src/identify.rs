//! `arcface-lab identify`: whom do query images show, among a gallery of one folder per
//! identity? Gallery embeddings are cached in `RUN_DIR/galleries/`, keyed by the gallery and the
//! checkpoint, and recomputed when a gallery file is added, removed or changed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use run_folder::SourceFiles;

use crate::checkpoint::{Checkpoint, Model};
use crate::embed;
use crate::verify;

/// One identity's score for a query.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
struct Match {
    identity: String,
    score: f64,
}

/// `arcface-lab identify`.
pub fn identify(args: &crate::args::IdentifyArgs) -> Result<()> {
    if args.top == 0 {
        bail!("--top 0: expected at least 1");
    }
    let (names, files) = gallery_files(&args.gallery)?;
    let queries = embed::collect_images(&args.queries)?;
    let scoring = &args.scoring;
    let threshold = verify::threshold(&args.run_dir, scoring)?;
    let checkpoint = &scoring.checkpoint;
    let opened = Checkpoint::open(&args.run_dir, checkpoint)?;
    let model = opened.load(scoring.device)?;
    let gallery = gallery_embeddings(&opened, &args.gallery, checkpoint, &model, &files)?;
    let (query_rows, kept) = embed::embed_files(&model, &queries, false)?;
    let dim = model.dim;
    for (query, row) in kept.iter().zip(query_rows.chunks(dim)) {
        let mut scores: Vec<Match> = names
            .iter()
            .enumerate()
            .map(|(identity, name)| {
                let sims = files
                    .iter()
                    .zip(gallery.chunks(dim))
                    .filter(|((owner, _), _)| *owner == identity)
                    .map(|(_, g)| verify::cosine(row, g));
                let score = match args.score.as_str() {
                    "mean" => {
                        let (sum, n) = sims.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
                        sum / n.max(1) as f64
                    }
                    _ => sims.fold(f64::NEG_INFINITY, f64::max),
                };
                Match {
                    identity: name.clone(),
                    score,
                }
            })
            .collect();
        scores.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.identity.cmp(&b.identity))
        });
        scores.truncate(args.top);
        let best = scores
            .first()
            .filter(|m| m.score >= threshold.value)
            .map(|m| m.identity.clone());
        if args.json {
            let line = serde_json::json!({
                "query": query.to_string_lossy(),
                "identity": best,
                "matches": scores,
                "threshold": threshold.value,
                "source": threshold.source,
            });
            println!("{line}");
        } else {
            let ranked: Vec<String> = scores
                .iter()
                .map(|m| format!("{} {:.4}", m.identity, m.score))
                .collect();
            println!(
                "{}: {}  [{}]",
                query.display(),
                best.as_deref().unwrap_or("unknown"),
                ranked.join(", ")
            );
        }
    }
    eprintln!(
        "threshold {:.4} ({}); a query whose best identity scores below it is \"unknown\"",
        threshold.value,
        verify::describe(&threshold)
    );
    Ok(())
}

/// A gallery's identities and its images, each with its identity's index.
type Gallery = (Vec<String>, Vec<(usize, PathBuf)>);

/// The gallery's identities (its subfolders, sorted) and every image with its identity's index.
fn gallery_files(dir: &Path) -> Result<Gallery> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("--gallery {}: cannot read this folder", dir.display()))?;
    let mut folders = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read folder {}", dir.display()))?;
        if entry.path().is_dir() {
            folders.push(entry.path());
        }
    }
    folders.sort();
    if folders.is_empty() {
        bail!(
            "--gallery {}: expected one folder per identity, found none",
            dir.display()
        );
    }
    let mut names = Vec::new();
    let mut files = Vec::new();
    for (k, folder) in folders.iter().enumerate() {
        names.push(
            folder
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        for file in embed::collect_images(std::slice::from_ref(folder))? {
            files.push((k, file));
        }
    }
    Ok((names, files))
}

/// FNV-1a, 64 bits: a stable name for a gallery's cache files.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The gallery's embeddings, from `RUN_DIR/galleries/<hash>.npy` when its files are exactly
/// those recorded beside it (`<hash>.sources.json`: sizes and modification times), else
/// computed and cached.
fn gallery_embeddings(
    opened: &Checkpoint,
    gallery: &Path,
    checkpoint: &str,
    model: &Model,
    files: &[(usize, PathBuf)],
) -> Result<Vec<f32>> {
    let root = std::fs::canonicalize(gallery)
        .with_context(|| format!("cannot resolve {}", gallery.display()))?;
    let weights_record = SourceFiles::stat(&[opened.weights().to_path_buf()])?;
    let key = format!(
        "{}\n{checkpoint}\n{:?}",
        root.display(),
        weights_record.files
    );
    let name = format!("{:016x}", fnv1a(key.as_bytes()));
    let folder = opened.run.file("galleries");
    let npy = folder.join(format!("{name}.npy"));
    let list = folder.join(format!("{name}.files.txt"));
    let sources = folder.join(format!("{name}.sources.json"));
    let paths: Vec<PathBuf> = files.iter().map(|(_, p)| p.clone()).collect();

    if sources.exists() {
        let record = SourceFiles::read(&sources)?;
        let listed: Vec<&Path> = record.files.iter().map(|f| f.path.as_path()).collect();
        let same_list = listed == paths.iter().map(PathBuf::as_path).collect::<Vec<_>>();
        if same_list
            && record.changes(Some(&paths)).is_empty()
            && let Ok((rows, shape)) = viz::read_npy_f32(&npy)
            && shape == [paths.len(), model.dim]
        {
            eprintln!(
                "gallery: {} images, cached in {}",
                paths.len(),
                npy.display()
            );
            return Ok(rows);
        }
        eprintln!(
            "gallery: changed since {} was cached: embedding it again",
            npy.display()
        );
    }
    let record = SourceFiles::stat(&paths)?;
    let (rows, kept) = embed::embed_files(model, &paths, false)?;
    debug_assert_eq!(kept.len(), paths.len());
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    // sources.json marks the cache valid: removed first, written last.
    if sources.exists() {
        std::fs::remove_file(&sources)
            .with_context(|| format!("cannot remove {}", sources.display()))?;
    }
    viz::write_npy_f32(&npy, &rows, &[paths.len(), model.dim])
        .with_context(|| format!("cannot write {}", npy.display()))?;
    let text: String = paths
        .iter()
        .map(|p| format!("{}\n", p.to_string_lossy()))
        .collect();
    std::fs::write(&list, text).with_context(|| format!("cannot write {}", list.display()))?;
    record.write(&sources)?;
    eprintln!(
        "gallery: {} images embedded, cached in {}",
        paths.len(),
        npy.display()
    );
    Ok(rows)
}
