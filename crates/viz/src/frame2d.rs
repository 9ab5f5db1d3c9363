//! Embeddings on the unit circle.

use crate::canvas::{Canvas, Rgb};
use crate::geometry::{Geometry, band_half_width, neighbour_bisectors};
use crate::palette::class_color;
use crate::project::{Viewport, unit};
use crate::scene::Scene;

/// Half-width of the band the dots are spread over, in circle radii: dots of
/// one tight class would otherwise pile onto a single arc pixel-thin.
pub(crate) const SPREAD: f32 = 0.045;
pub(crate) const DOT_ALPHA: f32 = 0.6;
pub(crate) const RAY_OUTLINE: Rgb = [45, 45, 45];
/// The margin band's grey, and the decision boundaries' grey and stroke at scale 1 (the map
/// draws its own in the same colours).
pub(crate) const BAND: Rgb = [226, 226, 226];
pub(crate) const BOUNDARY: Rgb = [170, 170, 170];
pub(crate) const BOUNDARY_WIDTH: f32 = 1.2;

/// Radial offset of point `i`: a golden-ratio sequence, evenly filling the
/// band and identical in every epoch so the animation does not shimmer.
pub(crate) fn spread(i: usize) -> f32 {
    let frac = (i as f64 * 0.618_033_988_749_894_9).fract() as f32;
    1.0 + SPREAD * (2.0 * frac - 1.0)
}

/// Draws `scene`, whose points and centres are 2-column, into `vp`.
pub(crate) fn draw(canvas: &mut Canvas, vp: &Viewport, scene: &Scene) {
    let Scene {
        points,
        labels,
        centers,
        scale,
        geometry,
    } = *scene;
    let (cx, cy) = (vp.cx, vp.cy);
    let axis = [232, 232, 232];
    canvas.line(
        vp.to_pixel(-1.12, 0.0),
        vp.to_pixel(1.12, 0.0),
        scale,
        axis,
        1.0,
    );
    canvas.line(
        vp.to_pixel(0.0, -1.12),
        vp.to_pixel(0.0, 1.12),
        scale,
        axis,
        1.0,
    );
    if geometry.boundaries {
        draw_boundaries(canvas, vp, centers, scale, &geometry);
    }
    canvas.ring(cx, cy, vp.radius, 1.3 * scale, [150, 150, 150]);

    let dot_r = (2.4 * scale).max(1.0);
    for (i, (row, &label)) in points.chunks_exact(2).zip(labels).enumerate() {
        let Some([x, y]) = unit([row[0], row[1]]) else {
            continue;
        };
        let r = spread(i);
        let (px, py) = vp.to_pixel(x * r, y * r);
        canvas.disc(px, py, dot_r, class_color(label as usize), DOT_ALPHA);
    }

    for (class, row) in centers.chunks_exact(2).enumerate() {
        let Some([x, y]) = unit([row[0], row[1]]) else {
            continue;
        };
        ray(
            canvas,
            (cx, cy),
            vp.to_pixel(x, y),
            class_color(class),
            RAY_OUTLINE,
            scale,
        );
    }
    canvas.disc(cx, cy, 2.5 * scale, RAY_OUTLINE, 1.0);
}

/// A class-centre ray: a dark outline under the class colour keeps it visible
/// over dots of its own class, and a knob marks where it meets the surface.
pub(crate) fn ray(
    canvas: &mut Canvas,
    from: (f32, f32),
    to: (f32, f32),
    color: Rgb,
    outline: Rgb,
    scale: f32,
) {
    canvas.line(from, to, 5.0 * scale, outline, 1.0);
    canvas.disc(to.0, to.1, KNOB_OUTLINE_R * scale, outline, 1.0);
    canvas.line(from, to, 2.6 * scale, color, 1.0);
    canvas.disc(to.0, to.1, KNOB_R * scale, color, 1.0);
}

/// Radii of a ray's knob and of its outline, at scale 1.
const KNOB_R: f32 = 3.2;
const KNOB_OUTLINE_R: f32 = 4.5;

/// The knob of a ray alone, where a class centre meets the surface: the equal-area map, which
/// has no origin to draw rays from, marks the centres with it.
pub(crate) fn knob(canvas: &mut Canvas, at: (f32, f32), color: Rgb, outline: Rgb, scale: f32) {
    canvas.disc(at.0, at.1, KNOB_OUTLINE_R * scale, outline, 1.0);
    canvas.disc(at.0, at.1, KNOB_R * scale, color, 1.0);
}

/// The margin band of each pair of neighbouring centres as a grey arc over the dots' ring,
/// and their bisector as a thin line from the centre.
fn draw_boundaries(
    canvas: &mut Canvas,
    vp: &Viewport,
    centers: &[f32],
    scale: f32,
    geometry: &Geometry,
) {
    let band_px = 2.0 * (SPREAD + 0.02) * vp.radius;
    for (mid, gap) in neighbour_bisectors(centers) {
        let half = band_half_width(geometry.band, gap);
        if half > 0.0 {
            let steps = ((half * 2.0 * vp.radius as f64 / 3.0).ceil() as usize).clamp(2, 400);
            let arc: Vec<(f32, f32)> = (0..=steps)
                .map(|k| {
                    let a = mid - half + 2.0 * half * k as f64 / steps as f64;
                    vp.to_pixel(a.cos() as f32, a.sin() as f32)
                })
                .collect();
            canvas.polyline(&arc, band_px, BAND);
        }
        let (s, c) = (mid.sin() as f32, mid.cos() as f32);
        canvas.line(
            vp.to_pixel(0.0, 0.0),
            vp.to_pixel(1.12 * c, 1.12 * s),
            BOUNDARY_WIDTH * scale,
            BOUNDARY,
            1.0,
        );
    }
}
