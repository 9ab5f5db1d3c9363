//! Line charts of a run's per-epoch numbers: `plots/diagnostics.png` (losses and the angle
//! diagnostics over epochs), `plots/angles.png` (the target-angle histogram at a few epochs,
//! as in the ArcFace paper's Fig. 4a) and, for a comparison, the same curves of several runs
//! overlaid.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use embed_metrics::{HIST_STEP_DEG, Roc};
use plotters::prelude::*;
use run_folder::PendingFile;

use crate::error::VizError;
use crate::font::FAMILY;
use crate::palette::class_color;

/// One curve.
struct Series {
    label: String,
    points: Vec<(f64, f64)>,
    color: RGBColor,
    dashed: bool,
}

/// One chart of a figure.
struct Panel {
    title: String,
    y_label: String,
    series: Vec<Series>,
}

/// A CSV file as named columns of numbers (cells that are not numbers read as NaN).
pub(crate) struct Table {
    pub columns: BTreeMap<String, Vec<f64>>,
    pub text_columns: BTreeMap<String, Vec<String>>,
}

impl Table {
    pub(crate) fn read(path: &Path) -> Result<Self, VizError> {
        let table = run_folder::MetricsTable::read(path)?;
        let columns = table
            .header
            .iter()
            .enumerate()
            .map(|(k, h)| {
                let values = table
                    .rows
                    .iter()
                    .map(|r| r[k].unwrap_or(f64::NAN))
                    .collect();
                (h.clone(), values)
            })
            .collect();
        let text_columns = table
            .header
            .iter()
            .enumerate()
            .map(|(k, h)| (h.clone(), table.text.iter().map(|r| r[k].clone()).collect()))
            .collect();
        Ok(Self {
            columns,
            text_columns,
        })
    }

    fn column(&self, name: &str) -> Option<&[f64]> {
        self.columns.get(name).map(Vec::as_slice)
    }

    /// `(epoch, value)` pairs of a column, finite values only.
    fn curve(&self, name: &str) -> Vec<(f64, f64)> {
        match (self.column("epoch"), self.column(name)) {
            (Some(e), Some(v)) => e
                .iter()
                .zip(v)
                .filter(|(e, v)| e.is_finite() && v.is_finite())
                .map(|(&e, &v)| (e, v))
                .collect(),
            _ => Vec::new(),
        }
    }
}

const TRAIN: RGBColor = RGBColor(31, 119, 180);
const VAL: RGBColor = RGBColor(214, 39, 40);

/// Draws `plots/diagnostics.png` of a run from its `metrics.csv`: losses, the mean and 95th
/// percentile of the target angle, the smallest angle between centres, and the 1-NN accuracy
/// with the share of `theta + m > pi`. Returns `None` when `metrics.csv` has no angle columns
/// (a run written before they existed).
pub(crate) fn render_diagnostics(run_dir: &Path, out: &Path) -> Result<Option<PathBuf>, VizError> {
    let table = Table::read(&run_dir.join("metrics.csv"))?;
    if table.column("val_angle_mean_deg").is_none() {
        return Ok(None);
    }
    let s = |label: &str, col: &str, color: RGBColor, dashed: bool| Series {
        label: label.to_string(),
        points: table.curve(col),
        color,
        dashed,
    };
    let panels = vec![
        Panel {
            title: "loss".into(),
            y_label: "loss".into(),
            series: vec![
                s("train", "train_loss", TRAIN, false),
                s("val", "val_loss", VAL, false),
            ],
        },
        Panel {
            title: "angle to own class centre".into(),
            y_label: "degrees".into(),
            series: vec![
                s("train mean", "train_angle_mean_deg", TRAIN, false),
                s("train p95", "train_angle_p95_deg", TRAIN, true),
                s("val mean", "val_angle_mean_deg", VAL, false),
                s("val p95", "val_angle_p95_deg", VAL, true),
            ],
        },
        Panel {
            title: "smallest angle between centres".into(),
            y_label: "degrees".into(),
            series: vec![s(
                "centres",
                "center_angle_min_deg",
                RGBColor(44, 160, 44),
                false,
            )],
        },
        Panel {
            title: "1-NN accuracy, share of θ+m > π".into(),
            y_label: "fraction".into(),
            series: vec![
                s("train 1-NN", "train_knn_acc", TRAIN, false),
                s("val 1-NN", "val_knn_acc", VAL, false),
                s("train θ+m>π", "train_overflow", TRAIN, true),
                s("val θ+m>π", "val_overflow", VAL, true),
            ],
        },
    ];
    let title = format!("{} · diagnostics", run_name(run_dir));
    draw_panels(out, &title, &panels, "epoch")?;
    Ok(Some(out.to_path_buf()))
}

