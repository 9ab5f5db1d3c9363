//! One picture of one epoch: the public frame types, input checks, the page
//! layout (title, plot: circle, globe and/or map, legend) and PNG output.

use std::path::Path;

use plotters::backend::{BitMapBackend, DrawingBackend};
use run_folder::PendingFile;

use crate::canvas::{Canvas, Rgb};
use crate::error::VizError;
use crate::geometry::Geometry;
use crate::map::{MapViewport, Projection};
use crate::palette::class_color;
use crate::pca::Pca;
use crate::project::Viewport;
use crate::scene::Scene;
use crate::text::{self, Label};
use crate::{frame_map, frame2d, frame3d};

/// The embeddings of one split at one epoch, ready to draw.
pub struct FrameData<'a> {
    /// Row-major `[N, dim]` embeddings (not necessarily normalised).
    pub points: &'a [f32],
    pub dim: usize,
    /// Class index of each row, `0 <= label < class_names.len()`.
    pub labels: &'a [i64],
    /// Row-major `[class_names.len(), dim]` class-centre vectors, or empty for no rays.
    pub centers: &'a [f32],
    pub class_names: &'a [String],
    /// Title; `\n` starts a new line.
    pub title: String,
}

/// How frames and animations look.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// Height of every picture, in pixels, and its width too except for the frames that hold
    /// the sphere's map (see `projection`), which are twice as wide.
    pub size: u32,
    /// Display time of each GIF frame.
    pub frame_ms: u32,
    /// Display time of the last GIF frame, so the final state can be read.
    pub last_frame_ms: u32,
    /// Most class names listed in the legend; the rest are counted as "+N more".
    pub max_legend: usize,
    /// Decision boundaries and margin bands between neighbouring centres.
    pub geometry: Geometry,
    /// How frames of 3-D (and N-D) embeddings show the sphere.
    pub projection: Projection,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            size: 640,
            frame_ms: 125,
            last_frame_ms: 3000,
            max_legend: 20,
            geometry: Geometry::default(),
            projection: Projection::default(),
        }
    }
}

/// What a frame of `dim`-D embeddings shows of the sphere: `None` for the circle of 2-D runs.
pub(crate) fn sphere_view(dim: usize, opts: &RenderOptions) -> Option<Projection> {
    (dim >= 3).then_some(opts.projection)
}

/// (width, height) of a frame `size` pixels high: square, or 2:1 when it holds the map (the
/// map of the whole sphere is itself twice as wide as tall).
pub(crate) fn frame_dims(size: u32, view: Option<Projection>) -> (u32, u32) {
    match view {
        Some(p) if p.shows_map() => (2 * size, size),
        _ => (size, size),
    }
}

pub(crate) const MIN_SIZE: u32 = 64;
/// GIF dimensions are 16-bit; far beyond anything useful anyway.
pub(crate) const MAX_SIZE: u32 = 8192;

/// Draws `frame` and writes it to `path` as a PNG (through a temp file).
/// Embeddings with more than three dimensions are shown through their own
/// top-3 principal axes.
pub fn render_frame(path: &Path, frame: &FrameData, opts: &RenderOptions) -> Result<(), VizError> {
    let canvas = draw_frame(path, frame, opts, None)?;
    write_png(path, &canvas)
}

/// Draws `frame` into a new canvas. For dim > 3, `pca` (fitted elsewhere, e.g.
/// on the last epoch so all frames share axes) is used, or one is fitted on
/// these points. `path` only names the picture in errors.
pub(crate) fn draw_frame(
    path: &Path,
    frame: &FrameData,
    opts: &RenderOptions,
    pca: Option<&Pca>,
) -> Result<Canvas, VizError> {
    validate(path, frame, opts)?;
    crate::font::ensure_font()?;

    let mut title: Vec<String> = frame.title.lines().map(str::to_string).collect();
    let projected;
    let (points, centers) = if frame.dim > 3 {
        let fitted;
        let pca = match pca {
            Some(p) if p.dim == frame.dim => p,
            _ => {
                fitted = Pca::fit(frame.points, frame.dim, 3);
                &fitted
            }
        };
        projected = (
            to_3d(pca, frame.points, frame.dim),
            to_3d(pca, frame.centers, frame.dim),
        );
        let note = format!("PCA of {}-D", frame.dim);
        match title.last_mut() {
            Some(last) if !last.is_empty() => *last = format!("{last} · {note}"),
            _ => title.push(note),
        }
        (&projected.0[..], &projected.1[..])
    } else {
        (frame.points, frame.centers)
    };

    let view = sphere_view(frame.dim, opts);
    let layout = Layout::new(
        opts.size,
        title.len(),
        opts.max_legend > 0 && !frame.class_names.is_empty(),
        view,
    );
    let (width, height) = frame_dims(opts.size, view);
    let mut canvas = Canvas::new_rect(width, height);
    let scene = Scene {
        points,
        labels: frame.labels,
        centers,
        scale: layout.scale,
        // Margins live in the full space: on a PCA view (more than 3 dimensions) they would be
        // drawn wrong; on the circle and the sphere they are the real ones.
        geometry: if frame.dim <= 3 {
            opts.geometry
        } else {
            Geometry::default()
        },
    };
    match (view, &layout.viewport) {
        (None, Some(vp)) => frame2d::draw(&mut canvas, vp, &scene),
        (Some(_), Some(vp)) => frame3d::draw(&mut canvas, vp, &scene),
        (_, None) => {}
    }
    if let Some(map) = &layout.map {
        frame_map::draw(&mut canvas, map, &scene, layout.viewport.is_some());
    }

    let mut labels = layout.title_labels(&title);
    labels.extend(layout.captions());
    if let Some(legend) = &layout.legend {
        labels.extend(legend.draw(&mut canvas, frame.class_names, opts.max_legend));
    }
    text::draw_labels(&mut canvas, &labels, path)?;
    Ok(canvas)
}

