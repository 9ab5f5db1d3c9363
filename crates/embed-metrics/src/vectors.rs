//! Row-vector helpers shared by the metrics: unit rows and dot products, in f64.
//!
//! Two ways to scale a row to unit length live here on purpose: the evaluation divides by the
//! norm and the angle diagnostics multiply by its inverse. The results can differ in the last
//! bit, and the published figures of each were computed with its own.

/// Rows scaled to unit length, in f64; zero rows stay zero so they score 0
/// against everything.
pub(crate) fn normalised_rows(points: &[f32], dim: usize) -> Vec<f64> {
    let mut out: Vec<f64> = points.iter().map(|&v| f64::from(v)).collect();
    if dim == 0 {
        return out;
    }
    for row in out.chunks_exact_mut(dim) {
        let n = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        if n > 0.0 && n.is_finite() {
            row.iter_mut().for_each(|v| *v /= n);
        } else {
            row.iter_mut().for_each(|v| *v = 0.0);
        }
    }
    out
}

/// Each row of `values` (`dim` wide) times `1 / |row|` (see [`inverse_norm`]).
pub(crate) fn unit_rows(values: &[f32], dim: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(values.len());
    for row in values.chunks_exact(dim) {
        let scale = inverse_norm(row);
        out.extend(row.iter().map(|&v| f64::from(v) * scale));
    }
    out
}

/// `1 / |row|`, or 0 for a zero or non-finite row (which then sits 90 degrees from everything).
pub(crate) fn inverse_norm(row: &[f32]) -> f64 {
    let norm = row
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 && norm.is_finite() {
        1.0 / norm
    } else {
        0.0
    }
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// [`dot`] of an f32 row with an f64 one, widening each product's f32 side.
pub(crate) fn dot_f32(a: &[f32], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(&x, y)| f64::from(x) * y).sum()
}
