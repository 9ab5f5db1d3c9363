//! Open-set evaluation of embeddings: verification on pairs, retrieval and
//! clustering, all with cosine similarity on the raw vectors.
//!
//! Definitions and their sources:
//! - Pairs, ROC, AUC, EER, TAR@FAR and the k-fold accuracy follow the
//!   verification protocol of Huang et al. 2007, "Labeled Faces in the Wild:
//!   A Database for Studying Face Recognition in Unconstrained Environments"
//!   (10 folds, the threshold for each fold chosen on the other nine).
//! - P@1 and MAP@R follow Musgrave, Belongie & Lim 2020, "A Metric Learning
//!   Reality Check" (leave-one-out; queries whose class has no other sample
//!   are left out, as in their `pytorch-metric-learning` implementation).
//! - NMI follows Strehl & Ghosh 2002, "Cluster Ensembles", with the
//!   arithmetic-mean normalisation that scikit-learn uses by default:
//!   `2 I(X;Y) / (H(X) + H(Y))`.
//!
//! Conventions, where the sources leave a choice:
//! - A pair is predicted "same" when its score is `>=` the threshold.
//! - EER: the ROC is walked from the strictest threshold; between the last
//!   point with FPR < FNR and the first with FPR >= FNR the two rates are
//!   interpolated linearly and the EER is their common value there.
//! - TAR@FAR: the largest TPR among ROC points with FPR <= FAR. The point
//!   (0, 0) always qualifies, so the result is 0 when not even the top score
//!   can be accepted without exceeding the FAR. With N negative pairs a FAR
//!   below 1/N can only be met at FPR = 0.
//! - k-fold accuracy: folds are stratified and interleaved: the i-th positive
//!   pair (in input order) goes to fold `i % folds`, and so does the i-th
//!   negative pair. The reported spread is the population standard
//!   deviation (as `numpy.std`, which LFW-style reports use).
//! - Ties in a ranking are broken by the lower sample index first.
//! - Undefined rates (no positive or no negative pairs, no query with a
//!   same-class neighbour) come out as NaN rather than a made-up number.

mod clustering;
mod pairs;
mod retrieval;
mod rng;
mod verification;

use serde::Serialize;

pub use clustering::{kmeans, nmi};
pub use pairs::{Pairs, cosine_scores, make_pairs};
pub use retrieval::{map_at_r, precision_at_1};
pub use verification::{
    FoldAccuracy, Roc, auc, eer, roc, tar_at_far, ten_fold_accuracy, threshold_at_eer,
    threshold_at_far,
};

/// Positive pairs [`evaluate`] keeps at most (and as many negatives).
pub const MAX_POSITIVE_PAIRS: usize = 200_000;

/// Lloyd iterations [`evaluate`] allows k-means.
pub const KMEANS_ITERS: usize = 100;

/// Folds of the LFW-style verification accuracy in [`evaluate`].
pub const VERIFICATION_FOLDS: usize = 10;

/// Every metric of one set of embeddings; see the module doc for the
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

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
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