fn to_3d(pca: &Pca, rows: &[f32], dim: usize) -> Vec<f32> {
    let mut out = vec![0f32; rows.len() / dim * 3];
    for (row, o) in rows.chunks_exact(dim).zip(out.chunks_exact_mut(3)) {
        pca.project(row, o);
    }
    out
}

fn validate(path: &Path, f: &FrameData, opts: &RenderOptions) -> Result<(), VizError> {
    let err = |reason: String| Err(VizError::frame(path, reason));
    if !(MIN_SIZE..=MAX_SIZE).contains(&opts.size) {
        return err(format!(
            "image size {} px is outside the supported {MIN_SIZE}..={MAX_SIZE}",
            opts.size
        ));
    }
    if f.dim < 2 {
        return err(format!(
            "embedding dimension {} cannot be drawn on a circle or a sphere (expected at least 2)",
            f.dim
        ));
    }
    if !f.points.len().is_multiple_of(f.dim) {
        return err(format!(
            "points has {} values, not a multiple of dim {}",
            f.points.len(),
            f.dim
        ));
    }
    let rows = f.points.len() / f.dim;
    if f.labels.len() != rows {
        return err(format!(
            "expected one label per point ({rows}), found {} labels",
            f.labels.len()
        ));
    }
    let classes = f.class_names.len();
    if !f.centers.is_empty() && f.centers.len() != classes * f.dim {
        return err(format!(
            "expected centers of shape ({classes}, {}) (one per class name), found {} values",
            f.dim,
            f.centers.len()
        ));
    }
    if let Some((i, l)) = f
        .labels
        .iter()
        .enumerate()
        .find(|(_, l)| !(0..classes as i64).contains(l))
    {
        return err(format!(
            "label {l} of point {i} is outside 0..{classes} (one class name per class)"
        ));
    }
    Ok(())
}

/// Where things go on the page; everything scales with its height.
pub(crate) struct Layout {
    width: f32,
    /// Pixels per pixel of the 640-px reference design.
    pub scale: f32,
    title_px: f64,
    /// The circle (2-D) or the globe; `None` on a map-only frame.
    pub viewport: Option<Viewport>,
    /// The map of the whole sphere, when the frame holds it.
    pub map: Option<MapViewport>,
    pub legend: Option<Legend>,
}

/// Share of the plot's width the globe takes beside the map: the map, twice as wide as tall,
/// gets the rest.
const GLOBE_SHARE: f32 = 0.4;

impl Layout {
    /// The layout of a frame `size` pixels high showing the circle (`view` = `None`) or the
    /// sphere as `view` says; its width is [`frame_dims`]'s.
    pub(crate) fn new(
        size: u32,
        title_lines: usize,
        legend: bool,
        view: Option<Projection>,
    ) -> Self {
        let s = size as f32;
        let width = frame_dims(size, view).0 as f32;
        let scale = s / 640.0;
        let margin = 12.0 * scale;
        let title_px = 19.0 * scale as f64;
        let title_h = margin + title_lines as f32 * 1.35 * title_px as f32 + margin * 0.5;
        let legend_w = if legend { 128.0 * scale } else { 0.0 };
        let (x0, x1, y0, y1) = (margin, width - margin - legend_w, title_h, s - margin);
        // Room beyond the unit circle for the radial spread of 2-D dots.
        let circle_in = |x0: f32, x1: f32| Viewport {
            cx: 0.5 * (x0 + x1),
            cy: 0.5 * (y0 + y1),
            radius: 0.5 * (x1 - x0).min(y1 - y0) / 1.08,
        };
        // The map leaves a line under it for its caption.
        let caption_h = 1.6 * CAPTION_PX as f32 * scale;
        let (viewport, map) = match view {
            None | Some(Projection::Globe) => (Some(circle_in(x0, x1)), None),
            Some(Projection::Map) => (None, Some(MapViewport::fit(x0, x1, y0, y1 - caption_h))),
            Some(Projection::Both) => {
                let globe_w = (y1 - y0).min(GLOBE_SHARE * (x1 - x0));
                (
                    Some(circle_in(x0, x0 + globe_w)),
                    Some(MapViewport::fit(
                        x0 + globe_w + margin,
                        x1,
                        y0,
                        y1 - caption_h,
                    )),
                )
            }
        };
        let legend = legend.then_some(Legend {
            x: x1 + margin * 0.5,
            y0,
            y1,
            width: legend_w,
            px: 13.0 * scale as f64,
        });
        Self {
            width,
            scale,
            title_px,
            viewport,
            map,
            legend,
        }
    }

