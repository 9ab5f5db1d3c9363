//! The decision boundaries of class centres on the unit sphere, exactly: the edges of the
//! centres' spherical Voronoi diagram, as great-circle arcs (the equal-area map draws them as
//! lines; the globe samples the same conditions on a lattice, see `geometry`).
//!
//! Unit centres `ci` and `cj` are equally near a point `p` when `p·(ci − cj) = 0`: a great
//! circle. The part of it where no third centre `ck` is nearer, `p·(ci − ck) >= 0` for every
//! `k`, is the boundary between the two classes. Along the circle `p(t) = cos t u + sin t v`
//! each such condition reads `a cos t + b sin t >= 0`, a half-circle (`t` within π/2 of
//! `atan2(b, a)`), and half-circles intersect in one arc or none.

use std::f64::consts::{FRAC_PI_2, TAU};

use crate::geometry::{MAX_SPHERE_CLASSES, sphere_units};

/// A great-circle arc: from `start`, turning towards `tangent` (a unit vector orthogonal to
/// it), for `angle` radians.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Arc {
    pub start: [f64; 3],
    pub tangent: [f64; 3],
    pub angle: f64,
}

impl Arc {
    /// The point `t` radians along the arc.
    pub(crate) fn at(&self, t: f64) -> [f64; 3] {
        let (s, c) = t.sin_cos();
        [0, 1, 2].map(|i| c * self.start[i] + s * self.tangent[i])
    }

