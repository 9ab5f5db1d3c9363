//! The HTML page: the template, its script and style (compiled in), and the run data as JSON.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use run_folder::{IoContext, write_atomic};
use serde_json::{Value, json};

use super::atlas::{Thumbnails, pack};
use super::encode::{b64, b64_f32, b64_i16, b64_i32, b64_u16};
use super::load::{LATTICE_POINTS, RunView, load_run, run_epochs};
use crate::error::VizError;
use crate::geometry::{Geometry, MarginBand, fibonacci_sphere};
use crate::map::CENTRE_LON_DEG;
use crate::palette::class_color;

const TEMPLATE: &str = include_str!("viewer.html");
const SCRIPT: &str = include_str!("viewer.js");
const STYLE: &str = include_str!("viewer.css");

/// One run on the page: a whole page for `view RUN`, one panel of a comparison.
#[derive(Debug, Clone)]
pub struct ViewRun {
    /// The run folder.
    pub dir: PathBuf,
    /// Panel title (the head's name in a comparison).
    pub name: String,
    /// The head and its settings, in words (e.g. "ArcFace, s = 10, m = 0.3 rad").
    pub head: String,
    /// What margin geometry to draw.
    pub geometry: Geometry,
}

/// What [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSummary {
    pub path: PathBuf,
    pub bytes: u64,
    pub panels: usize,
    pub epochs: usize,
    /// Points of one epoch, all splits together (per panel).
    pub points: usize,
    pub thumbnails: usize,
    /// Things left out, in words (e.g. a split whose thumbnails did not match its rows).
    pub notes: Vec<String>,
}

/// Writes the viewer of `runs` (one run, or the heads of a comparison, which must share their
/// data and split) to `out`, through a temp file and a rename.
pub fn write_report(
    out: &Path,
    title: &str,
    runs: &[ViewRun],
    thumbs: Option<&Thumbnails>,
) -> Result<ReportSummary, VizError> {
    let Some(first) = runs.first() else {
        return Err(VizError::frame(out, "no run to show"));
    };
    // A comparison shows the epochs every head has.
    let mut common: Option<BTreeSet<u32>> = None;
    for run in runs {
        let have: BTreeSet<u32> = run_epochs(&run.dir)?.into_iter().collect();
        common = Some(match common {
            None => have,
            Some(c) => c.intersection(&have).copied().collect(),
        });
    }
    let common = common.unwrap_or_default();
    let views = runs
        .iter()
        .map(|r| load_run(&r.dir, &r.geometry, &common))
        .collect::<Result<Vec<RunView>, VizError>>()?;
    let base = &views[0];
    for (run, view) in runs.iter().zip(&views).skip(1) {
        let same = view.classes == base.classes
            && view.dim == base.dim
            && view.splits.len() == base.splits.len()
            && view
                .splits
                .iter()
                .zip(&base.splits)
                .all(|(a, b)| a.name == b.name && a.labels == b.labels);
        if !same {
            return Err(VizError::format(
                &run.dir.join("embeddings"),
                format!(
                    "the same classes, dimensions and split as {}",
                    first.dir.display()
                ),
                "a different data set or split",
            ));
        }
    }

    let mut notes = Vec::new();
    let files = split_files(&first.dir);
    let mut tiles: Vec<&[u8]> = Vec::new();
    let mut splits = Vec::new();
    for split in &base.splits {
        let n = split.labels.len();
        let mut index = None;
        if let Some(t) = thumbs.and_then(|t| t.splits.get(split.name)) {
            if t.len() == n {
                let mut idx = Vec::with_capacity(n);
                for tile in t {
                    match tile {
                        Some(px) => {
                            idx.push(tiles.len() as i32);
                            tiles.push(px);
                        }
                        None => idx.push(-1),
                    }
                }
                index = Some(b64_i32(&idx));
            } else {
                notes.push(format!(
                    "{}: {} thumbnails for {n} rows; shown without thumbnails",
                    split.name,
                    t.len()
                ));
            }
        }
        let names = files
            .iter()
            .find(|(name, _)| name == split.name)
            .map(|(_, f)| f)
            .filter(|f| f.len() == n);
        splits.push(json!({
            "name": split.name,
            "count": n,
            "labels": b64_i32(&split.labels.iter().map(|&l| l as i32).collect::<Vec<_>>()),
            "files": names,
            "thumbs": index,
        }));
    }
    let atlas = match thumbs {
        Some(t) if !tiles.is_empty() => Some(pack(&tiles, t.size)?),
        _ => None,
    };

    let panels: Vec<Value> = runs
        .iter()
        .zip(&views)
        .map(|(run, view)| panel_json(run, view))
        .collect::<Result<_, _>>()?;
    let color = |i: usize| {
        let [r, g, b] = class_color(i);
        format!("#{r:02x}{g:02x}{b:02x}")
    };
    let c = base.classes.len();
    let data = json!({
        "version": 1,
        "title": title,
        "dim": base.dim,
        "view_dim": base.view_dim,
        "projection": base.projection,
        "epochs": base.epochs,
        "classes": base.classes,
        "colors": (0..c).map(color).collect::<Vec<_>>(),
        "held_out_classes": base.held_out_classes,
        "held_out_colors": (0..base.held_out_classes.len()).map(|i| color(c + i)).collect::<Vec<_>>(),
        "splits": splits,
        "thumbs": atlas.as_ref().map(|a| json!({
            "size": thumbs.map_or(0, |t| t.size),
            "cols": a.cols,
            "jpeg": b64(&a.jpeg),
        })),
        "lattice": base.marks.as_ref().map(|_| b64_f32(&fibonacci_sphere(LATTICE_POINTS).concat())),
        // The equal-area map's conventions (see map.rs): the page draws the same map as the frames.
        "map": (base.view_dim == 3).then(|| json!({ "centre_lon_deg": CENTRE_LON_DEG })),
        "panels": panels,
    });
    // `</` would end the script element early; `<\/` is the same JSON string.
    let json = serde_json::to_string(&data)
        .map_err(|e| VizError::format(out, "serialisable report data", e.to_string()))?
        .replace("</", "<\\/");
    let html = TEMPLATE
        .replace("/*STYLE*/", STYLE)
        .replace("/*SCRIPT*/", SCRIPT)
        .replace("{{TITLE}}", &html_escape(title))
        .replace("/*DATA*/", &json);
    write_atomic(out, html.as_bytes())?;
    Ok(ReportSummary {
        path: out.to_path_buf(),
        bytes: html.len() as u64,
        panels: runs.len(),
        epochs: base.epochs.len(),
        points: base.splits.iter().map(|s| s.labels.len()).sum(),
        thumbnails: atlas.map_or(0, |a| a.tiles),
        notes,
    })
}