/// Draws `plots/angles.png` from a run's `angles.csv`: the training split's target-angle
/// histogram (as a share of samples per bin) at the first, middle and last epochs, the
/// validation split's last epoch dashed. `None` without an `angles.csv`.
pub(crate) fn render_angle_histograms(
    run_dir: &Path,
    out: &Path,
) -> Result<Option<PathBuf>, VizError> {
    let path = run_dir.join("angles.csv");
    if !path.exists() {
        return Ok(None);
    }
    let table = Table::read(&path)?;
    let (Some(epochs), Some(splits)) = (table.column("epoch"), table.text_columns.get("split"))
    else {
        return Err(VizError::format(
            &path,
            "columns epoch and split",
            "neither",
        ));
    };
    let bins: Vec<(f64, &[f64])> = table
        .columns
        .iter()
        .filter_map(|(name, col)| {
            let deg = name.strip_prefix("deg_")?.parse::<f64>().ok()?;
            Some((deg, col.as_slice()))
        })
        .collect();
    let mut bins = bins;
    bins.sort_by(|a, b| a.0.total_cmp(&b.0));
    let row_curve = |row: usize| -> Vec<(f64, f64)> {
        let total: f64 = bins.iter().map(|(_, c)| c[row]).sum();
        bins.iter()
            .map(|(deg, c)| (deg + HIST_STEP_DEG / 2.0, c[row] / total.max(1.0)))
            .collect()
    };
    let train_rows: Vec<usize> = (0..epochs.len())
        .filter(|&i| splits[i] == "train")
        .collect();
    let mut picks: Vec<usize> = Vec::new();
    if let (Some(&first), Some(&last)) = (train_rows.first(), train_rows.last()) {
        picks.push(first);
        let mid = train_rows[train_rows.len() / 2];
        if mid != first && mid != last {
            picks.push(mid);
        }
        if last != first {
            picks.push(last);
        }
    }
    let mut series: Vec<Series> = picks
        .iter()
        .enumerate()
        .map(|(k, &row)| Series {
            label: format!("train, epoch {}", epochs[row]),
            points: row_curve(row),
            color: shade(k, picks.len()),
            dashed: false,
        })
        .collect();
    if let Some(&row) = (0..epochs.len())
        .filter(|&i| splits[i] == "val")
        .collect::<Vec<_>>()
        .last()
    {
        series.push(Series {
            label: format!("val, epoch {}", epochs[row]),
            points: row_curve(row),
            color: VAL,
            dashed: true,
        });
    }
    let panels = [Panel {
        title: "angle between each sample and its class centre".into(),
        y_label: "share of samples".into(),
        series,
    }];
    let title = format!("{} · target angles", run_name(run_dir));
    draw_panels(out, &title, &panels, "degrees")?;
    Ok(Some(out.to_path_buf()))
}

/// Overlays the validation curves of several runs (one colour per run): accuracy, mean
/// target angle, smallest centre angle and 1-NN accuracy. Runs without angle columns only
/// contribute their accuracy.
pub fn render_comparison_curves(runs: &[(String, PathBuf)], out: &Path) -> Result<(), VizError> {
    let tables: Vec<(String, Table)> = runs
        .iter()
        .map(|(name, dir)| Ok((name.clone(), Table::read(&dir.join("metrics.csv"))?)))
        .collect::<Result<_, VizError>>()?;
    let panel = |title: &str, y_label: &str, col: &str| Panel {
        title: title.into(),
        y_label: y_label.into(),
        series: tables
            .iter()
            .enumerate()
            .map(|(k, (name, t))| Series {
                label: name.clone(),
                points: t.curve(col),
                color: rgb(class_color(k)),
                dashed: false,
            })
            .collect(),
    };
    let panels = [
        panel("validation accuracy", "fraction", "val_acc"),
        panel(
            "val angle to own centre (mean)",
            "degrees",
            "val_angle_mean_deg",
        ),
        panel(
            "smallest angle between centres",
            "degrees",
            "center_angle_min_deg",
        ),
        panel("val 1-NN accuracy", "fraction", "val_knn_acc"),
    ];
    draw_panels(out, "heads compared", &panels, "epoch")
}

