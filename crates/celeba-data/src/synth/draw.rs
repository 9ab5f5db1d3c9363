//! A tiny supersampling rasteriser: shapes are point-membership tests in "face" coordinates
//! (origin at the face centre, x right, y down, about 1 unit per half image), and a [`Pose`]
//! maps them onto the canvas, so rotating or scaling a whole face is one transform.

pub(crate) type Rgb = [f32; 3];
pub(crate) type Point = (f32, f32);

/// A region of the face plane.
#[derive(Debug, Clone)]
pub(crate) enum Shape {
    /// `|x/rx|^power + |y/ry|^power <= 1` in the frame rotated by `angle`: 2 is an ellipse,
    /// larger powers square it off (a broader jaw).
    Ellipse {
        centre: Point,
        radii: Point,
        angle: f32,
        power: f32,
    },
    Polygon(Vec<Point>),
    /// Points within `half_width` of a polyline.
    Stroke {
        points: Vec<Point>,
        half_width: f32,
    },
    /// The half plane above the curve `y = y0 + slope*x + bend*x^2`; only meaningful
    /// intersected with a bounded shape.
    Above {
        y0: f32,
        slope: f32,
        bend: f32,
    },
    And(Box<Shape>, Box<Shape>),
    Minus(Box<Shape>, Box<Shape>),
}

impl Shape {
    pub(crate) fn ellipse(centre: Point, radii: Point, angle: f32) -> Self {
        Self::Ellipse {
            centre,
            radii,
            angle,
            power: 2.0,
        }
    }

    pub(crate) fn circle(centre: Point, radius: f32) -> Self {
        Self::ellipse(centre, (radius, radius), 0.0)
    }

    pub(crate) fn and(self, other: Shape) -> Self {
        Self::And(Box::new(self), Box::new(other))
    }

    pub(crate) fn minus(self, other: Shape) -> Self {
        Self::Minus(Box::new(self), Box::new(other))
    }

    /// A stroke along the quadratic Bézier `from`-`control`-`to`.
    pub(crate) fn curve(from: Point, control: Point, to: Point, half_width: f32) -> Self {
        const STEPS: usize = 10;
        let points = (0..=STEPS)
            .map(|i| {
                let t = i as f32 / STEPS as f32;
                let (a, b, c) = ((1.0 - t) * (1.0 - t), 2.0 * t * (1.0 - t), t * t);
                (
                    a * from.0 + b * control.0 + c * to.0,
                    a * from.1 + b * control.1 + c * to.1,
                )
            })
            .collect();
        Self::Stroke { points, half_width }
    }

    fn contains(&self, (x, y): Point) -> bool {
        match self {
            Self::Ellipse {
                centre,
                radii,
                angle,
                power,
            } => {
                let (dx, dy) = (x - centre.0, y - centre.1);
                let (s, c) = angle.sin_cos();
                let (rx, ry) = ((c * dx + s * dy) / radii.0, (c * dy - s * dx) / radii.1);
                if *power == 2.0 {
                    rx * rx + ry * ry <= 1.0
                } else {
                    rx.abs().powf(*power) + ry.abs().powf(*power) <= 1.0
                }
            }
            Self::Polygon(points) => {
                // Even-odd rule.
                let mut inside = false;
                let mut j = points.len().wrapping_sub(1);
                for (i, &(xi, yi)) in points.iter().enumerate() {
                    let (xj, yj) = points[j];
                    if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
                        inside = !inside;
                    }
                    j = i;
                }
                inside
            }
            Self::Stroke { points, half_width } => points
                .windows(2)
                .any(|seg| segment_distance_sq((x, y), seg[0], seg[1]) <= half_width * half_width),
            Self::Above { y0, slope, bend } => y < y0 + slope * x + bend * x * x,
            Self::And(a, b) => a.contains((x, y)) && b.contains((x, y)),
            Self::Minus(a, b) => a.contains((x, y)) && !b.contains((x, y)),
        }
    }

    /// An axis-aligned box holding the shape, in face coordinates; `None` if unbounded.
    fn bounds(&self) -> Option<(Point, Point)> {
        match self {
            Self::Ellipse { centre, radii, .. } => {
                // The largest radius bounds every rotation (and every power >= 1).
                let r = radii.0.max(radii.1);
                Some(((centre.0 - r, centre.1 - r), (centre.0 + r, centre.1 + r)))
            }
            Self::Polygon(points) => points_bounds(points, 0.0),
            Self::Stroke { points, half_width } => points_bounds(points, *half_width),
            Self::Above { .. } => None,
            Self::And(a, b) => match (a.bounds(), b.bounds()) {
                (Some(ba), Some(bb)) => Some((
                    (ba.0.0.max(bb.0.0), ba.0.1.max(bb.0.1)),
                    (ba.1.0.min(bb.1.0), ba.1.1.min(bb.1.1)),
                )),
                (Some(only), None) | (None, Some(only)) => Some(only),
                (None, None) => None,
            },
            Self::Minus(a, _) => a.bounds(),
        }
    }
}

