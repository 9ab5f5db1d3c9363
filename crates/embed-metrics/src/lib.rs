//! Metrics of embeddings, with no dependency beyond `serde`: open-set evaluation
//! ([`evaluate`]: verification on pairs, retrieval and clustering, all with cosine similarity on
//! the raw vectors) and the per-epoch angle diagnostics of training ([`angle_stats`]).
//!
//! Here rather than in `viz`: the trainer, `eval` and the ROC plot all need the numbers, and
//! none of them should need a plotting library to get them.
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

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))] // a failed unwrap is a failed test

mod angles;
mod clustering;
mod evaluate;
mod pairs;
mod retrieval;
mod rng;
mod vectors;
mod verification;

pub use crate::{
    angles::{
        AngleStats, ClassAngles, HIST_BINS, HIST_STEP_DEG, angle_stats, min_center_angle_deg,
    },
    clustering::{kmeans, nmi},
    evaluate::{EvalReport, KMEANS_ITERS, MAX_POSITIVE_PAIRS, VERIFICATION_FOLDS, evaluate},
    pairs::{Pairs, cosine_scores, make_pairs},
    retrieval::{map_at_r, precision_at_1},
    verification::{
        FoldAccuracy, Roc, auc, eer, roc, tar_at_far, ten_fold_accuracy, threshold_at_eer,
        threshold_at_far,
    },
};