/// Draws ROC curves (false accept rate vs true accept rate), one per `(label, roc)`, with the
/// chance diagonal dashed.
pub fn render_roc(out: &Path, title: &str, curves: &[(String, &Roc)]) -> Result<(), VizError> {
    let mut series: Vec<Series> = curves
        .iter()
        .enumerate()
        .map(|(k, (label, roc))| Series {
            label: label.clone(),
            points: roc
                .fpr
                .iter()
                .copied()
                .zip(roc.tpr.iter().copied())
                .collect(),
            color: rgb(class_color(k)),
            dashed: false,
        })
        .collect();
    series.push(Series {
        label: "chance".into(),
        points: vec![(0.0, 0.0), (1.0, 1.0)],
        color: RGBColor(170, 170, 170),
        dashed: true,
    });
    let panels = [Panel {
        title: "verification ROC (cosine similarity)".into(),
        y_label: "true accept rate".into(),
        series,
    }];
    draw_panels(out, title, &panels, "false accept rate")
}

fn rgb(c: [u8; 3]) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

/// Light to dark blue for `k` of `n` histograms: later epochs darker.
fn shade(k: usize, n: usize) -> RGBColor {
    let t = if n <= 1 {
        1.0
    } else {
        k as f64 / (n - 1) as f64
    };
    let mix = |light: f64, dark: f64| (light + (dark - light) * t).round() as u8;
    RGBColor(mix(158.0, 8.0), mix(202.0, 48.0), mix(225.0, 107.0))
}

fn run_name(run_dir: &Path) -> String {
    run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into())
}

/// Two columns of panels, 480 x 360 px each, written through a temp file.
fn draw_panels(out: &Path, title: &str, panels: &[Panel], x_label: &str) -> Result<(), VizError> {
    crate::font::ensure_font()?;
    let cols = panels.len().clamp(1, 2);
    let rows = panels.len().div_ceil(cols).max(1);
    let (w, h) = (480 * cols as u32, 360 * rows as u32 + 40);
    let pending = PendingFile::new(out)?;
    let draw_err = |e: Box<dyn std::error::Error + Send + Sync>| VizError::Draw {
        path: out.to_path_buf(),
        source: e,
    };
    {
        let root = BitMapBackend::new(pending.path(), (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_err(boxed(e)))?;
        let root = root
            .titled(title, (FAMILY, 22))
            .map_err(|e| draw_err(boxed(e)))?;
        let areas = root.split_evenly((rows, cols));
        for (panel, area) in panels.iter().zip(areas.iter()) {
            draw_panel(area, panel, x_label).map_err(draw_err)?;
        }
        root.present().map_err(|e| draw_err(boxed(e)))?;
    }
    Ok(pending.commit()?)
}

type DrawResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn boxed<E: std::error::Error + Send + Sync + 'static>(
    e: E,
) -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(e)
}

fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    panel: &Panel,
    x_label: &str,
) -> DrawResult {
    let all = panel.series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        // Nothing to draw: a titled empty frame says so.
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1e-9 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.08).max(1e-6);
    let (y0, y1) = (y0 - pad, y1 + pad);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FAMILY, 16))
        .margin(8)
        .x_label_area_size(32)
        .y_label_area_size(52)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(boxed)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(&panel.y_label)
        .label_style((FAMILY, 12))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(boxed)?;
    for s in &panel.series {
        if s.points.is_empty() {
            continue;
        }
        let color = s.color;
        let style = color.stroke_width(2);
        let drawn = if s.dashed {
            chart.draw_series(DashedLineSeries::new(s.points.iter().copied(), 6, 4, style))
        } else {
            chart.draw_series(LineSeries::new(s.points.iter().copied(), style))
        }
        .map_err(boxed)?;
        drawn.label(s.label.clone()).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
        });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .label_font((FAMILY, 12))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(boxed)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_reads_numbers_by_column_name_and_rejects_ragged_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.csv");
        std::fs::write(&path, "epoch,val_acc,split\n1,0.5,train\n2,nan,val\n").unwrap();
        let t = Table::read(&path).unwrap();
        assert_eq!(t.curve("val_acc"), vec![(1.0, 0.5)]);
        assert_eq!(t.text_columns["split"], vec!["train", "val"]);
        std::fs::write(&path, "epoch,val_acc\n1,0.5,7\n").unwrap();
        let err = Table::read(&path).err().unwrap().to_string();
        assert!(err.contains("2 fields on line 2"), "{err}");
    }
}
