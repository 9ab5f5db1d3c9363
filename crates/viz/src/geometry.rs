//! The decision geometry of the normalised heads, drawn under the dots of a 2-D frame: the
//! boundary between two neighbouring class centres is their angular bisector, and a margin
//! head asks each class to stay clear of it by a band whose width depends on the head.
//!
//! For two centres `gap` radians apart and a sample at angle `a` from centre i (towards j),
//! class i wins with its margin when
//! - ArcFace, `cos(a + m) > cos(gap - a)`: `a < (gap - m) / 2`, a band of half-width `m / 2`;
//! - CosFace, `cos(a) - m > cos(gap - a)`: with `b = a - gap/2`,
//!   `-2 sin(gap/2) sin(b) > m`, a band of half-width `asin(m / (2 sin(gap/2)))`;
//! - SphereFace, `cos(m a) > cos(gap - a)`: `a < gap / (1 + m)`, a band of half-width
//!   `gap (m - 1) / (2 (m + 1))`.
//!
//! Inside the band neither class meets its margin; the band of a margin that cannot fit
//! covers the whole gap.

/// The shape of a head's margin.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum MarginBand {
    /// No margin (softmax, NormFace).
    #[default]
    None,
    /// ArcFace's additive angular margin `m`, radians.
    Angular(f64),
    /// CosFace's additive cosine margin `m`.
    Cosine(f64),
    /// SphereFace's multiplicative margin `m`.
    Multiplicative(f64),
}

/// What is drawn beside the dots and the centre rays.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Geometry {
    /// Angular bisectors between neighbouring centres (2-D), meaningful for the normalised
    /// heads.
    pub boundaries: bool,
    /// The margin band around each boundary.
    pub band: MarginBand,
}

/// Half-width, radians, of the band around the bisector of two centres `gap` radians apart.
pub fn band_half_width(band: MarginBand, gap: f64) -> f64 {
    let half = gap / 2.0;
    let width = match band {
        MarginBand::None => 0.0,
        MarginBand::Angular(m) => m / 2.0,
        MarginBand::Cosine(m) => {
            let x = m / (2.0 * half.sin());
            if x >= 1.0 { half } else { x.asin() }
        }
        MarginBand::Multiplicative(m) => gap * (m - 1.0) / (2.0 * (m + 1.0)),
    };
    width.clamp(0.0, half)
}

/// For 2-D centres: each pair of angularly adjacent centres as (bisector angle, gap), angles
/// in radians from the x axis. Zero or non-finite centres are skipped.
pub(crate) fn neighbour_bisectors(centers: &[f32]) -> Vec<(f64, f64)> {
    let mut angles: Vec<f64> = centers
        .chunks_exact(2)
        .filter(|c| c[0].is_finite() && c[1].is_finite() && (c[0] != 0.0 || c[1] != 0.0))
        .map(|c| f64::from(c[1]).atan2(f64::from(c[0])))
        .collect();
    if angles.len() < 2 {
        return Vec::new();
    }
    angles.sort_by(f64::total_cmp);
    let tau = std::f64::consts::TAU;
    (0..angles.len())
        .map(|i| {
            let a = angles[i];
            let b = if i + 1 < angles.len() {
                angles[i + 1]
            } else {
                angles[0] + tau
            };
            let gap = b - a;
            (a + gap / 2.0, gap)
        })
        .collect()
}

/// Whether a sample whose nearest centre is `t1` radians away and second-nearest `t2` lies in
/// the band where it does not meet its margin against that neighbour (the same conditions as
/// above, for any dimension).
pub fn in_band(band: MarginBand, t1: f64, t2: f64) -> bool {
    match band {
        MarginBand::None => false,
        MarginBand::Angular(m) => t1 + m >= t2,
        MarginBand::Cosine(m) => t1.cos() - m <= t2.cos(),
        MarginBand::Multiplicative(m) => m * t1 >= t2,
    }
}

/// A sampled point of the sphere's decision geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// Within a degree of equidistance from its two nearest centres.
    Boundary,
    /// Inside the margin band.
    Band,
}

