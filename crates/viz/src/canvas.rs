//! An RGB pixel buffer with the few anti-aliased primitives the plots need.
//! Drawing thousands of dots through plotters' per-element path is too slow
//! for the frame budget, so dots and lines are rasterised here; plotters only
//! draws text into the same buffer and encodes the files.

pub(crate) type Rgb = [u8; 3];

#[cfg(test)]
pub(crate) const WHITE: Rgb = [255, 255, 255];

/// RGB image, row-major, 3 bytes per pixel; pixel (x, y) covers [x, x+1) x [y, y+1), so its
/// centre is at (x + 0.5, y + 0.5).
pub(crate) struct Canvas {
    /// Height in pixels: the side of a square frame (most pictures are square).
    pub size: u32,
    /// Width in pixels: `size`, or more for the frames that hold the sphere's map.
    pub width: u32,
    pub buf: Vec<u8>,
}

impl Canvas {
    /// A white square canvas.
    #[cfg(test)]
    pub(crate) fn new(size: u32) -> Self {
        Self::new_rect(size, size)
    }

    /// A white canvas of `width` x `height` pixels.
    pub(crate) fn new_rect(width: u32, height: u32) -> Self {
        Self {
            size: height,
            width,
            buf: vec![255; width as usize * height as usize * 3],
        }
    }

    /// (width, height), as the PNG and GIF writers take it.
    pub(crate) fn dims(&self) -> (u32, u32) {
        (self.width, self.size)
    }

