//! The Hammer equal-area projection: the whole unit sphere onto an ellipse, both ways in closed
//! form.
//!
//! For a longitude `λ` in [-π, π] (from the map's central meridian) and a latitude `φ` in
//! [-π/2, π/2], with `d = √(1 + cos φ cos(λ/2))`:
//!
//! ```text
//! x = 2√2 cos φ sin(λ/2) / d,    y = √2 sin φ / d
//! ```
//!
//! The sphere fills the ellipse `x²/8 + y²/2 <= 1` (semi-axes 2√2 and √2): the poles are the
//! points (0, ±√2), the equator is the major axis, the central meridian the minor one, and the
//! meridian opposite the centre (`λ = ±π`) is cut into the ellipse's left and right halves of
//! the rim (the seam). The ellipse's area is π · 2√2 · √2 = 4π, the unit sphere's, and the map
//! is equal-area everywhere: `|∂(x, y)/∂(λ, φ)| = cos φ`, the sphere's own area element, so
//! every region covers the same share of the ellipse as of the sphere (tested below by finite
//! differences).
//!
//! Inverse, for a point of the ellipse: `z = √(1 − x²/16 − y²/4)`,
//! `λ = 2 atan2(z x, 2 (2z² − 1))`, `φ = asin(z y)`.
//!
//! Hammer rather than Mollweide (whose forward map solves `2θ + sin 2θ = π sin φ` by
//! iteration) or a two-hemisphere Lambert azimuthal map (whose two discs cut every class
//! that straddles the rim, and whose single-disc form smears the antipode over its whole
//! rim): one piece, one seam, closed form both ways, which the frames use to shade the margin
//! bands pixel by pixel through the inverse.

use std::f64::consts::SQRT_2;

/// Half the width of the map of the unit sphere: 2√2.
pub(crate) const SEMI_X: f64 = 2.0 * SQRT_2;
/// Half its height: √2.
pub(crate) const SEMI_Y: f64 = SQRT_2;

/// Map point of longitude `lon` (radians from the central meridian, in [-π, π]) and latitude
/// `lat` (radians).
pub(crate) fn forward(lon: f64, lat: f64) -> (f64, f64) {
    let (sin_lat, cos_lat) = lat.sin_cos();
    let (sin_half, cos_half) = (lon / 2.0).sin_cos();
    // d >= 1 on the front half (|λ| <= π/2) and reaches 0 only at λ = ±π on the equator, the
    // seam's middle, where x -> ±2√2 and y -> 0; the clamp keeps that one point finite.
    let d = (1.0 + cos_lat * cos_half).max(1e-300).sqrt();
    (SEMI_X * cos_lat * sin_half / d, SEMI_Y * sin_lat / d)
}