/// Above this many classes the sphere's geometry is not sampled: the bands would cover it.
pub(crate) const MAX_SPHERE_CLASSES: usize = 200;

/// Samples the unit sphere (a Fibonacci lattice of `n` points) and marks the points on a
/// boundary between their two nearest centres or inside the margin band. `centers` are
/// row-major 3-column; zero rows are skipped.
pub(crate) fn sphere_marks(
    centers: &[f32],
    geometry: &Geometry,
    n: usize,
) -> Vec<([f32; 3], Mark)> {
    let lattice = fibonacci_sphere(n);
    lattice_marks(centers, geometry, &lattice)
        .into_iter()
        .zip(lattice)
        .filter_map(|(mark, p)| mark.map(|m| (p, m)))
        .collect()
}

/// `n` nearly evenly spaced points on the unit sphere (a Fibonacci lattice), pole to pole.
pub(crate) fn fibonacci_sphere(n: usize) -> Vec<[f32; 3]> {
    let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
    (0..n)
        .map(|k| {
            let z = 1.0 - 2.0 * (k as f64 + 0.5) / n as f64;
            let r = (1.0 - z * z).sqrt();
            let phi = golden * k as f64;
            [(r * phi.cos()) as f32, (r * phi.sin()) as f32, z as f32]
        })
        .collect()
}

/// The unit directions of `centers` (row-major, 3 columns); zero or non-finite rows are
/// skipped.
pub(crate) fn sphere_units(centers: &[f32]) -> Vec<[f64; 3]> {
    centers
        .chunks_exact(3)
        .filter_map(|c| {
            let v = [f64::from(c[0]), f64::from(c[1]), f64::from(c[2])];
            let norm = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
            (norm > 1e-12 && norm.is_finite()).then(|| v.map(|x| x / norm))
        })
        .collect()
}

/// Whether the sphere's geometry is drawn for these centres: boundaries asked for, and
/// between 2 and [`MAX_SPHERE_CLASSES`] of them.
pub(crate) fn draws_sphere_geometry(units: &[[f64; 3]], geometry: &Geometry) -> bool {
    geometry.boundaries && (2..=MAX_SPHERE_CLASSES).contains(&units.len())
}

/// The mark of unit vector `p` among the unit centres `units` (at least two): the angles to
/// its nearest and second-nearest centre decide.
pub(crate) fn mark_at(units: &[[f64; 3]], band: MarginBand, p: [f64; 3]) -> Option<Mark> {
    let (t1, t2) = two_nearest(units, p);
    if t2 - t1 < 1f64.to_radians() {
        Some(Mark::Boundary)
    } else if in_band(band, t1, t2) {
        Some(Mark::Band)
    } else {
        None
    }
}

/// The angles, radians, from unit vector `p` to its nearest and second-nearest centre among
/// `units` (unit vectors, at least two).
pub(crate) fn two_nearest(units: &[[f64; 3]], p: [f64; 3]) -> (f64, f64) {
    let (mut c1, mut c2) = (f64::MIN, f64::MIN);
    for u in units {
        let c = p[0] * u[0] + p[1] * u[1] + p[2] * u[2];
        if c > c1 {
            c2 = c1;
            c1 = c;
        } else if c > c2 {
            c2 = c;
        }
    }
    (c1.clamp(-1.0, 1.0).acos(), c2.clamp(-1.0, 1.0).acos())
}

