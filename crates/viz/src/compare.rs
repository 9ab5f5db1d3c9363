//! Several runs of the same data (one per head) drawn side by side: one GIF per split whose
//! frames tile every run at the same epoch, with one shared legend tile, and the runs' curves
//! overlaid.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::canvas::Canvas;
use crate::curves::render_comparison_curves;
use crate::error::VizError;
use crate::frame::{
    FrameData, MAX_SIZE, MIN_SIZE, RenderOptions, draw_frame, frame_dims, sphere_view,
    write_png_rgb,
};
use crate::geometry::Geometry;
use crate::gif::GifWriter;
use crate::metrics::read_metrics;
use crate::palette::class_color;
use crate::run::{SPLITS, SplitPlan, epoch_line, read_classes};
use crate::text::{self, Label};

/// One run of a comparison.
#[derive(Debug, Clone)]
pub struct ComparedRun {
    /// Name on its tiles and curves (the head).
    pub label: String,
    /// The run folder.
    pub dir: PathBuf,
    /// What its tiles draw beside the dots.
    pub geometry: Geometry,
}

/// What [`render_comparison`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComparisonSummary {
    /// Epochs every run has, drawn as frames.
    pub epochs: usize,
    /// One grid GIF per split, and the last grid of each split as a PNG.
    pub files: Vec<PathBuf>,
}

