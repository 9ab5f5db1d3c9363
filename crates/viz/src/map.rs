//! The equal-area map of the whole sphere that 3-D frames show beside (or instead of) the
//! globe: which view a frame shows, how a direction becomes a longitude and latitude, where the
//! map sits on the canvas, and how lines are cut at the map's seam.
//!
//! Conventions, the globe's: the third axis (z) is the pole and points up; a unit vector
//! `(x, y, z)` has latitude `asin z` and longitude `atan2(y, x)`, counted east (from +x towards
//! +y), which is to the right on the map as on the globe. The map's central meridian is the
//! globe camera's azimuth ([`CENTRE_LON_DEG`]), so the middle of the map is the face the globe
//! shows, and the left and right rims (the seam, 180° away) are the point straight behind it.
//! The projection itself is Hammer's (`hammer`).

use std::f64::consts::{PI, TAU};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::hammer;
use crate::project::FIXED_AZIMUTH_DEG;

/// How 3-D frames (and N-D ones, through their PCA) show the sphere. 2-D frames always show
/// the circle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Projection {
    /// The sphere from the fixed camera: one face, the far one dimmed.
    Globe,
    /// The whole sphere on Hammer's equal-area map; frames are twice as wide as tall.
    Map,
    /// The globe and the map side by side; frames are twice as wide as tall.
    #[default]
    Both,
}

impl Projection {
    /// The names a config spells, in the order of the variants.
    pub const NAMES: [&'static str; 3] = ["globe", "map", "both"];

    pub fn name(self) -> &'static str {
        match self {
            Projection::Globe => Self::NAMES[0],
            Projection::Map => Self::NAMES[1],
            Projection::Both => Self::NAMES[2],
        }
    }

    pub(crate) fn shows_map(self) -> bool {
        self != Projection::Globe
    }
}

impl std::fmt::Display for Projection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Projection {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "globe" => Ok(Projection::Globe),
            "map" => Ok(Projection::Map),
            "both" => Ok(Projection::Both),
            _ => Err(format!(
                "expected one of {} (the globe from one side, the equal-area map of the whole sphere, or both side by side)",
                Self::NAMES.map(|n| format!("\"{n}\"")).join(", ")
            )),
        }
    }
}

/// Longitude, degrees, at the middle of the map: the globe camera's azimuth.
pub(crate) const CENTRE_LON_DEG: f64 = FIXED_AZIMUTH_DEG as f64;

/// `lon` moved into (-π, π].
fn wrap(lon: f64) -> f64 {
    let w = lon - TAU * ((lon + PI) / TAU).floor();
    if w <= -PI { w + TAU } else { w }
}

/// Longitude from the map's central meridian, in (-π, π], and latitude, radians, of the
/// direction of `p`; `None` for zero or non-finite vectors.
pub(crate) fn lon_lat(p: [f64; 3]) -> Option<(f64, f64)> {
    let n = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
    if !(n.is_finite() && n > 1e-12) {
        return None;
    }
    let lat = (p[2] / n).clamp(-1.0, 1.0).asin();
    let lon = p[1].atan2(p[0]) - CENTRE_LON_DEG.to_radians();
    Some((wrap(lon), lat))
}

/// The unit vector at longitude `lon` (from the central meridian) and latitude `lat`.
pub(crate) fn direction(lon: f64, lat: f64) -> [f64; 3] {
    let (sl, cl) = (lon + CENTRE_LON_DEG.to_radians()).sin_cos();
    let (sp, cp) = lat.sin_cos();
    [cp * cl, cp * sl, sp]
}

/// Map point (Hammer units: the map is the ellipse of semi-axes 2√2 and √2) of the direction
/// of `p`.
pub(crate) fn map_point(p: [f64; 3]) -> Option<(f64, f64)> {
    lon_lat(p).map(|(lon, lat)| hammer::forward(lon, lat))
}