/// The mark of each lattice point (unit vectors) for the centres `centers` (row-major
/// 3-column; zero rows skipped): all `None` without boundaries or with too few or too many
/// classes.
pub(crate) fn lattice_marks(
    centers: &[f32],
    geometry: &Geometry,
    lattice: &[[f32; 3]],
) -> Vec<Option<Mark>> {
    let units = sphere_units(centers);
    if !draws_sphere_geometry(&units, geometry) {
        return vec![None; lattice.len()];
    }
    lattice
        .iter()
        .map(|q| mark_at(&units, geometry.band, q.map(f64::from)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::{FRAC_PI_2, PI};

    #[test]
    fn band_widths_match_the_hand_derivations() {
        // ArcFace: m / 2.
        assert!((band_half_width(MarginBand::Angular(0.3), FRAC_PI_2) - 0.15).abs() < 1e-12);
        // CosFace, m = 0.2, gap 90 degrees: asin(0.2 / (2 sin 45)) = asin(0.141421) = 0.141897.
        let c = band_half_width(MarginBand::Cosine(0.2), FRAC_PI_2);
        assert!((c - 0.141_897).abs() < 1e-6, "{c}");
        // SphereFace, m = 2, gap 90 degrees: the class zone ends at gap/3 = 30 degrees, so
        // the half-width is 45 - 30 = 15 degrees.
        let s = band_half_width(MarginBand::Multiplicative(2.0), FRAC_PI_2);
        assert!((s - PI / 12.0).abs() < 1e-12, "{s}");
        assert_eq!(band_half_width(MarginBand::None, 1.0), 0.0);
    }

    #[test]
    fn a_margin_wider_than_the_gap_fills_it() {
        assert_eq!(band_half_width(MarginBand::Angular(2.0), 1.0), 0.5);
        assert_eq!(band_half_width(MarginBand::Cosine(0.9), 0.2), 0.1);
    }

    #[test]
    fn the_band_test_agrees_with_the_half_widths_on_the_circle() {
        // Two centres 90 degrees apart; a sample at angle a from the nearer one is in the band
        // exactly when a > gap/2 - half-width.
        let gap = FRAC_PI_2;
        for band in [
            MarginBand::Angular(0.3),
            MarginBand::Cosine(0.2),
            MarginBand::Multiplicative(2.0),
        ] {
            let edge = gap / 2.0 - band_half_width(band, gap);
            assert!(!in_band(band, edge - 1e-6, gap - (edge - 1e-6)), "{band:?}");
            assert!(in_band(band, edge + 1e-6, gap - (edge + 1e-6)), "{band:?}");
        }
        assert!(!in_band(MarginBand::None, 0.7, 0.71));
    }

    #[test]
    fn two_opposite_centres_put_the_boundary_on_the_equator() {
        // Centres at the poles: the boundary is the equator, the ArcFace band of m = 0.2 rad is
        // the belt |latitude| < 0.1 rad, and nothing else is marked.
        let centers = [0.0, 0.0, 1.0, 0.0, 0.0, -2.0];
        let geometry = Geometry {
            boundaries: true,
            band: MarginBand::Angular(0.2),
        };
        let marks = sphere_marks(&centers, &geometry, 4000);
        assert!(!marks.is_empty());
        for (p, mark) in &marks {
            let lat = f64::from(p[2]).asin().abs();
            match mark {
                Mark::Boundary => assert!(lat < 0.5f64.to_radians() + 1e-6, "{p:?}"),
                Mark::Band => assert!(lat <= 0.1 + 1e-6, "{p:?}"),
            }
        }
        // The belt |lat| < 0.1 holds sin(0.1) = 9.98% of the sphere's area.
        let share = marks.len() as f64 / 4000.0;
        assert!((share - 0.1f64.sin()).abs() < 0.005, "{share}");
    }

    #[test]
    fn bisectors_of_three_centres_wrap_around_the_circle() {
        // Centres at 0, 90 and 180 degrees: gaps 90, 90 and 180 (the wrap from 180 to 360).
        let centers = [1.0, 0.0, 0.0, 2.0, -1.0, 0.0];
        let mut b = neighbour_bisectors(&centers);
        b.sort_by(|x, y| x.0.total_cmp(&y.0));
        let deg: Vec<(f64, f64)> = b
            .iter()
            .map(|(a, g)| (a.to_degrees().round(), g.to_degrees().round()))
            .collect();
        assert_eq!(deg, vec![(45.0, 90.0), (135.0, 90.0), (270.0, 180.0)]);
    }
}
