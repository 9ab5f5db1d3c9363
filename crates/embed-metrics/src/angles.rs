//! Angle diagnostics of one snapshot: how far each sample sits from its own class centre,
//! how far apart the centres are, and how well the embeddings separate by nearest neighbour.
//!
//! These are the quantities the margin papers argue with: ArcFace's Fig. 4a is the histogram of
//! the target angle moving from about 90 degrees to about 30 during training; a margin `m` can
//! only be met while the target angle stays below `pi - m` (beyond it `cos(theta + m)` turns
//! back up, which is what `easy_margin` and insightface's fallback are about).

use rayon::prelude::*;

use crate::vectors::{dot, dot_f32, inverse_norm, unit_rows};

/// Width of one histogram bin, degrees; the bins cover 0..180.
pub const HIST_STEP_DEG: f64 = 5.0;
/// Number of histogram bins.
pub const HIST_BINS: usize = 36;
/// At most this many samples are queried by the nearest-neighbour accuracy; larger splits use
/// every `ceil(n / KNN_MAX_QUERIES)`-th sample, so the figure is deterministic.
pub const KNN_MAX_QUERIES: usize = 2_000;
/// At most this many samples are searched as neighbours (same stride rule), which bounds the
/// cost on CelebA-sized splits.
pub const KNN_MAX_REFERENCES: usize = 20_000;

/// Target-angle figures of one class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassAngles {
    /// Samples of the class.
    pub count: usize,
    /// Mean angle to the class centre, degrees (NaN when the class has no samples).
    pub mean_deg: f64,
    /// 95th percentile (nearest rank) of that angle, degrees.
    pub p95_deg: f64,
}

/// Angle diagnostics of one split at one epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct AngleStats {
    /// Samples.
    pub count: usize,
    /// Mean angle between a sample and its own class centre, degrees.
    pub mean_deg: f64,
    /// 95th percentile (nearest rank) of that angle, degrees.
    pub p95_deg: f64,
    /// The same per class, in class order.
    pub per_class: Vec<ClassAngles>,
    /// Share of samples whose target angle plus the margin exceeds pi.
    pub overflow_share: f64,
    /// Leave-one-out 1-nearest-neighbour accuracy under cosine similarity.
    pub knn_acc: f64,
    /// Counts of the target angle in [`HIST_BINS`] bins of [`HIST_STEP_DEG`] degrees.
    pub histogram: Vec<u64>,
}

/// Computes the diagnostics of `points` (`n x dim`, row-major) with class `labels` against the
/// class `centers` (`classes x dim`). `margin_rad` is the head's additive angular margin (0 for
/// heads without one). Zero vectors count as 90 degrees from everything; labels outside the
/// class range are ignored.
pub fn angle_stats(
    points: &[f32],
    labels: &[i64],
    centers: &[f32],
    dim: usize,
    margin_rad: f64,
) -> AngleStats {
    let dim = dim.max(1);
    let classes = centers.len() / dim;
    let unit_centers = unit_rows(centers, dim);

    let mut angles: Vec<f64> = Vec::with_capacity(labels.len());
    let mut by_class: Vec<Vec<f64>> = vec![Vec::new(); classes];
    let mut histogram = vec![0u64; HIST_BINS];
    let mut overflow = 0usize;
    let limit = std::f64::consts::PI - margin_rad;
    // Row by row: a CelebA-sized split of 512-D embeddings is never copied whole.
    for (row, &label) in points.chunks_exact(dim).zip(labels) {
        let Ok(class) = usize::try_from(label) else {
            continue;
        };
        if class >= classes {
            continue;
        }
        let center = &unit_centers[class * dim..(class + 1) * dim];
        let theta = (dot_f32(row, center) * inverse_norm(row))
            .clamp(-1.0, 1.0)
            .acos();
        if theta > limit {
            overflow += 1;
        }
        let deg = theta.to_degrees();
        let bin = ((deg / HIST_STEP_DEG) as usize).min(HIST_BINS - 1);
        histogram[bin] += 1;
        angles.push(deg);
        by_class[class].push(deg);
    }
    let per_class = by_class
        .iter_mut()
        .map(|a| ClassAngles {
            count: a.len(),
            mean_deg: mean(a),
            p95_deg: percentile(a, 0.95),
        })
        .collect();
    let count = angles.len();
    AngleStats {
        count,
        mean_deg: mean(&angles),
        p95_deg: percentile(&mut angles, 0.95),
        per_class,
        overflow_share: overflow as f64 / count.max(1) as f64,
        knn_acc: knn1_accuracy(points, labels, dim),
        histogram,
    }
}