    /// Points at most `step` radians apart, both ends included.
    pub(crate) fn samples(&self, step: f64) -> Vec<[f64; 3]> {
        let n = (self.angle / step.max(1e-6)).ceil().max(1.0) as usize;
        (0..=n)
            .map(|k| self.at(self.angle * k as f64 / n as f64))
            .collect()
    }
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn normalized(v: [f64; 3]) -> Option<[f64; 3]> {
    let n = dot(v, v).sqrt();
    (n.is_finite() && n > 1e-12).then(|| v.map(|x| x / n))
}

/// The boundary arcs between the classes of `centers` (row-major, 3 columns; zero or
/// non-finite rows are skipped): none for fewer than two or more than
/// [`MAX_SPHERE_CLASSES`] centres, as on the globe.
pub(crate) fn boundary_arcs(centers: &[f32]) -> Vec<Arc> {
    let units = sphere_units(centers);
    if !(2..=MAX_SPHERE_CLASSES).contains(&units.len()) {
        return Vec::new();
    }
    let mut arcs = Vec::new();
    for i in 0..units.len() {
        for j in i + 1..units.len() {
            if let Some(arc) = edge(&units, i, j) {
                arcs.push(arc);
            }
        }
    }
    arcs
}

/// The arc of the bisector of `units[i]` and `units[j]` where they are the nearest centres.
fn edge(units: &[[f64; 3]], i: usize, j: usize) -> Option<Arc> {
    let (ci, cj) = (units[i], units[j]);
    // Equal centres have no boundary between them.
    let normal = normalized([0, 1, 2].map(|k| ci[k] - cj[k]))?;
    // Any unit vector in the bisector plane: the axis least aligned with the normal, made
    // orthogonal to it.
    let axis = match normal.map(f64::abs) {
        [x, y, z] if x <= y && x <= z => [1.0, 0.0, 0.0],
        [_, y, z] if y <= z => [0.0, 1.0, 0.0],
        _ => [0.0, 0.0, 1.0],
    };
    let u = normalized(cross(normal, axis))?;
    let v = cross(normal, u);
    // The allowed stretch of t, [lo, hi]; None while no third centre has constrained it.
    let mut range: Option<(f64, f64)> = None;
    for (k, &ck) in units.iter().enumerate() {
        if k == i || k == j {
            continue;
        }
        let w = [0, 1, 2].map(|m| ci[m] - ck[m]);
        let (a, b) = (dot(w, u), dot(w, v));
        if a.hypot(b) < 1e-12 {
            // ck equals ci or cj: as near as they are everywhere on the circle.
            continue;
        }
        let mut centre = b.atan2(a);
        range = Some(match range {
            None => (centre - FRAC_PI_2, centre + FRAC_PI_2),
            Some((lo, hi)) => {
                // The copy of this half-circle nearest the current arc: the current arc is at
                // most a half-circle, so only that copy can overlap it.
                let mid = 0.5 * (lo + hi);
                centre += TAU * ((mid - centre) / TAU).round();
                let (lo, hi) = (lo.max(centre - FRAC_PI_2), hi.min(centre + FRAC_PI_2));
                if hi - lo <= 1e-12 {
                    return None;
                }
                (lo, hi)
            }
        });
    }
    // Two centres alone split the sphere along the whole circle.
    let (lo, hi) = range.unwrap_or((0.0, TAU));
    let (s, c) = lo.sin_cos();
    Some(Arc {
        start: [0, 1, 2].map(|m| c * u[m] + s * v[m]),
        tangent: [0, 1, 2].map(|m| -s * u[m] + c * v[m]),
        angle: hi - lo,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Angles (radians) from `p` to its nearest and second-nearest unit centre.
    fn two_nearest(units: &[[f64; 3]], p: [f64; 3]) -> (f64, f64) {
        let mut angles: Vec<f64> = units
            .iter()
            .map(|&c| dot(c, p).clamp(-1.0, 1.0).acos())
            .collect();
        angles.sort_by(f64::total_cmp);
        (angles[0], angles[1])
    }

    #[test]
    fn two_opposite_centres_are_split_by_the_whole_equator() {
        let arcs = boundary_arcs(&[0.0, 0.0, 1.0, 0.0, 0.0, -2.0]);
        assert_eq!(arcs.len(), 1);
        assert!((arcs[0].angle - TAU).abs() < 1e-12, "{:?}", arcs[0]);
        for p in arcs[0].samples(0.1) {
            assert!(
                p[2].abs() < 1e-12 && (dot(p, p) - 1.0).abs() < 1e-12,
                "{p:?}"
            );
        }
    }

    #[test]
    fn the_six_axes_are_split_along_the_edges_of_a_cube() {
        // Centres ±x, ±y, ±z: the cells are the faces of the inscribed cube, so there are 12
        // boundaries, each from one cube corner (±1, ±1, ±1)/√3 to a neighbouring one, an arc of
        // acos(1/3) = 70.53°; opposite axes share none.
        let centers = [
            1.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0,
            -1.0,
        ];
        let arcs = boundary_arcs(&centers);
        assert_eq!(arcs.len(), 12);
        let corner = 1.0 / 3f64.sqrt();
        for arc in &arcs {
            assert!((arc.angle - (1.0f64 / 3.0).acos()).abs() < 1e-9, "{arc:?}");
            for end in [arc.start, arc.at(arc.angle)] {
                assert!(
                    end.iter().all(|v| (v.abs() - corner).abs() < 1e-9),
                    "{end:?} is not a cube corner"
                );
            }
        }
    }

    #[test]
    fn every_arc_point_is_equally_near_its_two_nearest_centres() {
        // Ten centres in general position (a fixed pseudo-random draw): a spherical Voronoi
        // diagram of n generic sites has 3n - 6 edges (Euler: V - E + F = 2 with F = n and
        // three edges at each vertex, 2E = 3V).
        let mut state = 12345u64;
        let mut rnd = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f64 / (1u64 << 31) as f64 * 2.0 - 1.0) as f32
        };
        let centers: Vec<f32> = (0..30).map(|_| rnd()).collect();
        let units = sphere_units(&centers);
        assert_eq!(units.len(), 10);
        let arcs = boundary_arcs(&centers);
        assert_eq!(arcs.len(), 3 * 10 - 6);
        let mut total = 0.0;
        for arc in &arcs {
            total += arc.angle;
            for p in arc.samples(0.02) {
                let (t1, t2) = two_nearest(&units, p);
                assert!((t2 - t1).abs() < 1e-9, "{p:?}: {t1} vs {t2}");
            }
        }
        assert!(total > 0.0 && total < 10.0 * TAU, "{total}");
    }

    #[test]
    fn too_few_equal_or_empty_centres_give_no_boundary() {
        assert!(boundary_arcs(&[]).is_empty());
        assert!(boundary_arcs(&[0.0, 1.0, 0.0]).is_empty());
        assert!(boundary_arcs(&[0.0, 1.0, 0.0, 0.0, 0.0, 0.0]).is_empty());
        assert!(boundary_arcs(&[0.0, 1.0, 0.0, 0.0, 2.0, 0.0]).is_empty());
        // A duplicate of a third centre changes nothing.
        let one = boundary_arcs(&[0.0, 0.0, 1.0, 0.0, 0.0, -1.0]);
        let dup = boundary_arcs(&[0.0, 0.0, 1.0, 0.0, 0.0, -1.0, 0.0, 0.0, 3.0]);
        assert_eq!(dup.len(), 2, "{dup:?}");
        assert!(dup.iter().all(|a| (a.angle - one[0].angle).abs() < 1e-9));
        let many: Vec<f32> = (0..3 * (MAX_SPHERE_CLASSES + 1))
            .map(|i| (i as f32 * 0.37).sin())
            .collect();
        assert!(boundary_arcs(&many).is_empty());
    }
}
