//! [`evaluate`]: every metric of one set of embeddings in one report.

use serde::Serialize;

use crate::clustering::{kmeans, nmi};
use crate::pairs::{cosine_scores, make_pairs};
use crate::retrieval;
use crate::verification::{
    auc, eer, roc, tar_at_far, ten_fold_accuracy, threshold_at_eer, threshold_at_far,
};

/// Positive pairs [`evaluate`] keeps at most (and as many negatives).
pub const MAX_POSITIVE_PAIRS: usize = 200_000;

/// Lloyd iterations [`evaluate`] allows k-means.
pub const KMEANS_ITERS: usize = 100;

/// Folds of the LFW-style verification accuracy in [`evaluate`].
pub const VERIFICATION_FOLDS: usize = 10;

/// Every metric of one set of embeddings; see the crate doc for the
/// definitions. NaN (serialised as `null`) where a metric is undefined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// Samples evaluated.
    pub samples: usize,
    /// Distinct labels, which is also the k of the k-means.
    pub classes: usize,
    /// Same-label pairs used for verification.
    pub positive_pairs: usize,
    /// Different-label pairs used for verification.
    pub negative_pairs: usize,
    /// Area under the ROC curve.
    pub auc: f64,
    /// Equal error rate.
    pub eer: f64,
    /// True accept rate at a false accept rate of 1e-1.
    pub tar_at_far_1e1: f64,
    /// True accept rate at a false accept rate of 1e-2.
    pub tar_at_far_1e2: f64,
    /// True accept rate at a false accept rate of 1e-3.
    pub tar_at_far_1e3: f64,
    /// Cosine threshold at the EER (accept pairs scoring at least this).
    pub threshold_at_eer: f64,
    /// Cosine threshold at a false accept rate of 1e-1 (of these pairs).
    pub threshold_at_far_1e1: f64,
    /// Cosine threshold at a false accept rate of 1e-2.
    pub threshold_at_far_1e2: f64,
    /// Cosine threshold at a false accept rate of 1e-3.
    pub threshold_at_far_1e3: f64,
    /// Mean of the 10 per-fold verification accuracies.
    pub ten_fold_mean: f64,
    /// Population standard deviation of the 10 per-fold accuracies.
    pub ten_fold_std: f64,
    /// Leave-one-out precision at 1.
    pub precision_at_1: f64,
    /// Leave-one-out mean average precision at R.
    pub map_at_r: f64,
    /// NMI between the labels and a k-means clustering of the directions.
    pub nmi: f64,
}

/// Runs every metric on `points` (rows of `dim` values, one per label):
/// pairs from [`make_pairs`] with at most [`MAX_POSITIVE_PAIRS`] positives,
/// [`VERIFICATION_FOLDS`]-fold accuracy, P@1, MAP@R, and NMI of a k-means
/// with k = number of distinct labels. `seed` drives the pair sampling and
/// the k-means seeding. Retrieval is exact, O(n² · dim).
///
/// # Panics
/// If `dim` is 0 or `points.len() != labels.len() * dim`.
pub fn evaluate(points: &[f32], dim: usize, labels: &[i64], seed: u64) -> EvalReport {
    assert!(dim > 0, "dim must be positive");
    assert_eq!(
        points.len(),
        labels.len() * dim,
        "one row of `dim` values per label"
    );
    let pairs = make_pairs(labels, seed, MAX_POSITIVE_PAIRS);
    let scores = cosine_scores(points, dim, &pairs);
    let curve = roc(&scores, &pairs.same);
    let folds = ten_fold_accuracy(&scores, &pairs.same, VERIFICATION_FOLDS);
    let ret = retrieval::retrieval(points, dim, labels);
    let classes = {
        let mut l = labels.to_vec();
        l.sort_unstable();
        l.dedup();
        l.len()
    };
    let clusters = kmeans(points, dim, classes, seed, KMEANS_ITERS);
    let positive_pairs = pairs.same.iter().filter(|&&s| s).count();
    EvalReport {
        samples: labels.len(),
        classes,
        positive_pairs,
        negative_pairs: pairs.same.len() - positive_pairs,
        auc: auc(&curve),
        eer: eer(&scores, &pairs.same),
        tar_at_far_1e1: tar_at_far(&scores, &pairs.same, 1e-1),
        tar_at_far_1e2: tar_at_far(&scores, &pairs.same, 1e-2),
        tar_at_far_1e3: tar_at_far(&scores, &pairs.same, 1e-3),
        threshold_at_eer: threshold_at_eer(&scores, &pairs.same),
        threshold_at_far_1e1: threshold_at_far(&scores, &pairs.same, 1e-1),
        threshold_at_far_1e2: threshold_at_far(&scores, &pairs.same, 1e-2),
        threshold_at_far_1e3: threshold_at_far(&scores, &pairs.same, 1e-3),
        ten_fold_mean: folds.mean,
        ten_fold_std: folds.std,
        precision_at_1: ret.precision_at_1,
        map_at_r: ret.map_at_r,
        nmi: nmi(labels, &clusters),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluate_on_separated_classes_is_perfect() {
        // Four classes along ±x, ±y with small jitter: every metric at its best.
        let dirs = [[1.0f32, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]];
        let mut points = Vec::new();
        let mut labels = Vec::new();
        for i in 0..40 {
            let c = i % 4;
            let j = (i as f32) * 0.001;
            points.extend([dirs[c][0] + j, dirs[c][1] - j]);
            labels.push(c as i64 * 7);
        }
        let r = evaluate(&points, 2, &labels, 3);
        assert_eq!(r.samples, 40);
        assert_eq!(r.classes, 4);
        assert_eq!(r.positive_pairs, 4 * 45);
        assert_eq!(r.negative_pairs, 4 * 45);
        assert_eq!(r.auc, 1.0);
        assert_eq!(r.eer, 0.0);
        assert_eq!(r.tar_at_far_1e3, 1.0);
        assert_eq!(r.ten_fold_mean, 1.0);
        assert_eq!(r.ten_fold_std, 0.0);
        assert_eq!(r.precision_at_1, 1.0);
        assert_eq!(r.map_at_r, 1.0);
        assert!((r.nmi - 1.0).abs() < 1e-12, "{}", r.nmi);
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"map_at_r\":1.0"), "{json}");
    }
}