/// Renders `runs` (label, run folder) into `out_dir`: `compare-<split>.gif` (every run at the
/// same epoch, tiled, with a legend tile), `compare-<split>.png` (the last epoch) and
/// `compare-diagnostics.png` (validation curves overlaid). `opts.size` is the side of the
/// whole grid of square tiles; tiles that hold the sphere's map are twice as wide, and so is
/// the grid. The runs must share their classes (same data); only epochs that all runs have
/// are drawn.
pub fn render_comparison(
    runs: &[ComparedRun],
    out_dir: &Path,
    opts: &RenderOptions,
) -> Result<ComparisonSummary, VizError> {
    let first = runs
        .first()
        .ok_or_else(|| VizError::frame(out_dir, "a comparison needs at least one run"))?;
    let classes = read_classes(&first.dir.join("classes.json"))?;
    for run in &runs[1..] {
        let path = run.dir.join("classes.json");
        if read_classes(&path)? != classes {
            return Err(VizError::format(
                &path,
                format!(
                    "the classes of {} (a comparison needs runs on the same data)",
                    first.dir.join("classes.json").display()
                ),
                "other classes",
            ));
        }
    }
    let cells = runs.len() + 1;
    let cols = grid_side(cells);
    let rows = cells.div_ceil(cols);
    let tile = opts.size / cols as u32;
    if tile < MIN_SIZE || opts.size > MAX_SIZE {
        return Err(VizError::frame(
            out_dir,
            format!(
                "{cols} columns of {tile}-px tiles: raise the size (each tile needs at least {MIN_SIZE} px, the grid at most {MAX_SIZE})"
            ),
        ));
    }
    let tile_opts = RenderOptions {
        size: tile,
        max_legend: 0,
        ..opts.clone()
    };

    let mut summary = ComparisonSummary {
        epochs: 0,
        files: Vec::new(),
    };
    for split in SPLITS {
        let mut plans = Vec::new();
        for run in runs {
            let dir = &run.dir;
            let split_dir = dir.join("embeddings").join(split);
            if !split_dir.is_dir() {
                continue;
            }
            let plan = SplitPlan::scan(
                split,
                &split_dir,
                &dir.join("embeddings").join("centers"),
                classes.len(),
            )?;
            let metrics = read_metrics(&dir.join("metrics.csv"))?;
            plans.push((run, plan, metrics));
        }
        if plans.len() != runs.len() {
            continue;
        }
        let common: BTreeSet<u32> = plans
            .iter()
            .map(|(_, p, _)| p.epochs.iter().map(|e| e.number).collect::<BTreeSet<_>>())
            .reduce(|a, b| a.intersection(&b).copied().collect())
            .unwrap_or_default();
        let Some(&last) = common.iter().next_back() else {
            continue;
        };
        summary.epochs = common.len();
        // The runs share their data, so the first one's dimension sizes every cell.
        let cell = frame_dims(tile, sphere_view(plans[0].1.dim, opts));
        let page_size = (cell.0 * cols as u32, cell.1 * rows as u32);
        let gif_path = out_dir.join(format!("compare-{split}.gif"));
        let mut gif = GifWriter::create_rect(&gif_path, page_size, opts.frame_ms)?;
        let legend = legend_tile(cell, &classes, &gif_path)?;
        for &number in &common {
            let mut page = Page::new(page_size);
            for (k, (run, plan, metrics)) in plans.iter().enumerate() {
                let Some(epoch) = plan.epochs.iter().find(|e| e.number == number) else {
                    continue;
                };
                let points = plan.read_points(&epoch.points)?;
                let (centers, _) = crate::npy::read_npy_f32(&epoch.centers)?;
                let total = plan.epochs.last().map_or(number, |e| e.number);
                let frame = FrameData {
                    points: &points,
                    dim: plan.dim,
                    labels: &plan.labels,
                    centers: &centers,
                    class_names: &classes,
                    title: format!(
                        "{} · {split}\n{}",
                        run.label,
                        epoch_line(number, total, metrics.get(&number), split)
                    ),
                };
                let opts = RenderOptions {
                    geometry: run.geometry,
                    ..tile_opts.clone()
                };
                let canvas = draw_frame(&gif_path, &frame, &opts, None)?;
                page.blit(&canvas, cell, k % cols, k / cols);
            }
            page.blit(&legend, cell, runs.len() % cols, runs.len() / cols);
            gif.push_rgb(&page.rgb, page_size)?;
            if number == last {
                let png = out_dir.join(format!("compare-{split}.png"));
                write_png_rgb(&png, &page.rgb, page_size)?;
                summary.files.push(png);
            }
        }
        summary.files.push(gif.finish(opts.last_frame_ms)?);
    }
    if summary.files.is_empty() {
        return Err(VizError::NoEpochs {
            dir: first.dir.join("embeddings"),
        });
    }
    let curves = out_dir.join("compare-diagnostics.png");
    let named: Vec<(String, PathBuf)> = runs
        .iter()
        .map(|r| (r.label.clone(), r.dir.clone()))
        .collect();
    render_comparison_curves(&named, &curves)?;
    summary.files.push(curves);
    Ok(summary)
}

/// Columns (and rows) of the smallest square grid with `cells` cells.
fn grid_side(cells: usize) -> usize {
    let r = cells.isqrt();
    if r * r < cells { r + 1 } else { r }
}

/// A white RGB page of `(width, height)` pixels that tiles are copied into.
struct Page {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Page {
    fn new((width, height): (u32, u32)) -> Self {
        Self {
            width: width as usize,
            height: height as usize,
            rgb: vec![255; width as usize * height as usize * 3],
        }
    }

