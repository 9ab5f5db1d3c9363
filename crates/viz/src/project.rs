//! From embedding space to pixels: normalisation onto the circle/sphere, the
//! fixed 3-D camera and the mapping of the unit disc into the plot area.

/// Where the unit circle (or the sphere's silhouette) sits on the canvas.
/// One radius for both axes keeps the aspect ratio equal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Viewport {
    pub cx: f32,
    pub cy: f32,
    pub radius: f32,
}

impl Viewport {
    /// Pixel position of plane point (`x`, `y`); +y points up on screen.
    pub(crate) fn to_pixel(self, x: f32, y: f32) -> (f32, f32) {
        (self.cx + x * self.radius, self.cy - y * self.radius)
    }
}

/// `v / |v|`, or `None` for zero or non-finite vectors (which have no direction).
pub(crate) fn unit<const N: usize>(v: [f32; N]) -> Option<[f32; N]> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    (n.is_finite() && n > 1e-12).then(|| v.map(|x| x / n))
}

/// A point on the sphere as seen by the camera.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Projected {
    pub x: f32,
    pub y: f32,
    /// Component towards the camera: > 0 on the visible (front) hemisphere.
    pub depth: f32,
}

impl Projected {
    pub(crate) fn is_front(&self) -> bool {
        self.depth >= 0.0
    }
}

/// Azimuth of the camera every 3-D frame uses, degrees around z from +x towards +y; the
/// equal-area map is centred on it.
pub(crate) const FIXED_AZIMUTH_DEG: f32 = 30.0;
/// Its elevation above the xy plane, degrees.
pub(crate) const FIXED_ELEVATION_DEG: f32 = 20.0;

/// Orthographic camera looking at the origin; z is up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Camera {
    right: [f32; 3],
    up: [f32; 3],
    toward: [f32; 3],
}

impl Camera {
    /// The camera every 3-D frame uses, so frames of a run line up.
    pub(crate) fn fixed() -> Self {
        Self::new(FIXED_AZIMUTH_DEG, FIXED_ELEVATION_DEG)
    }

    /// Camera at `azimuth_deg` around z (from +x towards +y) and
    /// `elevation_deg` above the xy plane.
    pub(crate) fn new(azimuth_deg: f32, elevation_deg: f32) -> Self {
        let (sa, ca) = azimuth_deg.to_radians().sin_cos();
        let (se, ce) = elevation_deg.to_radians().sin_cos();
        Self {
            right: [-sa, ca, 0.0],
            up: [-se * ca, -se * sa, ce],
            toward: [ce * ca, ce * sa, se],
        }
    }

    /// Unit vector from the origin to the camera.
    pub(crate) fn toward(&self) -> [f32; 3] {
        self.toward
    }

    pub(crate) fn project(&self, p: [f32; 3]) -> Projected {
        let dot = |a: [f32; 3]| a[0] * p[0] + a[1] * p[1] + a[2] * p[2];
        Projected {
            x: dot(self.right),
            y: dot(self.up),
            depth: dot(self.toward),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-5
    }

    #[test]
    fn plus_x_in_2d_is_right_of_the_centre() {
        let vp = Viewport {
            cx: 320.0,
            cy: 300.0,
            radius: 250.0,
        };
        let u = unit([3.0, 0.0]).unwrap();
        assert_eq!(vp.to_pixel(u[0], u[1]), (570.0, 300.0));
        // +y is up, i.e. a smaller row index.
        let u = unit([0.0, 0.5]).unwrap();
        assert_eq!(vp.to_pixel(u[0], u[1]), (320.0, 50.0));
    }

    #[test]
    fn zero_and_nan_vectors_have_no_direction() {
        assert_eq!(unit([0.0, 0.0, 0.0]), None);
        assert_eq!(unit([f32::NAN, 1.0]), None);
        assert_eq!(unit([f32::INFINITY, 1.0]), None);
    }

    #[test]
    fn camera_sees_its_own_direction_in_front_and_the_antipode_behind() {
        let cam = Camera::fixed();
        let (sa, ca) = 30f32.to_radians().sin_cos();
        let (se, ce) = 20f32.to_radians().sin_cos();
        // Nearest point to a camera at azimuth 30°, elevation 20°, computed independently.
        let nearest = [ce * ca, ce * sa, se];
        let p = cam.project(nearest);
        assert!(p.is_front() && close(p.depth, 1.0), "{p:?}");
        assert!(
            close(p.x, 0.0) && close(p.y, 0.0),
            "nearest point projects to the centre: {p:?}"
        );
        let q = cam.project(nearest.map(|v| -v));
        assert!(!q.is_front() && close(q.depth, -1.0), "{q:?}");

        // The north pole is up on screen and slightly towards the viewer.
        let n = cam.project([0.0, 0.0, 1.0]);
        assert!(
            close(n.x, 0.0) && close(n.y, ce) && close(n.depth, se),
            "{n:?}"
        );
        // A point 90° to the camera's right in the equatorial plane goes right.
        let r = cam.project([-sa, ca, 0.0]);
        assert!(
            close(r.x, 1.0) && close(r.y, 0.0) && close(r.depth, 0.0),
            "{r:?}"
        );
        // Right-handed screen (right x up = towards the camera), so the sphere is not mirrored.
        let (r, u) = (cam.right, cam.up);
        let cross = [
            r[1] * u[2] - r[2] * u[1],
            r[2] * u[0] - r[0] * u[2],
            r[0] * u[1] - r[1] * u[0],
        ];
        assert!(
            cross.iter().zip(cam.toward()).all(|(a, b)| close(*a, b)),
            "{cross:?}"
        );
    }
}