/// The smallest angle between two class centres, degrees (NaN for fewer than two classes).
pub fn min_center_angle_deg(centers: &[f32], dim: usize) -> f64 {
    let dim = dim.max(1);
    let unit = unit_rows(centers, dim);
    let rows: Vec<&[f64]> = unit.chunks_exact(dim).collect();
    let mut best = f64::NAN;
    for (i, a) in rows.iter().enumerate() {
        for b in &rows[i + 1..] {
            let deg = dot(a, b).clamp(-1.0, 1.0).acos().to_degrees();
            if best.is_nan() || deg < best {
                best = deg;
            }
        }
    }
    best
}

/// Leave-one-out 1-NN accuracy: each query's label against its most similar other sample's
/// (cosine). Ties go to the earlier sample. Only the sampled references are normalised and kept.
fn knn1_accuracy(points: &[f32], labels: &[i64], dim: usize) -> f64 {
    let n = labels.len().min(points.len() / dim);
    if n < 2 {
        return f64::NAN;
    }
    let query_step = n.div_ceil(KNN_MAX_QUERIES);
    let ref_step = n.div_ceil(KNN_MAX_REFERENCES);
    let refs: Vec<usize> = (0..n).step_by(ref_step).collect();
    let mut unit_refs = Vec::with_capacity(refs.len() * dim);
    for &r in &refs {
        unit_refs.extend(unit_rows(&points[r * dim..(r + 1) * dim], dim));
    }
    // On rayon's threads: it runs after every epoch, on the training loop's critical path
    // (2,000 queries x 8,000 references for the seed's MNIST split). The counts do not depend
    // on the order the queries are taken in.
    let (hits, queries) = (0..n)
        .into_par_iter()
        .step_by(query_step)
        .map(|q| {
            let row = &points[q * dim..(q + 1) * dim];
            let mut best: Option<(f64, usize)> = None;
            for (k, &r) in refs.iter().enumerate() {
                if r == q {
                    continue;
                }
                // The query's own norm scales every similarity alike: it cannot change the winner.
                let s = dot_f32(row, &unit_refs[k * dim..(k + 1) * dim]);
                if best.is_none_or(|(b, _)| s > b) {
                    best = Some((s, r));
                }
            }
            match best {
                Some((_, r)) => (usize::from(labels[r] == labels[q]), 1usize),
                None => (0, 0),
            }
        })
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    hits as f64 / queries.max(1) as f64
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        f64::NAN
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// Nearest-rank percentile: the smallest value with at least `q` of the values at or below it.
fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let rank = (q * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn target_angles_on_the_circle_match_hand_values() {
        // Centres at 0 and 90 degrees; samples at 0, 30 and 60 degrees of class 0 and one at
        // 180 degrees of class 1 (90 degrees from its centre), with arbitrary lengths.
        let (s30, c30) = 30f32.to_radians().sin_cos();
        let (s60, c60) = 60f32.to_radians().sin_cos();
        let points = [
            2.0,
            0.0,
            3.0 * c30,
            3.0 * s30,
            0.5 * c60,
            0.5 * s60,
            -1.0,
            0.0,
        ];
        let labels = [0, 0, 0, 1];
        let centers = [1.0, 0.0, 0.0, 5.0];
        let stats = angle_stats(&points, &labels, &centers, 2, 0.0);
        assert_eq!(stats.count, 4);
        assert!((stats.mean_deg - 45.0).abs() < 1e-4, "{}", stats.mean_deg); // (0+30+60+90)/4
        assert!((stats.p95_deg - 90.0).abs() < 1e-4); // ceil(0.95*4) = 4th of 4
        assert!((stats.per_class[0].mean_deg - 30.0).abs() < 1e-4);
        assert!((stats.per_class[0].p95_deg - 60.0).abs() < 1e-4);
        assert_eq!(stats.per_class[1].count, 1);
        // 0 -> bin 0, 30 -> bin 6, 60 -> bin 12, 90 -> bin 18.
        for (bin, &count) in stats.histogram.iter().enumerate() {
            let expected = u64::from([0, 6, 12, 18].contains(&bin));
            assert_eq!(count, expected, "bin {bin}");
        }
        assert_eq!(stats.histogram.iter().sum::<u64>(), 4);
    }

    #[test]
    fn overflow_counts_target_angles_past_pi_minus_m() {
        // Class-0 samples at 10, 150 and 170 degrees from the centre; with m = 0.5 rad
        // (28.6 degrees) the limit is 151.4 degrees, so only 170 is past it; with m = 0.7 rad
        // (40.1 degrees, limit 139.9) both 150 and 170 are.
        let at = |deg: f32| {
            let (s, c) = deg.to_radians().sin_cos();
            [c, s]
        };
        let points: Vec<f32> = [10.0, 150.0, 170.0].into_iter().flat_map(at).collect();
        let labels = [0, 0, 0];
        let centers = [1.0, 0.0];
        assert!(close(
            angle_stats(&points, &labels, &centers, 2, 0.5).overflow_share,
            1.0 / 3.0
        ));
        assert!(close(
            angle_stats(&points, &labels, &centers, 2, 0.7).overflow_share,
            2.0 / 3.0
        ));
        assert!(close(
            angle_stats(&points, &labels, &centers, 2, 0.0).overflow_share,
            0.0
        ));
    }

    #[test]
    fn nearest_neighbour_accuracy_leaves_the_query_out() {
        // Class 0 at 0 and 0.5 degrees, class 1 at 90 and 90.5, and a stray class-1 sample at
        // 2 degrees: the four paired samples find their partner (hits), the stray one finds
        // the class-0 sample at 0.5 degrees (a miss), and no query may find itself.
        let at = |deg: f32| {
            let (s, c) = deg.to_radians().sin_cos();
            [c, s]
        };
        let points: Vec<f32> = [0.0, 0.5, 90.0, 90.5, 2.0]
            .into_iter()
            .flat_map(at)
            .collect();
        let labels = [0, 0, 1, 1, 1];
        let centers = [1.0, 0.0, 0.0, 1.0];
        let stats = angle_stats(&points, &labels, &centers, 2, 0.0);
        assert!(close(stats.knn_acc, 4.0 / 5.0), "{}", stats.knn_acc);
    }

    #[test]
    fn smallest_centre_angle_of_a_square_and_a_tetrahedron() {
        let square = [1.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0, -1.0];
        assert!((min_center_angle_deg(&square, 2) - 90.0).abs() < 1e-9);
        // Regular tetrahedron: acos(-1/3) = 109.4712 degrees between every pair.
        let tetra = [
            1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, 1.0, -1.0, -1.0, -1.0, 1.0,
        ];
        let expected = (-1.0f64 / 3.0).acos().to_degrees();
        assert!((min_center_angle_deg(&tetra, 3) - expected).abs() < 1e-9);
        assert!(min_center_angle_deg(&[1.0, 0.0], 2).is_nan());
    }

    #[test]
    fn zero_vectors_and_stray_labels_do_not_poison_the_figures() {
        let points = [0.0, 0.0, 1.0, 0.0, 1.0, 0.0];
        let labels = [0, 0, 7];
        let centers = [1.0, 0.0];
        let stats = angle_stats(&points, &labels, &centers, 2, 0.0);
        assert_eq!(stats.count, 2);
        assert!((stats.mean_deg - 45.0).abs() < 1e-9); // 90 for the zero vector, 0 for the other
    }
}
