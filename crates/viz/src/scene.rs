//! What one circle or sphere plot shows: handed by the frame layout to `frame2d` or `frame3d`.

use crate::geometry::Geometry;

/// The rows to draw (2 or 3 columns: N-D runs are projected before), their labels, the class
/// centres (same columns, or empty for no rays), the stroke scale and the margin geometry.
#[derive(Clone, Copy)]
pub(crate) struct Scene<'a> {
    pub points: &'a [f32],
    pub labels: &'a [i64],
    pub centers: &'a [f32],
    /// Sizes strokes and dots with the picture.
    pub scale: f32,
    pub geometry: Geometry,
}