    /// The map's caption, under it: what it is and how it is oriented. Left out where it would
    /// be too small to read.
    fn captions(&self) -> Vec<Label> {
        let Some(map) = &self.map else {
            return Vec::new();
        };
        let px = CAPTION_PX * self.scale as f64;
        if px < 8.0 {
            return Vec::new();
        }
        let (half_w, half_h) = map.half_size();
        let text = format!(
            "whole sphere, equal-area (Hammer) · north pole +z · centre lon {}°{}",
            crate::map::CENTRE_LON_DEG,
            if self.viewport.is_some() {
                " · dotted: the globe's outline"
            } else {
                ""
            }
        );
        vec![Label {
            text: text::fit(&text, px, 2.0 * half_w),
            x: map.cx,
            y: map.cy + half_h + 0.9 * px as f32 + 4.0 * self.scale,
            px,
            color: [110, 110, 110],
            centered: true,
        }]
    }

    fn title_labels(&self, lines: &[String]) -> Vec<Label> {
        let margin = 12.0 * self.scale;
        let max_w = self.width - 2.0 * margin;
        let line_h = 1.35 * self.title_px as f32;
        lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                // The first line is the headline; long lines shrink rather than clip.
                let base = if i == 0 {
                    self.title_px
                } else {
                    self.title_px * 0.85
                };
                let w = text::width(line, base);
                let px = if w > max_w {
                    base * (max_w / w) as f64
                } else {
                    base
                };
                Label {
                    text: line.clone(),
                    x: self.width / 2.0,
                    y: margin + line_h * (i as f32 + 0.5),
                    px,
                    color: if i == 0 { [20, 20, 20] } else { [70, 70, 70] },
                    centered: true,
                }
            })
            .collect()
    }
}

/// Caption text size at the 640-px reference scale.
const CAPTION_PX: f64 = 12.0;

/// The column of class swatches and names at the right.
pub(crate) struct Legend {
    x: f32,
    y0: f32,
    y1: f32,
    width: f32,
    px: f64,
}

impl Legend {
    /// Paints the swatches and returns the names to write next to them.
    fn draw(&self, canvas: &mut Canvas, names: &[String], max_entries: usize) -> Vec<Label> {
        let row_h = 1.5 * self.px as f32;
        let fits = ((self.y1 - self.y0) / row_h).floor().max(1.0) as usize;
        let mut shown = names.len().min(max_entries).min(fits);
        if shown < names.len() && shown == fits {
            shown -= 1; // make room for the "+N more" row
        }
        let swatch = 0.32 * self.px as f32;
        let text_x = self.x + 3.0 * swatch;
        let max_w = self.width - (text_x - self.x);
        let mut labels = Vec::with_capacity(shown + 1);
        for (i, name) in names.iter().take(shown).enumerate() {
            let y = self.y0 + row_h * (i as f32 + 0.5);
            canvas.disc(self.x + swatch, y, swatch, class_color(i), 1.0);
            labels.push(self.label(text::fit(name, self.px, max_w), text_x, y, [30, 30, 30]));
        }
        if shown < names.len() {
            let y = self.y0 + row_h * (shown as f32 + 0.5);
            labels.push(self.label(
                format!("+{} more", names.len() - shown),
                self.x,
                y,
                [90, 90, 90],
            ));
        }
        labels
    }

    fn label(&self, text: String, x: f32, y: f32, color: Rgb) -> Label {
        Label {
            text,
            x,
            y,
            px: self.px,
            color,
            centered: false,
        }
    }
}

/// Writes the canvas as a PNG through plotters' bitmap backend.
pub(crate) fn write_png(path: &Path, canvas: &Canvas) -> Result<(), VizError> {
    write_png_rgb(path, &canvas.buf, canvas.dims())
}

/// Writes an RGB buffer of `size` = (width, height) as a PNG.
pub(crate) fn write_png_rgb(path: &Path, rgb: &[u8], size: (u32, u32)) -> Result<(), VizError> {
    let pending = PendingFile::new(path)?;
    {
        let mut backend = BitMapBackend::new(pending.path(), size);
        backend
            .blit_bitmap((0, 0), size, rgb)
            .map_err(|e| VizError::draw(path, e))?;
        backend.present().map_err(|e| VizError::draw(path, e))?;
    }
    Ok(pending.commit()?)
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