/// A line through `points` (directions, consecutive ones close together) as map polylines,
/// cut where it crosses the seam: it is taken to the rim on one side and picked up at the rim
/// on the other, instead of being drawn straight across the map.
pub(crate) fn map_polylines(points: &[[f64; 3]]) -> Vec<Vec<(f64, f64)>> {
    let mut lines: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    let mut last: Option<(f64, f64)> = None;
    for &p in points {
        let Some((lon, lat)) = lon_lat(p) else {
            continue;
        };
        if let Some((lon0, lat0)) = last
            && (lon - lon0).abs() > PI
        {
            // Unwrapped, the step crosses +π (eastwards) or -π (westwards) at the latitude
            // found by interpolating along it.
            let (seam, unwrapped) = if lon < lon0 {
                (PI, lon + TAU)
            } else {
                (-PI, lon - TAU)
            };
            let t = (seam - lon0) / (unwrapped - lon0);
            let lat_seam = lat0 + t * (lat - lat0);
            current.push(hammer::forward(seam, lat_seam));
            lines.push(std::mem::take(&mut current));
            current.push(hammer::forward(-seam, lat_seam));
        }
        current.push(hammer::forward(lon, lat));
        last = Some((lon, lat));
    }
    lines.push(current);
    lines.retain(|l| l.len() >= 2);
    lines
}

/// Where the map sits on the canvas: its centre and pixels per map unit (one for both axes,
/// so the map keeps its shape and its equal areas).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MapViewport {
    pub cx: f32,
    pub cy: f32,
    pub scale: f32,
}

impl MapViewport {
    /// The largest map that fits the box `x0..x1` by `y0..y1`, centred, with a little room on
    /// the rim for the dots drawn there.
    pub(crate) fn fit(x0: f32, x1: f32, y0: f32, y1: f32) -> Self {
        let (w, h) = ((x1 - x0).max(0.0), (y1 - y0).max(0.0));
        let scale =
            (w / (2.0 * hammer::SEMI_X as f32)).min(h / (2.0 * hammer::SEMI_Y as f32)) / 1.04;
        Self {
            cx: 0.5 * (x0 + x1),
            cy: 0.5 * (y0 + y1),
            scale,
        }
    }

    /// Pixel position of map point (`x`, `y`); +y (north) points up.
    pub(crate) fn to_pixel(self, (x, y): (f64, f64)) -> (f32, f32) {
        (
            self.cx + x as f32 * self.scale,
            self.cy - y as f32 * self.scale,
        )
    }

    /// The map point under pixel position (`px`, `py`).
    pub(crate) fn map_at_pixel(self, px: f32, py: f32) -> (f64, f64) {
        (
            f64::from((px - self.cx) / self.scale),
            f64::from((self.cy - py) / self.scale),
        )
    }