fn points_bounds(points: &[Point], pad: f32) -> Option<(Point, Point)> {
    let first = points.first()?;
    let mut lo = *first;
    let mut hi = *first;
    for &(x, y) in points {
        lo = (lo.0.min(x), lo.1.min(y));
        hi = (hi.0.max(x), hi.1.max(y));
    }
    Some(((lo.0 - pad, lo.1 - pad), (hi.0 + pad, hi.1 + pad)))
}

fn segment_distance_sq(p: Point, a: Point, b: Point) -> f32 {
    let (abx, aby) = (b.0 - a.0, b.1 - a.1);
    let (apx, apy) = (p.0 - a.0, p.1 - a.1);
    let len_sq = abx * abx + aby * aby;
    let t = if len_sq > 0.0 {
        ((apx * abx + apy * aby) / len_sq).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (dx, dy) = (apx - t * abx, apy - t * aby);
    dx * dx + dy * dy
}

/// Face coordinates -> canvas pixels: rotate by `angle`, scale, then move to `centre`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pose {
    pub centre: Point,
    pub pixels_per_unit: f32,
    pub angle: f32,
}

impl Pose {
    fn to_face(self, (px, py): Point) -> Point {
        let (s, c) = self.angle.sin_cos();
        let (dx, dy) = (
            (px - self.centre.0) / self.pixels_per_unit,
            (py - self.centre.1) / self.pixels_per_unit,
        );
        (c * dx + s * dy, c * dy - s * dx)
    }

    fn to_canvas(self, (x, y): Point) -> Point {
        let (s, c) = self.angle.sin_cos();
        (
            self.centre.0 + self.pixels_per_unit * (c * x - s * y),
            self.centre.1 + self.pixels_per_unit * (s * x + c * y),
        )
    }
}

/// An RGB canvas in [0, 1] floats, drawn at `supersample` times the output resolution.
#[derive(Debug, Clone)]
pub(crate) struct Canvas {
    side: usize,
    supersample: usize,
    pixels: Vec<Rgb>,
}

impl Canvas {
    pub(crate) fn new(output_side: usize, supersample: usize) -> Self {
        let side = output_side * supersample;
        Self {
            side,
            supersample,
            pixels: vec![[0.0; 3]; side * side],
        }
    }

    /// Side of the (supersampled) canvas in pixels.
    pub(crate) fn side(&self) -> usize {
        self.side
    }

    /// Paints every pixel with `colour_at(x, y)`, `x`, `y` in [0, 1] across the canvas.
    pub(crate) fn paint(&mut self, colour_at: impl Fn(f32, f32) -> Rgb) {
        let side = self.side as f32;
        for (i, pixel) in self.pixels.iter_mut().enumerate() {
            let (x, y) = ((i % self.side) as f32 + 0.5, (i / self.side) as f32 + 0.5);
            *pixel = colour_at(x / side, y / side);
        }
    }

    /// Blends `colour` with opacity `alpha` over every pixel whose centre lies in `shape`.
    pub(crate) fn fill(&mut self, shape: &Shape, pose: Pose, colour: Rgb, alpha: f32) {
        let (x0, y0, x1, y1) = self.pixel_box(shape, pose);
        for py in y0..y1 {
            for px in x0..x1 {
                if shape.contains(pose.to_face((px as f32 + 0.5, py as f32 + 0.5))) {
                    let pixel = &mut self.pixels[py * self.side + px];
                    for c in 0..3 {
                        pixel[c] += alpha * (colour[c] - pixel[c]);
                    }
                }
            }
        }
    }

