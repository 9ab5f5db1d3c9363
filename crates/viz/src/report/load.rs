//! A run folder read into the page's compact arrays (see the module doc of `report`).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::encode::{centidegrees, quantize_unit, unit_rows};
use crate::error::VizError;
use crate::geometry::{
    Geometry, Mark, band_half_width, fibonacci_sphere, lattice_marks, neighbour_bisectors,
};
use crate::npy::{read_npy_f32, read_npy_i64, read_npy_info};
use crate::pca::Pca;
use crate::run::{check_labels, epoch_files, read_classes};
use crate::voronoi::boundary_arcs;

/// Points of the sphere lattice that carries the margin geometry of 3-D runs.
pub(crate) const LATTICE_POINTS: usize = 6000;

/// The splits the page knows, in the order of its toggles.
pub(crate) const SPLITS: [&str; 3] = ["train", "val", "held_out"];

/// Above this many multiply-adds (points x classes x dimensions x epochs) the nearest other
/// centre of N-D runs is not searched: only the angle to the own centre is given.
const NEAREST_BUDGET: f64 = 4e9;

pub(crate) struct SplitView {
    pub name: &'static str,
    pub labels: Vec<i64>,
    /// `[epoch][row][view_dim]`, unit directions quantised.
    pub points: Vec<i16>,
    /// N-D runs only: `[epoch][row][own angle, nearest other class, its angle]`, angles in
    /// hundredths of a degree, `u16::MAX` for none.
    pub hover: Option<Vec<u16>>,
}

pub(crate) struct RunView {
    pub dim: usize,
    pub view_dim: usize,
    pub projection: Option<String>,
    pub epochs: Vec<u32>,
    pub classes: Vec<String>,
    pub held_out_classes: Vec<String>,
    pub splits: Vec<SplitView>,
    /// `[epoch][class][view_dim]`, unit directions.
    pub centers: Vec<f32>,
    /// 2-D: `[epoch][class][bisector angle, band half-width]` (radians, NaN-padded).
    pub bands: Option<Vec<f32>>,
    /// 3-D: `[epoch][lattice point]`: 0 none, 1 band, 2 boundary.
    pub marks: Option<Vec<u8>>,
    /// 3-D, for the map: the boundary arcs of every epoch, 7 numbers each (start point, unit
    /// tangent, angle in radians), and where each epoch's arcs begin (`epochs + 1` arc
    /// indices, the last one the total).
    pub arcs: Option<(Vec<f32>, Vec<i32>)>,
    pub metrics: Value,
}

