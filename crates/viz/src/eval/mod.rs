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

pub use clustering::{kmeans, nmi};
pub use pairs::{Pairs, cosine_scores, make_pairs};
pub use retrieval::{map_at_r, precision_at_1};
pub use verification::{FoldAccuracy, Roc, auc, eer, roc, tar_at_far, ten_fold_accuracy};

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