    #[cfg(test)]
    pub(crate) fn pixel(&self, x: u32, y: u32) -> Rgb {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.buf[i], self.buf[i + 1], self.buf[i + 2]]
    }

    /// Mixes `c` into pixel (`x`, `y`) with opacity `a`; pixels off the canvas are skipped.
    #[inline]
    pub(crate) fn blend(&mut self, x: i32, y: i32, c: Rgb, a: f32) {
        let (w, h) = (self.width as i32, self.size as i32);
        if x < 0 || y < 0 || x >= w || y >= h {
            return;
        }
        let i = (y as usize * w as usize + x as usize) * 3;
        for (k, &ck) in c.iter().enumerate() {
            let d = self.buf[i + k] as f32;
            self.buf[i + k] = (d + (ck as f32 - d) * a + 0.5) as u8;
        }
    }

    /// Filled disc of radius `r` centred at (`cx`, `cy`), edge coverage-blended.
    pub(crate) fn disc(&mut self, cx: f32, cy: f32, r: f32, c: Rgb, alpha: f32) {
        let reach = r + 0.5;
        let (x0, x1) = ((cx - reach).floor() as i32, (cx + reach).ceil() as i32);
        let (y0, y1) = ((cy - reach).floor() as i32, (cy + reach).ceil() as i32);
        let inner2 = (r - 0.5).max(0.0).powi(2);
        let outer2 = reach * reach;
        for y in y0..y1 {
            let dy = y as f32 + 0.5 - cy;
            for x in x0..x1 {
                let dx = x as f32 + 0.5 - cx;
                let d2 = dx * dx + dy * dy;
                if d2 >= outer2 {
                    continue;
                }
                let cov = if d2 <= inner2 { 1.0 } else { reach - d2.sqrt() };
                self.blend(x, y, c, alpha * cov.clamp(0.0, 1.0));
            }
        }
    }

    /// Straight stroke of `width` pixels from `a` to `b` with round caps.
    /// Strokes thinner than a pixel would break into dots, so they get one.
    pub(crate) fn line(&mut self, a: (f32, f32), b: (f32, f32), width: f32, c: Rgb, alpha: f32) {
        let half = width.max(1.0) / 2.0;
        let reach = half + 0.5;
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = dx * dx + dy * dy;
        let (w, h) = (self.width as i32, self.size as i32);
        let y0 = ((a.1.min(b.1) - reach).floor() as i32).max(0);
        let y1 = ((a.1.max(b.1) + reach).ceil() as i32).min(h);
        for y in y0..y1 {
            let yc = y as f32 + 0.5;
            // Only the part of the segment within `reach` rows can touch this row.
            let (ta, tb) = if dy.abs() > 1e-6 {
                let (t0, t1) = ((yc - reach - a.1) / dy, (yc + reach - a.1) / dy);
                (t0.min(t1).clamp(0.0, 1.0), t0.max(t1).clamp(0.0, 1.0))
            } else {
                (0.0, 1.0)
            };
            let (xa, xb) = (a.0 + dx * ta, a.0 + dx * tb);
            let x0 = ((xa.min(xb) - reach).floor() as i32).max(0);
            let x1 = ((xa.max(xb) + reach).ceil() as i32).min(w);
            for x in x0..x1 {
                let (px, py) = (x as f32 + 0.5 - a.0, yc - a.1);
                let t = if len2 > 0.0 {
                    ((px * dx + py * dy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let (ex, ey) = (px - t * dx, py - t * dy);
                let cov = reach - (ex * ex + ey * ey).sqrt();
                if cov > 0.0 {
                    self.blend(x, y, c, alpha * cov.min(1.0));
                }
            }
        }
    }

    /// Connected strokes through `points`; meant for opaque colours (joints
    /// are drawn twice).
    pub(crate) fn polyline(&mut self, points: &[(f32, f32)], width: f32, c: Rgb) {
        for w in points.windows(2) {
            self.line(w[0], w[1], width, c, 1.0);
        }
    }

    /// Circle outline of radius `r` around (`cx`, `cy`).
    pub(crate) fn ring(&mut self, cx: f32, cy: f32, r: f32, width: f32, c: Rgb) {
        let n = ((r * 0.75) as usize).clamp(48, 720);
        let pts: Vec<(f32, f32)> = (0..=n)
            .map(|i| {
                let t = i as f32 / n as f32 * std::f32::consts::TAU;
                (cx + r * t.cos(), cy + r * t.sin())
            })
            .collect();
        self.polyline(&pts, width, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disc_covers_its_centre_and_not_beyond_its_radius() {
        let mut c = Canvas::new(40);
        c.disc(20.0, 20.0, 3.0, [255, 0, 0], 1.0);
        assert_eq!(c.pixel(20, 20), [255, 0, 0]);
        assert_eq!(c.pixel(21, 18), [255, 0, 0]);
        assert_eq!(c.pixel(24, 20), WHITE);
        assert_eq!(c.pixel(20, 15), WHITE);
        // Half alpha lands half way.
        let mut c = Canvas::new(10);
        c.disc(5.0, 5.0, 2.0, [0, 0, 0], 0.5);
        assert_eq!(c.pixel(4, 4), [128, 128, 128]);
    }

    #[test]
    fn line_is_drawn_between_its_ends_only() {
        let mut c = Canvas::new(50);
        c.line((5.0, 5.0), (45.0, 45.0), 3.0, [0, 0, 255], 1.0);
        assert_eq!(c.pixel(25, 25), [0, 0, 255]);
        assert_eq!(c.pixel(10, 10), [0, 0, 255]);
        assert_eq!(c.pixel(25, 35), WHITE);
        assert_eq!(c.pixel(47, 47), WHITE);
        // Drawing partly off the canvas must not panic.
        c.line((-20.0, 10.0), (80.0, 10.0), 2.0, [0, 0, 0], 1.0);
        assert_eq!(c.pixel(0, 9), [0, 0, 0]);
    }

    #[test]
    fn a_wide_canvas_is_drawn_to_its_full_width_and_no_further() {
        let mut c = Canvas::new_rect(30, 10);
        assert_eq!((c.dims(), c.buf.len()), ((30, 10), 900));
        c.line((-5.0, 5.0), (40.0, 5.0), 2.0, [0, 0, 0], 1.0);
        assert_eq!(c.pixel(29, 5), [0, 0, 0]);
        assert_eq!(c.pixel(29, 1), WHITE);
        // A disc past the right edge does not wrap onto the next row's start.
        c.disc(31.0, 2.0, 3.0, [255, 0, 0], 1.0);
        assert_eq!(c.pixel(29, 2), [255, 0, 0]);
        assert_eq!(c.pixel(0, 2), WHITE);
        assert_eq!(c.pixel(0, 3), WHITE);
    }
}