    /// The canvas pixel range `[x0, x1) x [y0, y1)` that can hold `shape`.
    fn pixel_box(&self, shape: &Shape, pose: Pose) -> (usize, usize, usize, usize) {
        let limit = self.side as f32;
        let Some((lo, hi)) = shape.bounds() else {
            return (0, 0, self.side, self.side);
        };
        let corners = [lo, (hi.0, lo.1), hi, (lo.0, hi.1)].map(|p| pose.to_canvas(p));
        let clamp = |v: f32| v.clamp(0.0, limit) as usize;
        let min_x = corners.iter().map(|c| c.0).fold(f32::INFINITY, f32::min);
        let max_x = corners
            .iter()
            .map(|c| c.0)
            .fold(f32::NEG_INFINITY, f32::max);
        let min_y = corners.iter().map(|c| c.1).fold(f32::INFINITY, f32::min);
        let max_y = corners
            .iter()
            .map(|c| c.1)
            .fold(f32::NEG_INFINITY, f32::max);
        (
            clamp(min_x.floor()),
            clamp(min_y.floor()),
            clamp(max_x.ceil() + 1.0),
            clamp(max_y.ceil() + 1.0),
        )
    }

    /// Averages each `supersample`-square block into one output pixel, applying `light`
    /// (a gain per output pixel) and `noise` (added per channel), and rounds to `u8` RGB.
    pub(crate) fn downsample(
        &self,
        light: impl Fn(f32, f32) -> f32,
        mut noise: impl FnMut() -> f32,
    ) -> Vec<u8> {
        let ss = self.supersample;
        let out_side = self.side / ss;
        let norm = 1.0 / (ss * ss) as f32;
        let mut out = Vec::with_capacity(out_side * out_side * 3);
        for oy in 0..out_side {
            for ox in 0..out_side {
                let mut sum = [0.0f32; 3];
                for sy in 0..ss {
                    let row = (oy * ss + sy) * self.side + ox * ss;
                    for pixel in &self.pixels[row..row + ss] {
                        for c in 0..3 {
                            sum[c] += pixel[c];
                        }
                    }
                }
                let gain = light(
                    (ox as f32 + 0.5) / out_side as f32,
                    (oy as f32 + 0.5) / out_side as f32,
                );
                for value in sum {
                    let v = value * norm * gain + noise();
                    out.push((v.clamp(0.0, 1.0) * 255.0).round() as u8);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filled_circle_covers_its_area() {
        let mut canvas = Canvas::new(40, 1);
        let pose = Pose {
            centre: (20.0, 20.0),
            pixels_per_unit: 20.0,
            angle: 0.3,
        };
        canvas.fill(&Shape::circle((0.0, 0.0), 0.5), pose, [1.0; 3], 1.0);
        let covered = canvas.pixels.iter().filter(|p| p[0] > 0.5).count() as f32;
        let expected = std::f32::consts::PI * 10.0 * 10.0;
        assert!(
            (covered - expected).abs() < 0.05 * expected,
            "{covered} vs {expected}"
        );
    }

    #[test]
    fn polygon_and_stroke_membership() {
        let square = Shape::Polygon(vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]);
        assert!(square.contains((0.5, 0.5)));
        assert!(!square.contains((1.5, 0.5)));
        let line = Shape::Stroke {
            points: vec![(0.0, 0.0), (1.0, 0.0)],
            half_width: 0.1,
        };
        assert!(line.contains((0.5, 0.05)));
        assert!(!line.contains((0.5, 0.2)));
        let cap = Shape::circle((0.0, 0.0), 1.0).and(Shape::Above {
            y0: 0.0,
            slope: 0.0,
            bend: 0.0,
        });
        assert!(cap.contains((0.0, -0.5)));
        assert!(!cap.contains((0.0, 0.5)));
    }
}