    /// Half the map's width and height, pixels.
    pub(crate) fn half_size(self) -> (f32, f32) {
        (
            hammer::SEMI_X as f32 * self.scale,
            hammer::SEMI_Y as f32 * self.scale,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::{Camera, FIXED_ELEVATION_DEG};
    use std::f64::consts::{FRAC_PI_2, SQRT_2};

    fn close(a: (f64, f64), b: (f64, f64)) -> bool {
        (a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9
    }

    #[test]
    fn the_pole_is_z_and_the_middle_is_what_the_globe_shows() {
        // +z is the north pole, the top of the map, -z the bottom.
        assert!(close(map_point([0.0, 0.0, 2.0]).unwrap(), (0.0, SQRT_2)));
        assert!(close(map_point([0.0, 0.0, -1.0]).unwrap(), (0.0, -SQRT_2)));
        // The globe camera's direction is on the central meridian at its elevation.
        let toward = Camera::fixed().toward().map(f64::from);
        let (lon, lat) = lon_lat(toward).unwrap();
        assert!(lon.abs() < 1e-6, "{lon}");
        assert!((lat - f64::from(FIXED_ELEVATION_DEG).to_radians()).abs() < 1e-6);
        // The point on the equator straight behind it is on the seam: the rim's left or right end.
        let (s, c) = (CENTRE_LON_DEG + 180.0).to_radians().sin_cos();
        let (x, y) = map_point([c, s, 0.0]).unwrap();
        assert!(
            (x.abs() - 2.0 * SQRT_2).abs() < 1e-6 && y.abs() < 1e-9,
            "{x} {y}"
        );
        // East is right: 90° east of the centre on the equator is at x > 0.
        let (x, _) = map_point(direction(FRAC_PI_2, 0.0)).unwrap();
        assert!((x - 1.530_734).abs() < 1e-6, "{x}");
        assert_eq!(map_point([0.0, 0.0, 0.0]), None);
        assert_eq!(map_point([f64::NAN, 0.0, 1.0]), None);
    }

    #[test]
    fn longitudes_wrap_into_one_turn() {
        assert!((wrap(3.0 * PI / 2.0) + FRAC_PI_2).abs() < 1e-12);
        assert!((wrap(-3.0 * PI / 2.0) - FRAC_PI_2).abs() < 1e-12);
        assert!((wrap(PI) - PI).abs() < 1e-12);
        assert!((wrap(-PI) - PI).abs() < 1e-12);
        for lon in [-3.0, -1.0, 0.0, 0.5, 3.1] {
            let (lon2, lat2) = lon_lat(direction(lon, 0.3)).unwrap();
            assert!((lon2 - lon).abs() < 1e-12 && (lat2 - 0.3).abs() < 1e-12);
        }
    }

    #[test]
    fn a_line_across_the_seam_is_cut_at_the_rim_not_drawn_across_the_map() {
        // The parallel at 30° N, a full turn starting on the central meridian: it reaches the
        // seam once, in the middle.
        let parallel: Vec<[f64; 3]> = (0..=360)
            .map(|k| direction(f64::from(k).to_radians(), 30f64.to_radians()))
            .collect();
        let lines = map_polylines(&parallel);
        assert_eq!(lines.len(), 2, "{}", lines.len());
        let rim_x = hammer::forward(PI, 30f64.to_radians()).0;
        // The first piece runs east to the right rim, the second from the left rim back.
        let first_end = lines[0][lines[0].len() - 1];
        let second_start = lines[1][0];
        assert!(close(
            first_end,
            (rim_x, hammer::forward(PI, 30f64.to_radians()).1)
        ));
        assert!((second_start.0 + rim_x).abs() < 1e-9, "{second_start:?}");
        for line in &lines {
            for w in line.windows(2) {
                let step = (w[1].0 - w[0].0).hypot(w[1].1 - w[0].1);
                assert!(step < 0.05, "a step of {step} map units: {w:?}");
            }
        }
        // A line that stays on the front is left whole.
        let meridian: Vec<[f64; 3]> = (-80..=80)
            .map(|k| direction(0.4, f64::from(k).to_radians()))
            .collect();
        assert_eq!(map_polylines(&meridian).len(), 1);
    }

    #[test]
    fn projection_names_round_trip_and_a_wrong_one_lists_them() {
        for name in Projection::NAMES {
            assert_eq!(name.parse::<Projection>().unwrap().name(), name);
        }
        assert_eq!(Projection::default(), Projection::Both);
        let err = "sphere".parse::<Projection>().unwrap_err();
        assert!(
            err.starts_with("expected one of \"globe\", \"map\", \"both\""),
            "{err}"
        );
    }

    #[test]
    fn the_map_fits_its_box_and_pixels_go_both_ways() {
        // A 600 x 200 box: the height limits, 200 / (2 √2) / 1.04 px per unit.
        let mv = MapViewport::fit(0.0, 600.0, 0.0, 200.0);
        assert!((mv.scale - (200.0 / (2.0 * SQRT_2) / 1.04) as f32).abs() < 1e-4);
        let (hw, hh) = mv.half_size();
        assert!(hw * 2.0 <= 600.0 && hh * 2.0 <= 200.0);
        assert_eq!(mv.to_pixel((0.0, 0.0)), (300.0, 100.0));
        // North is up.
        assert!(mv.to_pixel((0.0, 1.0)).1 < 100.0);
        let back = mv.map_at_pixel(412.5, 37.25);
        let again = mv.to_pixel(back);
        assert!((again.0 - 412.5).abs() < 1e-3 && (again.1 - 37.25).abs() < 1e-3);
    }
}