fn panel_json(run: &ViewRun, view: &RunView) -> Result<Value, VizError> {
    let read_json = |name: &str| -> Result<Value, VizError> {
        let path = run.dir.join(name);
        if !path.exists() {
            return Ok(Value::Null);
        }
        Ok(run_folder::read_json(&path, "valid JSON")?)
    };
    let roc = run.dir.join("plots").join("roc.png");
    let roc_png = if roc.exists() {
        Some(b64(&std::fs::read(&roc).io_context("read", &roc)?))
    } else {
        None
    };
    let mut points = serde_json::Map::new();
    let mut hover = serde_json::Map::new();
    for split in &view.splits {
        points.insert(split.name.into(), b64_i16(&split.points).into());
        if let Some(h) = &split.hover {
            hover.insert(split.name.into(), b64_u16(h).into());
        }
    }
    Ok(json!({
        "name": run.name,
        "head": run.head,
        "points": points,
        "hover": if hover.is_empty() { Value::Null } else { Value::Object(hover) },
        "centers": b64_f32(&view.centers),
        "bands": view.bands.as_ref().map(|b| b64_f32(b)),
        "marks": view.marks.as_ref().map(|m| b64(m)),
        "arcs": view.arcs.as_ref().map(|(a, _)| b64_f32(a)),
        // Whether the head has a margin band: then the lattice's boundary marks lie inside it
        // too, and the map shades them with the band.
        "banded": run.geometry.band != MarginBand::None,
        "arc_starts": view.arcs.as_ref().map(|(_, s)| b64_i32(s)),
        "metrics": view.metrics,
        "eval": read_json("eval.json")?,
        "status": read_json("run.json")?,
        "roc_png": roc_png,
    }))
}

/// The `file` of each row of `splits.json`, per split in row order; empty when the run has
/// none (older runs) or it cannot be read: names are a nicety of the tooltip.
fn split_files(run_dir: &Path) -> Vec<(String, Vec<String>)> {
    let Ok(text) = std::fs::read_to_string(run_dir.join("splits.json")) else {
        return Vec::new();
    };
    let Ok(Value::Array(records)) = serde_json::from_str::<Value>(&text) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for r in &records {
        let (Some(split), Some(file)) = (r["split"].as_str(), r["file"].as_str()) else {
            continue;
        };
        match out.iter_mut().find(|(s, _)| s == split) {
            Some((_, files)) => files.push(file.to_string()),
            None => out.push((split.to_string(), vec![file.to_string()])),
        }
    }
    out
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