    /// Copies `tile` into cell (`col`, `row`) of a grid of `cell` = (width, height) cells, at
    /// the cell's top left; a tile that would not fit the page is left out.
    fn blit(&mut self, tile: &Canvas, cell: (u32, u32), col: usize, row: usize) {
        let (w, h) = (tile.width as usize, tile.size as usize);
        let (x0, y0) = (col * cell.0 as usize, row * cell.1 as usize);
        if x0 + w > self.width || y0 + h > self.height {
            return;
        }
        for y in 0..h {
            let src = &tile.buf[y * w * 3..(y + 1) * w * 3];
            let start = ((y0 + y) * self.width + x0) * 3;
            self.rgb[start..start + w * 3].copy_from_slice(src);
        }
    }
}

/// The shared legend, a tile of `(width, height)` pixels: a swatch and the name of every class
/// that fits, then "+N more".
fn legend_tile(
    (width, height): (u32, u32),
    classes: &[String],
    path: &Path,
) -> Result<Canvas, VizError> {
    crate::font::ensure_font()?;
    let mut canvas = Canvas::new_rect(width, height);
    let s = height as f32;
    let px = (13.0 * s / 320.0).clamp(9.0, 16.0) as f64;
    let row_h = 1.5 * px as f32;
    let margin = 0.08 * s;
    let mut labels = vec![Label {
        text: "classes".into(),
        x: margin,
        y: margin,
        px: px * 1.15,
        color: [20, 20, 20],
        centered: false,
    }];
    let fits = (((s - 2.5 * margin) / row_h).floor() as usize).max(1);
    let mut shown = classes.len().min(fits);
    if shown < classes.len() {
        shown = shown.saturating_sub(1);
    }
    let swatch = 0.32 * px as f32;
    for (i, name) in classes.iter().take(shown).enumerate() {
        let y = margin + row_h * (i as f32 + 1.5);
        canvas.disc(margin + swatch, y, swatch, class_color(i), 1.0);
        labels.push(Label {
            text: text::fit(name, px, width as f32 - 2.0 * margin - 3.0 * swatch),
            x: margin + 3.0 * swatch,
            y,
            px,
            color: [30, 30, 30],
            centered: false,
        });
    }
    if shown < classes.len() {
        labels.push(Label {
            text: format!("+{} more", classes.len() - shown),
            x: margin,
            y: margin + row_h * (shown as f32 + 1.5),
            px,
            color: [90, 90, 90],
            centered: false,
        });
    }
    text::draw_labels(&mut canvas, &labels, path)?;
    Ok(canvas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tile_lands_in_its_cell_and_nowhere_else() {
        // A 6x4 page of 2-px cells: cell (2, 1) is x in 4..6, y in 2..4.
        let mut page = Page::new((6, 4));
        let mut tile = Canvas::new(2);
        tile.buf.fill(0);
        page.blit(&tile, (2, 2), 2, 1);
        page.blit(&tile, (2, 2), 3, 0); // past the right edge: left out
        for y in 0..4 {
            for x in 0..6 {
                let inside = x >= 4 && y >= 2;
                let i = (y * 6 + x) * 3;
                let expected: &[u8] = if inside { &[0, 0, 0] } else { &[255, 255, 255] };
                assert_eq!(&page.rgb[i..i + 3], expected, "pixel ({x}, {y})");
            }
        }
    }

    #[test]
    fn wide_tiles_land_in_wide_cells() {
        // A 8x2 page of 4x2 cells: a 4x2 tile in cell (1, 0) is x in 4..8; a 2x2 tile in cell
        // (0, 0) fills only the cell's left half.
        let mut page = Page::new((8, 2));
        let mut wide = Canvas::new_rect(4, 2);
        wide.buf.fill(0);
        let mut square = Canvas::new(2);
        square.buf.fill(100);
        page.blit(&wide, (4, 2), 1, 0);
        page.blit(&square, (4, 2), 0, 0);
        for y in 0..2 {
            for x in 0..8 {
                let want = match x {
                    0..2 => 100,
                    2..4 => 255,
                    _ => 0,
                };
                assert_eq!(page.rgb[(y * 8 + x) * 3], want, "pixel ({x}, {y})");
            }
        }
    }

    #[test]
    fn five_heads_and_a_legend_fill_a_three_by_three_grid() {
        assert_eq!(grid_side(1), 1);
        assert_eq!(grid_side(4), 2);
        assert_eq!(grid_side(5), 3);
        assert_eq!(grid_side(6), 3);
        assert_eq!(grid_side(9), 3);
        assert_eq!(grid_side(10), 4);
    }
}