/// (longitude, latitude) of map point (`x`, `y`), or `None` outside the ellipse.
pub(crate) fn inverse(x: f64, y: f64) -> Option<(f64, f64)> {
    let r = (x / SEMI_X).powi(2) + (y / SEMI_Y).powi(2);
    // Also refuses NaN.
    if r.is_nan() || r > 1.0 {
        return None;
    }
    let z = (1.0 - x * x / 16.0 - y * y / 4.0).sqrt();
    let lon = 2.0 * (z * x).atan2(2.0 * (2.0 * z * z - 1.0));
    let lat = (z * y).clamp(-1.0, 1.0).asin();
    Some((lon, lat))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, PI};

    fn close(a: (f64, f64), b: (f64, f64), tol: f64) -> bool {
        (a.0 - b.0).abs() <= tol && (a.1 - b.1).abs() <= tol
    }

    #[test]
    fn the_poles_are_the_top_and_bottom_of_the_ellipse_whatever_the_longitude() {
        for lon in [-PI, -1.0, 0.0, 0.5, PI] {
            let n = forward(lon, FRAC_PI_2);
            let s = forward(lon, -FRAC_PI_2);
            assert!(close(n, (0.0, SQRT_2), 1e-12), "{lon}: {n:?}");
            assert!(close(s, (0.0, -SQRT_2), 1e-12), "{lon}: {s:?}");
        }
    }

    #[test]
    fn the_equator_by_hand() {
        // lon 0: the centre.
        assert!(close(forward(0.0, 0.0), (0.0, 0.0), 1e-15));
        // lon ±90°: x = 2√2 sin 45° / √(1 + cos 45°) = 2 / √(1 + √2/2) = 1.530734.
        let q = 2.0 / (1.0 + 0.5f64.sqrt()).sqrt();
        assert!((q - 1.530_734).abs() < 1e-6);
        assert!(close(forward(FRAC_PI_2, 0.0), (q, 0.0), 1e-12));
        assert!(close(forward(-FRAC_PI_2, 0.0), (-q, 0.0), 1e-12));
        // lon ±180°: the ends of the major axis, ±2√2 = ±2.828427.
        assert!(close(forward(PI, 0.0), (2.828_427, 0.0), 1e-6));
        assert!(close(forward(-PI, 0.0), (-2.828_427, 0.0), 1e-6));
    }

    #[test]
    fn a_mid_latitude_point_by_hand() {
        // lat 45°, lon 90°: cos φ = √2/2, cos(λ/2) = √2/2, d = √(1 + 1/2) = √1.5;
        // x = 2√2 (√2/2)(√2/2) / √1.5 = 2/√3 = 1.154701, y = √2 (√2/2) / √1.5 = √(2/3) = 0.816497.
        let p = forward(FRAC_PI_2, FRAC_PI_4);
        assert!(close(p, (1.154_701, 0.816_497), 1e-6), "{p:?}");
        // Mirror images in both axes.
        let m = forward(-FRAC_PI_2, -FRAC_PI_4);
        assert!(close(m, (-1.154_701, -0.816_497), 1e-6), "{m:?}");
        // lat 30°, lon 120°: cos(λ/2) = 1/2, d = √(1 + √3/4) = 1.197085;
        // x = 2√2 (√3/2)(√3/2) / d = 1.772071, y = √2 / 2 / d = 0.590690.
        let p = forward(2.0 * PI / 3.0, PI / 6.0);
        assert!(close(p, (1.772_071, 0.590_690), 1e-6), "{p:?}");
    }

    #[test]
    fn the_inverse_undoes_the_forward_map_and_refuses_points_off_the_ellipse() {
        for i in 0..=24 {
            for j in 0..=12 {
                // Up to, not onto, the seam and the poles, where longitude is not defined.
                let lon = -PI + 1e-9 + (2.0 * PI - 2e-9) * i as f64 / 24.0;
                let lat = (-FRAC_PI_2 + 1e-9) + (PI - 2e-9) * j as f64 / 12.0;
                let (x, y) = forward(lon, lat);
                let (lon2, lat2) = inverse(x, y).expect("a map point is on the ellipse");
                assert!((lat2 - lat).abs() < 1e-7, "lat {lat}: {lat2}");
                if lat.abs() < FRAC_PI_2 - 1e-6 {
                    assert!((lon2 - lon).abs() < 1e-6, "({lon}, {lat}): {lon2}");
                }
            }
        }
        assert_eq!(inverse(2.9, 0.0), None);
        assert_eq!(inverse(0.0, 1.5), None);
        assert_eq!(inverse(f64::NAN, 0.0), None);
        // The rim itself is the seam: lon ±π at the equator.
        let (lon, lat) = inverse(SEMI_X, 0.0).unwrap();
        assert!((lon - PI).abs() < 1e-12 && lat.abs() < 1e-12);
    }

    #[test]
    fn the_map_is_equal_area_with_the_hand_derived_constant() {
        // The unit sphere's area element is cos φ dφ dλ, and the ellipse (area 4π) holds the
        // whole sphere (area 4π): an equal-area map has |det J| = 1 · cos φ everywhere.
        assert!((PI * SEMI_X * SEMI_Y - 4.0 * PI).abs() < 1e-12);
        let h = 1e-6;
        for (lon_deg, lat_deg) in [
            (0.0, 0.0),
            (45.0, 30.0),
            (-120.0, -60.0),
            (170.0, 10.0),
            (-179.0, 80.0),
            (90.0, -45.0),
            (10.0, 85.0),
        ] {
            let (lon, lat) = (f64::to_radians(lon_deg), f64::to_radians(lat_deg));
            let d_lon = |f: fn((f64, f64)) -> f64| {
                (f(forward(lon + h, lat)) - f(forward(lon - h, lat))) / (2.0 * h)
            };
            let d_lat = |f: fn((f64, f64)) -> f64| {
                (f(forward(lon, lat + h)) - f(forward(lon, lat - h))) / (2.0 * h)
            };
            let (x_lon, y_lon) = (d_lon(|p| p.0), d_lon(|p| p.1));
            let (x_lat, y_lat) = (d_lat(|p| p.0), d_lat(|p| p.1));
            let det = (x_lon * y_lat - x_lat * y_lon).abs();
            let ratio = det / lat.cos();
            assert!(
                (ratio - 1.0).abs() < 1e-5,
                "({lon_deg}°, {lat_deg}°): |det J| = {det}, cos φ = {}, ratio {ratio}",
                lat.cos()
            );
        }
    }
}