/// Reads what the page shows of `run_dir` at `epochs`, which [`run_epochs`] found in it (for a
/// comparison, the epochs every head has).
pub(crate) fn load_run(
    run_dir: &Path,
    geometry: &Geometry,
    epochs: &BTreeSet<u32>,
) -> Result<RunView, VizError> {
    let classes = read_classes(&run_dir.join("classes.json"))?;
    let held_out_path = run_dir.join("held_out_classes.json");
    let held_out_classes = if held_out_path.exists() {
        read_classes(&held_out_path)?
    } else {
        Vec::new()
    };
    let embeddings = run_dir.join("embeddings");
    let epochs: Vec<u32> = epochs.iter().copied().collect();
    let Some(&last) = epochs.last() else {
        return Err(VizError::NoEpochs {
            dir: embeddings.join("train"),
        });
    };

    let centers_dir = embeddings.join("centers");
    // The header alone gives the classes and dimensions; every epoch's values are read below.
    let cshape = read_npy_info(&epoch_path(&centers_dir, last))?.shape;
    let &[c, dim] = cshape.as_slice() else {
        return Err(VizError::format(
            &epoch_path(&centers_dir, last),
            "a 2-D array (classes, dimensions)",
            format!("shape {cshape:?}"),
        ));
    };
    if c != classes.len() || dim < 2 {
        return Err(VizError::format(
            &epoch_path(&centers_dir, last),
            format!(
                "{} rows (classes.json) of at least 2 dimensions",
                classes.len()
            ),
            format!("shape {cshape:?}"),
        ));
    }

    let view_dim = dim.min(3);
    let (pca, projection) = if dim > 3 {
        let path = epoch_path(&embeddings.join("train"), last);
        let (points, _) = read_shaped(&path, None, dim)?;
        let pca = Pca::fit(&points, dim, 3);
        let kept = explained(&pca, &points, dim);
        let text = format!(
            "{dim}-D embeddings shown through a PCA to 3-D fitted on the training embeddings of epoch {last} (the three axes hold {:.1}% of the directions' second moment); angles in the tooltip are measured in the full {dim}-D space",
            100.0 * kept
        );
        (Some(pca), Some(text))
    } else {
        (None, None)
    };
    let to_view = |values: &[f32]| -> Vec<f32> {
        match &pca {
            None => unit_rows(values, dim),
            Some(p) => {
                let mut out = vec![0f32; values.len() / dim * 3];
                for (row, o) in values.chunks_exact(dim).zip(out.chunks_exact_mut(3)) {
                    p.project(row, o);
                }
                unit_rows(&out, 3)
            }
        }
    };

    let mut centers = Vec::with_capacity(epochs.len() * c * view_dim);
    let mut full_centers = Vec::new();
    let mut bands = (view_dim == 2 && geometry.boundaries).then(Vec::new);
    let lattice = (dim == 3 && geometry.boundaries).then(|| fibonacci_sphere(LATTICE_POINTS));
    let mut marks = lattice.as_ref().map(|_| Vec::new());
    let mut arcs = lattice.as_ref().map(|_| (Vec::new(), vec![0i32]));
    for &e in &epochs {
        let path = epoch_path(&centers_dir, e);
        let (values, _) = read_shaped(&path, Some(c), dim)?;
        let view = to_view(&values);
        if let Some(b) = &mut bands {
            let mut row = vec![f32::NAN; c * 2];
            for (i, (bisector, gap)) in neighbour_bisectors(&view).into_iter().enumerate().take(c) {
                row[2 * i] = bisector as f32;
                row[2 * i + 1] = band_half_width(geometry.band, gap) as f32;
            }
            b.extend(row);
        }
        if let (Some(m), Some(l)) = (&mut marks, &lattice) {
            m.extend(
                lattice_marks(&view, geometry, l)
                    .into_iter()
                    .map(|k| match k {
                        None => 0u8,
                        Some(Mark::Band) => 1,
                        Some(Mark::Boundary) => 2,
                    }),
            );
        }
        if let Some((values, starts)) = &mut arcs {
            for arc in boundary_arcs(&view) {
                values.extend(
                    arc.start
                        .iter()
                        .chain(&arc.tangent)
                        .chain([&arc.angle])
                        .map(|&v| v as f32),
                );
            }
            starts.push((values.len() / 7) as i32);
        }
        centers.extend(view);
        if pca.is_some() {
            full_centers.push(unit_rows(&values, dim));
        }
    }

    let mut splits = Vec::new();
    for name in SPLITS {
        let dir = embeddings.join(name);
        if !dir.is_dir() {
            continue;
        }
        let labels_path = dir.join("labels.npy");
        let (labels, _) = read_npy_i64(&labels_path)?;
        let limit = if name == "held_out" {
            held_out_classes.len()
        } else {
            c
        };
        check_labels(&labels_path, &labels, limit, "one per class of the run")?;
        let n = labels.len();
        let nearest = (n * c * dim * epochs.len()) as f64 <= NEAREST_BUDGET;
        let mut points = Vec::with_capacity(epochs.len() * n * view_dim);
        let mut hover = pca
            .as_ref()
            .map(|_| Vec::with_capacity(epochs.len() * n * 3));
        for (k, &e) in epochs.iter().enumerate() {
            let (values, _) = read_shaped(&epoch_path(&dir, e), Some(n), dim)?;
            points.extend(to_view(&values).into_iter().map(quantize_unit));
            if let Some(h) = &mut hover {
                let own = (name != "held_out").then_some(labels.as_slice());
                h.extend(full_space_angles(
                    &unit_rows(&values, dim),
                    own,
                    &full_centers[k],
                    dim,
                    nearest,
                ));
            }
        }
        splits.push(SplitView {
            name,
            labels,
            points,
            hover,
        });
    }

    Ok(RunView {
        dim,
        view_dim,
        projection,
        epochs,
        classes,
        held_out_classes,
        splits,
        centers,
        bands,
        marks,
        arcs,
        metrics: read_metrics_table(&run_dir.join("metrics.csv"))?,
    })
}

/// Epochs with a training snapshot and centres (validation and held-out snapshots are written
/// in the same step).
pub(crate) fn run_epochs(run_dir: &Path) -> Result<Vec<u32>, VizError> {
    let embeddings = run_dir.join("embeddings");
    let train = embeddings.join("train");
    if !train.is_dir() {
        return Err(VizError::NoEpochs { dir: train });
    }
    let centers: BTreeSet<u32> = epoch_files(&embeddings.join("centers"))?
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    let mut epochs: Vec<u32> = epoch_files(&train)?
        .into_iter()
        .map(|(e, _)| e)
        .filter(|e| centers.contains(e))
        .collect();
    for split in ["val", "held_out"] {
        let dir = embeddings.join(split);
        if dir.is_dir() {
            let have: BTreeSet<u32> = epoch_files(&dir)?.into_iter().map(|(e, _)| e).collect();
            epochs.retain(|e| have.contains(e));
        }
    }
    Ok(epochs)
}

fn epoch_path(dir: &Path, epoch: u32) -> std::path::PathBuf {
    dir.join(format!("epoch_{epoch:03}.npy"))
}

/// A float32 array of `rows` (when given) x `dim`.
fn read_shaped(
    path: &Path,
    rows: Option<usize>,
    dim: usize,
) -> Result<(Vec<f32>, usize), VizError> {
    let (values, shape) = read_npy_f32(path)?;
    match shape.as_slice() {
        &[n, d] if d == dim && rows.is_none_or(|r| r == n) => Ok((values, n)),
        _ => Err(VizError::format(
            path,
            match rows {
                Some(r) => format!("shape [{r}, {dim}] (as the labels and the other epochs)"),
                None => format!("a 2-D array with {dim} columns"),
            },
            format!("shape {shape:?}"),
        )),
    }
}

