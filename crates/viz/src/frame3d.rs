//! Embeddings on the unit sphere, seen by the fixed camera.

use crate::canvas::{Canvas, Rgb};
use crate::frame2d::{RAY_OUTLINE, ray};
use crate::geometry::{Mark, sphere_marks};
use crate::palette::{class_color, faded};
use crate::project::{Camera, Projected, Viewport, unit};
use crate::scene::Scene;

const FRONT_ALPHA: f32 = 0.7;
const BACK_ALPHA: f32 = 0.45;
/// How far colours behind the sphere are washed towards white.
const BACK_FADE: f32 = 0.6;

/// Draws `scene`, whose points and centres are 3-column, into `vp` through the fixed camera.
pub(crate) fn draw(canvas: &mut Canvas, vp: &Viewport, scene: &Scene) {
    let scale = scene.scale;
    let cam = Camera::fixed();
    let mut dots: Vec<(Projected, usize)> = scene
        .points
        .chunks_exact(3)
        .zip(scene.labels)
        .filter_map(|(row, &label)| {
            Some((cam.project(unit([row[0], row[1], row[2]])?), label as usize))
        })
        .collect();
    // Painter's order: farthest first, so nearer dots cover farther ones.
    dots.sort_by(|a, b| a.0.depth.total_cmp(&b.0.depth));
    let split = dots.partition_point(|(p, _)| !p.is_front());
    let rays: Vec<(Projected, usize)> = scene
        .centers
        .chunks_exact(3)
        .enumerate()
        .filter_map(|(class, row)| Some((cam.project(unit([row[0], row[1], row[2]])?), class)))
        .collect();
    let centre = (vp.cx, vp.cy);
    let (back_grid, front_grid) = grid(&cam);
    let dot_r = (2.4 * scale).max(1.0);

    draw_grid(canvas, vp, &back_grid, scale, [236, 236, 236]);
    for (p, class) in &dots[..split] {
        let (x, y) = vp.to_pixel(p.x, p.y);
        canvas.disc(
            x,
            y,
            dot_r * 0.85,
            faded(class_color(*class), BACK_FADE),
            BACK_ALPHA,
        );
    }
    for (p, class) in rays.iter().filter(|(p, _)| !p.is_front()) {
        let tip = vp.to_pixel(p.x, p.y);
        ray(
            canvas,
            centre,
            tip,
            faded(class_color(*class), 0.5),
            faded(RAY_OUTLINE, 0.6),
            scale * 0.8,
        );
    }

    // Boundaries and bands on the front face only: behind the dots, over the sphere.
    let marks = sphere_marks(scene.centers, &scene.geometry, 12_000);
    let mark_r = (1.6 * scale).max(0.8);
    for (p, mark) in &marks {
        let q = cam.project(*p);
        if !q.is_front() {
            continue;
        }
        let (x, y) = vp.to_pixel(q.x, q.y);
        match mark {
            Mark::Band => canvas.disc(x, y, mark_r, [200, 200, 200], 0.35),
            Mark::Boundary => canvas.disc(x, y, mark_r * 0.8, [120, 120, 120], 0.8),
        }
    }

    // The origin is inside the sphere: behind everything on the front face.
    canvas.disc(vp.cx, vp.cy, 2.5 * scale, RAY_OUTLINE, 1.0);
    canvas.ring(vp.cx, vp.cy, vp.radius, 1.4 * scale, [140, 140, 140]);
    draw_grid(canvas, vp, &front_grid, scale, [205, 205, 205]);
    for (p, class) in &dots[split..] {
        let (x, y) = vp.to_pixel(p.x, p.y);
        canvas.disc(x, y, dot_r, class_color(*class), FRONT_ALPHA);
    }
    for (p, class) in rays.iter().filter(|(p, _)| p.is_front()) {
        ray(
            canvas,
            centre,
            vp.to_pixel(p.x, p.y),
            class_color(*class),
            RAY_OUTLINE,
            scale,
        );
    }
}

type Segment = [(f32, f32); 2];

fn draw_grid(canvas: &mut Canvas, vp: &Viewport, segments: &[Segment], scale: f32, color: Rgb) {
    for seg in segments {
        canvas.line(
            vp.to_pixel(seg[0].0, seg[0].1),
            vp.to_pixel(seg[1].0, seg[1].1),
            scale,
            color,
            1.0,
        );
    }
}

/// Latitude circles every 30° and meridians every 30°, as short screen-space
/// segments split by which hemisphere (back, front) they lie on.
fn grid(cam: &Camera) -> (Vec<Segment>, Vec<Segment>) {
    const STEPS: usize = 120;
    let mut back = Vec::new();
    let mut front = Vec::new();
    let mut add = |a: [f32; 3], b: [f32; 3]| {
        let (pa, pb) = (cam.project(a), cam.project(b));
        let seg = [(pa.x, pa.y), (pb.x, pb.y)];
        if pa.depth + pb.depth >= 0.0 {
            front.push(seg)
        } else {
            back.push(seg)
        }
    };
    let circle = |t: f32, f: &dyn Fn(f32) -> [f32; 3]| f(t * std::f32::consts::TAU);
    for lat in [-60f32, -30.0, 0.0, 30.0, 60.0] {
        let (sl, cl) = lat.to_radians().sin_cos();
        let at = |a: f32| [cl * a.cos(), cl * a.sin(), sl];
        for i in 0..STEPS {
            add(
                circle(i as f32 / STEPS as f32, &at),
                circle((i + 1) as f32 / STEPS as f32, &at),
            );
        }
    }
    for lon in (0..6).map(|k| k as f32 * 30f32) {
        let (so, co) = lon.to_radians().sin_cos();
        // A full great circle through both poles covers two meridians.
        let at = |a: f32| [a.cos() * co, a.cos() * so, a.sin()];
        for i in 0..STEPS {
            add(
                circle(i as f32 / STEPS as f32, &at),
                circle((i + 1) as f32 / STEPS as f32, &at),
            );
        }
    }
    (back, front)
}
