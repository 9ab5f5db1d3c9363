//! Embeddings on the equal-area map of the whole sphere (conventions in `map`, the projection
//! in `hammer`): nothing is hidden behind anything, so every class of a 3-D run can be told
//! apart in every frame.

use std::f64::consts::{FRAC_PI_2, PI, TAU};

use crate::canvas::{Canvas, Rgb};
use crate::frame2d::{BAND, BOUNDARY, BOUNDARY_WIDTH, DOT_ALPHA, RAY_OUTLINE, knob};
use crate::geometry::{MarginBand, draws_sphere_geometry, in_band, sphere_units, two_nearest};
use crate::hammer;
use crate::map::{MapViewport, direction, map_point, map_polylines};
use crate::palette::class_color;
use crate::project::Camera;
use crate::scene::Scene;
use crate::voronoi::{Arc, boundary_arcs};

const GRID: Rgb = [232, 232, 232];
const RIM: Rgb = [150, 150, 150];
/// The globe's outline, drawn on the map as a dotted line.
const HORIZON: Rgb = [120, 150, 200];
/// Boundary arcs are sampled this finely (radians): straight pieces of half a degree look
/// curved at any frame size.
const ARC_STEP: f64 = PI / 360.0;

/// Draws `scene`, whose points and centres are 3-column, on the map at `mv`. With `horizon`
/// the globe's outline (the circle 90° from the camera) is dotted in, so that the map can be
/// matched with the globe beside it.
pub(crate) fn draw(canvas: &mut Canvas, mv: &MapViewport, scene: &Scene, horizon: bool) {
    let scale = scene.scale;
    draw_graticule(canvas, mv, scale);

    let units = sphere_units(scene.centers);
    if draws_sphere_geometry(&units, &scene.geometry) {
        if scene.geometry.band != MarginBand::None {
            shade_bands(canvas, mv, &units, scene.geometry.band);
        }
        for arc in boundary_arcs(scene.centers) {
            for line in map_polylines(&arc.samples(ARC_STEP)) {
                let px: Vec<(f32, f32)> = line.into_iter().map(|p| mv.to_pixel(p)).collect();
                canvas.polyline(&px, BOUNDARY_WIDTH * scale, BOUNDARY);
            }
        }
    }

    let rim: Vec<(f32, f32)> = (0..=360)
        .map(|k| {
            let t = f64::from(k).to_radians();
            mv.to_pixel((hammer::SEMI_X * t.cos(), hammer::SEMI_Y * t.sin()))
        })
        .collect();
    canvas.polyline(&rim, 1.3 * scale, RIM);
    if horizon {
        draw_horizon(canvas, mv, scale);
    }

    let dot_r = (2.4 * scale).max(1.0);
    for (row, &label) in scene.points.chunks_exact(3).zip(scene.labels) {
        let Some(p) = map_point([row[0], row[1], row[2]].map(f64::from)) else {
            continue;
        };
        let (x, y) = mv.to_pixel(p);
        canvas.disc(x, y, dot_r, class_color(label as usize), DOT_ALPHA);
    }
    for (class, row) in scene.centers.chunks_exact(3).enumerate() {
        if let Some(p) = map_point([row[0], row[1], row[2]].map(f64::from)) {
            knob(
                canvas,
                mv.to_pixel(p),
                class_color(class),
                RAY_OUTLINE,
                scale,
            );
        }
    }
}

/// Parallels and meridians every 30°, as on the globe.
fn draw_graticule(canvas: &mut Canvas, mv: &MapViewport, scale: f32) {
    let line = |canvas: &mut Canvas, f: &dyn Fn(f64) -> (f64, f64)| {
        let px: Vec<(f32, f32)> = (0..=180)
            .map(|k| mv.to_pixel(f(f64::from(k) / 180.0)))
            .collect();
        canvas.polyline(&px, scale, GRID);
    };
    for lat in [-60.0, -30.0, 0.0, 30.0, 60.0f64] {
        let lat = lat.to_radians();
        line(canvas, &|t| hammer::forward(-PI + TAU * t, lat));
    }
    for lon in (-5..=5).map(|k| f64::from(k) * 30f64.to_radians()) {
        line(canvas, &|t| hammer::forward(lon, -FRAC_PI_2 + PI * t));
    }
}

/// Every pixel of the map whose point lies in a margin band, found through the inverse
/// projection (exact, whatever the band's shape on the map).
fn shade_bands(canvas: &mut Canvas, mv: &MapViewport, units: &[[f64; 3]], band: MarginBand) {
    let (hw, hh) = mv.half_size();
    let (x0, x1) = ((mv.cx - hw).floor() as i32, (mv.cx + hw).ceil() as i32);
    let (y0, y1) = ((mv.cy - hh).floor() as i32, (mv.cy + hh).ceil() as i32);
    for py in y0..y1 {
        for px in x0..x1 {
            let (x, y) = mv.map_at_pixel(px as f32 + 0.5, py as f32 + 0.5);
            let Some((lon, lat)) = hammer::inverse(x, y) else {
                continue;
            };
            let (t1, t2) = two_nearest(units, direction(lon, lat));
            if in_band(band, t1, t2) {
                canvas.blend(px, py, BAND, 1.0);
            }
        }
    }
}

/// The globe's outline, dotted: where the map's points pass from the globe's front to its back.
fn draw_horizon(canvas: &mut Canvas, mv: &MapViewport, scale: f32) {
    let toward = Camera::fixed().toward().map(f64::from);
    // A unit vector orthogonal to the camera's direction (which is never the pole) and the one
    // 90° further on span the outline.
    let side = [-toward[1], toward[0], 0.0];
    let n = (side[0] * side[0] + side[1] * side[1]).sqrt();
    let start = side.map(|v| v / n);
    let tangent = [
        toward[1] * start[2] - toward[2] * start[1],
        toward[2] * start[0] - toward[0] * start[2],
        toward[0] * start[1] - toward[1] * start[0],
    ];
    let outline = Arc {
        start,
        tangent,
        angle: TAU,
    };
    let every = (7.0 * scale).max(3.0);
    for line in map_polylines(&outline.samples(ARC_STEP)) {
        let px: Vec<(f32, f32)> = line.into_iter().map(|p| mv.to_pixel(p)).collect();
        // A dot every `every` pixels along the line.
        let mut to_next = 0.0;
        for w in px.windows(2) {
            let (dx, dy) = (w[1].0 - w[0].0, w[1].1 - w[0].1);
            let len = dx.hypot(dy);
            let mut at = to_next;
            while at <= len {
                let t = if len > 0.0 { at / len } else { 0.0 };
                canvas.disc(
                    w[0].0 + t * dx,
                    w[0].1 + t * dy,
                    (0.9 * scale).max(0.7),
                    HORIZON,
                    1.0,
                );
                at += every;
            }
            to_next = at - len;
        }
    }
}