/// Share of the unit rows' second moment along the PCA axes.
fn explained(pca: &Pca, points: &[f32], dim: usize) -> f64 {
    let units = unit_rows(points, dim);
    let mut kept = 0f64;
    let mut total = 0f64;
    let mut out = [0f32; 3];
    for row in units.chunks_exact(dim) {
        pca.project(row, &mut out);
        kept += out
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>();
        total += row
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>();
    }
    if total > 0.0 { kept / total } else { 0.0 }
}

/// Per unit row: the angle to its own centre (when `own` labels are given), the nearest other
/// centre and the angle to it (when `nearest`), as `[own, class, angle]` with `u16::MAX` for
/// none. `centers` are unit rows.
fn full_space_angles(
    units: &[f32],
    own: Option<&[i64]>,
    centers: &[f32],
    dim: usize,
    nearest: bool,
) -> Vec<u16> {
    let dot = |a: &[f32], b: &[f32]| -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| f64::from(x) * f64::from(y))
            .sum()
    };
    let mut out = Vec::with_capacity(units.len() / dim * 3);
    for (i, row) in units.chunks_exact(dim).enumerate() {
        let label = own.and_then(|l| usize::try_from(l[i]).ok());
        let zero = row.iter().all(|&v| v == 0.0);
        let own_angle = match label {
            Some(l) if !zero => centers
                .chunks_exact(dim)
                .nth(l)
                .filter(|c| c.iter().any(|&v| v != 0.0))
                .map_or(u16::MAX, |c| {
                    centidegrees(dot(row, c).clamp(-1.0, 1.0).acos())
                }),
            _ => u16::MAX,
        };
        let (mut best, mut best_class) = (f64::NEG_INFINITY, None);
        if nearest && !zero {
            for (j, c) in centers.chunks_exact(dim).enumerate() {
                if Some(j) == label || c.iter().all(|&v| v == 0.0) {
                    continue;
                }
                let cos = dot(row, c);
                if cos > best {
                    best = cos;
                    best_class = Some(j);
                }
            }
        }
        match best_class.and_then(|j| u16::try_from(j).ok()) {
            Some(j) => out.extend([own_angle, j, centidegrees(best.clamp(-1.0, 1.0).acos())]),
            None => out.extend([own_angle, u16::MAX, u16::MAX]),
        }
    }
    out
}

/// `metrics.csv` as `{"columns": [...], "rows": [[number or null, ...], ...]}`.
pub(crate) fn read_metrics_table(path: &Path) -> Result<Value, VizError> {
    if !path.exists() {
        return Ok(serde_json::json!({"columns": [], "rows": []}));
    }
    let table = run_folder::MetricsTable::read(path)?;
    let rows: Vec<Value> = table
        .rows
        .iter()
        .map(|row| {
            Value::Array(
                row.iter()
                    .map(|v| v.filter(|x| x.is_finite()).map_or(Value::Null, Value::from))
                    .collect(),
            )
        })
        .collect();
    Ok(serde_json::json!({"columns": table.header, "rows": rows}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_space_angles_of_hand_vectors() {
        // 4-D: centres e0, e1, e2; a point at 60 degrees from e0 towards e1 (cos 60 = 0.5).
        let centers = [
            1.0, 0.0, 0.0, 0.0, //
            0.0, 1.0, 0.0, 0.0, //
            0.0, 0.0, 1.0, 0.0,
        ];
        let s = 3f32.sqrt() / 2.0;
        let point = [0.5, s, 0.0, 0.0];
        // As class 0: 60 degrees to its own centre, nearest other is class 1 at 30 degrees.
        assert_eq!(
            full_space_angles(&point, Some(&[0]), &centers, 4, true),
            vec![6000, 1, 3000]
        );
        // As class 1: own 30 degrees, nearest other is class 0 at 60.
        assert_eq!(
            full_space_angles(&point, Some(&[1]), &centers, 4, true),
            vec![3000, 0, 6000]
        );
        // Held out (no own class): the nearest centre of all; without the search, nothing.
        assert_eq!(
            full_space_angles(&point, None, &centers, 4, true),
            vec![u16::MAX, 1, 3000]
        );
        assert_eq!(
            full_space_angles(&point, Some(&[0]), &centers, 4, false),
            vec![6000, u16::MAX, u16::MAX]
        );
    }

    #[test]
    fn metrics_table_keeps_columns_and_marks_missing_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.csv");
        std::fs::write(&path, "epoch,val_loss\n1,0.5\n2,nan\n").unwrap();
        let t = read_metrics_table(&path).unwrap();
        assert_eq!(t["columns"], serde_json::json!(["epoch", "val_loss"]));
        assert_eq!(t["rows"], serde_json::json!([[1.0, 0.5], [2.0, null]]));
        std::fs::write(&path, "epoch,val_loss\n1\n").unwrap();
        let err = read_metrics_table(&path).unwrap_err().to_string();
        assert!(err.contains("2 fields on line 2"), "{err}");
    }
}
