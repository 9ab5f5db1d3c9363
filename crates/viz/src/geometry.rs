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
