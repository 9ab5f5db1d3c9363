//! Pair verification: ROC, AUC, EER, TAR@FAR and the LFW k-fold accuracy.

/// An ROC curve: one point per distinct score, strictest first.
/// `thresholds[0]` is `+inf` (nothing accepted, the point (0, 0)); each later
/// threshold is a score, accepting every pair scoring `>=` it, so the last
/// point is (1, 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Roc {
    /// False positive rate at each threshold.
    pub fpr: Vec<f64>,
    /// True positive rate at each threshold.
    pub tpr: Vec<f64>,
    /// The thresholds, descending.
    pub thresholds: Vec<f64>,
}

/// Per-fold accuracy of the LFW protocol (see [`ten_fold_accuracy`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FoldAccuracy {
    /// Mean of the per-fold accuracies.
    pub mean: f64,
    /// Population standard deviation of the per-fold accuracies.
    pub std: f64,
    /// Threshold applied to each fold, chosen on the others.
    pub thresholds: Vec<f64>,
    /// Accuracy on each fold.
    pub accuracies: Vec<f64>,
}

/// The ROC of `scores` (higher means "more alike") against `same`. Tied
/// scores are one step, so a tie of a positive and a negative is a diagonal
/// segment. Rates are NaN when there are no positives (TPR) or no
/// negatives (FPR).
///
/// # Panics
/// If `scores` and `same` differ in length.
pub fn roc(scores: &[f64], same: &[bool]) -> Roc {
    assert_eq!(scores.len(), same.len(), "one score per pair");
    let pos = same.iter().filter(|&&s| s).count() as f64;
    let neg = same.len() as f64 - pos;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]));
    let mut out = Roc {
        fpr: vec![0.0 / neg],
        tpr: vec![0.0 / pos],
        thresholds: vec![f64::INFINITY],
    };
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut k = 0;
    while k < order.len() {
        let t = scores[order[k]];
        while k < order.len() && scores[order[k]] == t {
            if same[order[k]] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            k += 1;
        }
        out.fpr.push(fp / neg);
        out.tpr.push(tp / pos);
        out.thresholds.push(t);
    }
    out
}

/// Area under `roc` by the trapezoid rule; equal to the chance that a random
/// positive outscores a random negative, ties counting one half.
pub fn auc(roc: &Roc) -> f64 {
    roc.fpr
        .windows(2)
        .zip(roc.tpr.windows(2))
        .map(|(f, t)| (f[1] - f[0]) * (t[0] + t[1]) / 2.0)
        .sum()
}

/// Equal error rate: the rate where FPR = FNR (= 1 - TPR) on the ROC,
/// interpolated linearly between the last point with FPR < FNR and the
/// first with FPR >= FNR. NaN without both positives and negatives.
pub fn eer(scores: &[f64], same: &[bool]) -> f64 {
    let r = roc(scores, same);
    for k in 1..r.fpr.len() {
        let d1 = r.fpr[k] - (1.0 - r.tpr[k]);
        if d1 >= 0.0 {
            let (f0, n0) = (r.fpr[k - 1], 1.0 - r.tpr[k - 1]);
            let d0 = f0 - n0;
            // d0 < 0 <= d1, so the crossing lies in (0, 1] along the segment.
            let t = d0 / (d0 - d1);
            return f0 + t * (r.fpr[k] - f0);
        }
    }
    f64::NAN
}

/// True accept rate at a false accept rate: the largest TPR among ROC points
/// whose FPR is at most `far`. The point (0, 0) always qualifies, so this is
/// 0 when even the top-scoring pair is a negative that `far` cannot afford.
/// NaN without positives or negatives.
pub fn tar_at_far(scores: &[f64], same: &[bool], far: f64) -> f64 {
    let r = roc(scores, same);
    if r.fpr.iter().chain(&r.tpr).any(|v| v.is_nan()) {
        return f64::NAN;
    }
    r.fpr
        .iter()
        .zip(&r.tpr)
        .filter(|(f, _)| **f <= far)
        .map(|(_, t)| *t)
        .fold(0.0, f64::max)
}

/// The cosine threshold (accept a pair scoring `>=` it) that [`tar_at_far`] works at: the
/// lowest ROC threshold whose FPR is at most `far`, so the one with the highest TPR. When
/// only "accept nothing" qualifies (the top-scoring pair is a negative `far` cannot afford),
/// the smallest number above the top score, which accepts no pair of the set. NaN without
/// positives or negatives.
pub fn threshold_at_far(scores: &[f64], same: &[bool], far: f64) -> f64 {
    let r = roc(scores, same);
    if r.fpr.iter().chain(&r.tpr).any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let k = r.fpr.iter().rposition(|f| *f <= far).unwrap_or(0);
    finite_threshold(&r, k)
}

/// The cosine threshold at the equal error rate: the threshold of the ROC point that ends the
/// segment [`eer`] interpolates on, the highest threshold whose FPR is at least its FNR
/// (accepting `>=` it). NaN without positives or negatives.
pub fn threshold_at_eer(scores: &[f64], same: &[bool]) -> f64 {
    let r = roc(scores, same);
    if r.fpr.iter().chain(&r.tpr).any(|v| v.is_nan()) {
        return f64::NAN;
    }
    // In counts, FPR >= FNR is fp * pos >= fn * neg: exact, where the rates' rounding can put
    // an exact equality (1/3 against 1 - 2/3) on either side.
    let pos = same.iter().filter(|&&s| s).count() as f64;
    let neg = same.len() as f64 - pos;
    (1..r.fpr.len())
        .find(|&k| {
            let fp = (r.fpr[k] * neg).round();
            let fn_ = pos - (r.tpr[k] * pos).round();
            fp * pos >= fn_ * neg
        })
        .map_or(f64::NAN, |k| finite_threshold(&r, k))
}

/// `roc.thresholds[k]`, with the leading `+inf` ("accept nothing") replaced by the smallest
/// number above the top score.
fn finite_threshold(roc: &Roc, k: usize) -> f64 {
    if k == 0 {
        roc.thresholds.get(1).map_or(f64::NAN, |t| t.next_up())
    } else {
        roc.thresholds[k]
    }
}

/// Verification accuracy by the LFW protocol (Huang et al. 2007): the pairs
/// are split into `folds` folds; each fold is classified with the threshold
/// that maximises accuracy on all the other folds; the result is the mean
/// and population standard deviation of the per-fold accuracies.
///
/// Folds are stratified and interleaved: the i-th positive pair in input
/// order goes to fold `i % folds`, as does the i-th negative pair. The
/// threshold is chosen among the cut points between consecutive distinct
/// training scores (the midpoint is used; the lowest score itself for
/// "accept all"; `+inf` for "reject all"), the strictest one on ties in
/// accuracy. Folds left empty are skipped. All NaN when `folds < 2`.
///
/// # Panics
/// If `scores` and `same` differ in length.
pub fn ten_fold_accuracy(scores: &[f64], same: &[bool], folds: usize) -> FoldAccuracy {
    assert_eq!(scores.len(), same.len(), "one score per pair");
    if folds < 2 {
        return FoldAccuracy {
            mean: f64::NAN,
            std: f64::NAN,
            thresholds: Vec::new(),
            accuracies: Vec::new(),
        };
    }
    let (mut npos, mut nneg) = (0, 0);
    let fold_of: Vec<usize> = same
        .iter()
        .map(|&s| {
            let c = if s { &mut npos } else { &mut nneg };
            *c += 1;
            (*c - 1) % folds
        })
        .collect();
    let mut thresholds = Vec::with_capacity(folds);
    let mut accuracies = Vec::with_capacity(folds);
    for f in 0..folds {
        let test: Vec<usize> = (0..scores.len()).filter(|&i| fold_of[i] == f).collect();
        if test.is_empty() {
            continue;
        }
        let train: Vec<usize> = (0..scores.len()).filter(|&i| fold_of[i] != f).collect();
        let t = best_threshold(scores, same, &train);
        let correct = test
            .iter()
            .filter(|&&i| (scores[i] >= t) == same[i])
            .count();
        thresholds.push(t);
        accuracies.push(correct as f64 / test.len() as f64);
    }
    let n = accuracies.len() as f64;
    let mean = accuracies.iter().sum::<f64>() / n;
    let std = (accuracies.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n).sqrt();
    FoldAccuracy {
        mean,
        std,
        thresholds,
        accuracies,
    }
}

/// The accuracy-maximising threshold on the pairs `idx` (see
/// [`ten_fold_accuracy`] for the candidates and the tie rule).
fn best_threshold(scores: &[f64], same: &[bool], idx: &[usize]) -> f64 {
    let mut order = idx.to_vec();
    order.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]));
    let neg = idx.iter().filter(|&&i| !same[i]).count();
    // Rejecting everything is right for every negative.
    let (mut best, mut best_t) = (neg, f64::INFINITY);
    let (mut tp, mut fp) = (0, 0);
    let mut k = 0;
    while k < order.len() {
        let t = scores[order[k]];
        while k < order.len() && scores[order[k]] == t {
            if same[order[k]] {
                tp += 1;
            } else {
                fp += 1;
            }
            k += 1;
        }
        let correct = tp + neg - fp;
        if correct > best {
            best = correct;
            best_t = match order.get(k) {
                Some(&next) => (t + scores[next]) / 2.0,
                None => t,
            };
        }
    }
    best_t
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: bool = true;
    const F: bool = false;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    // scores 0.9 0.8 0.7 0.6 0.5 0.4, same T T F T F F: P = N = 3.
    // Accepting from the top, (FPR, TPR) after each threshold:
    //   +inf (0, 0); 0.9 (0, 1/3); 0.8 (0, 2/3); 0.7 (1/3, 2/3);
    //   0.6 (1/3, 1); 0.5 (2/3, 1); 0.4 (1, 1).
    // AUC by counting: positives 0.9, 0.8 beat all 3 negatives, 0.6 beats
    //   0.5 and 0.4: 8 of 9 pairs, 8/9.
    // FNR = 1 - TPR: 1, 2/3, 1/3, 1/3, 0, ...: at 0.7 FPR = FNR = 1/3 exactly, EER 1/3.
    // TAR@FAR: FAR 0 or 0.1 -> best TPR with FPR 0 is 2/3; FAR 1/3 -> 1.
    const S6: [f64; 6] = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
    const Y6: [bool; 6] = [T, T, F, T, F, F];

    #[test]
    fn roc_by_hand() {
        let r = roc(&S6, &Y6);
        let third = 1.0 / 3.0;
        assert_eq!(r.fpr, vec![0.0, 0.0, 0.0, third, third, 2.0 * third, 1.0]);
        assert_eq!(
            r.tpr,
            vec![0.0, third, 2.0 * third, 2.0 * third, 1.0, 1.0, 1.0]
        );
        assert_eq!(r.thresholds[0], f64::INFINITY);
        assert_eq!(&r.thresholds[1..], &S6);
        // Input order must not matter.
        let rev: Vec<f64> = S6.iter().rev().copied().collect();
        let revy: Vec<bool> = Y6.iter().rev().copied().collect();
        assert_eq!(roc(&rev, &revy), r);
    }

    #[test]
    fn auc_eer_tar_by_hand() {
        assert!(close(auc(&roc(&S6, &Y6)), 8.0 / 9.0));
        assert!(close(eer(&S6, &Y6), 1.0 / 3.0));
        assert_eq!(tar_at_far(&S6, &Y6, 0.0), 2.0 / 3.0);
        assert_eq!(tar_at_far(&S6, &Y6, 0.1), 2.0 / 3.0);
        assert_eq!(tar_at_far(&S6, &Y6, 1.0 / 3.0), 1.0);
        // A negative on top: no threshold accepts anything at FAR 0.1 but +inf.
        assert_eq!(tar_at_far(&[0.9, 0.5, 0.4], &[F, T, F], 0.1), 0.0);
    }

    // Thresholds of S6 from the (FPR, TPR) table above, accepting scores >= the threshold:
    //   FAR 0 or 0.1: the lowest threshold with FPR 0 is 0.8 (TPR 2/3);
    //   FAR 1/3: the lowest with FPR <= 1/3 is 0.6 (TPR 1); FAR 1: 0.4 (accept all).
    //   EER: FPR >= FNR first at 0.7 (1/3 = 1/3).
    #[test]
    fn thresholds_by_hand() {
        assert_eq!(threshold_at_far(&S6, &Y6, 0.0), 0.8);
        assert_eq!(threshold_at_far(&S6, &Y6, 0.1), 0.8);
        assert_eq!(threshold_at_far(&S6, &Y6, 1.0 / 3.0), 0.6);
        assert_eq!(threshold_at_far(&S6, &Y6, 1.0), 0.4);
        assert_eq!(threshold_at_eer(&S6, &Y6), 0.7);
        // A negative on top: only "accept nothing" has FPR <= 0.1: just above 0.9, and no
        // pair of the set scores that high.
        let t = threshold_at_far(&[0.9, 0.5, 0.4], &[F, T, F], 0.1);
        assert!(t > 0.9 && t < 0.9 + 1e-15, "{t}");
        // The tie example below: FPR - FNR first >= 0 at 0.8 (1/2 - 0 = 1/2).
        assert_eq!(threshold_at_eer(&[0.8, 0.9, 0.7, 0.8], &[F, T, F, T]), 0.8);
        assert!(threshold_at_far(&[0.5, 0.2], &[T, T], 0.1).is_nan());
        assert!(threshold_at_eer(&[0.5, 0.2], &[F, F]).is_nan());
    }

    // scores 0.9 0.8 0.8 0.7, same T T F F: the tie at 0.8 is one diagonal step.
    // ROC: (0,0) (0,1/2) (1/2,1) (1,1). AUC by counting: 0.9 beats both (2),
    //   0.8 ties 0.8 (1/2) and beats 0.7 (1): 3.5 / 4 = 0.875.
    // FPR - FNR: -1, -1/2, 1/2: the crossing is halfway along (0,1/2)->(1/2,1),
    //   at FPR = 1/4, FNR = 1 - 3/4 = 1/4: EER 0.25.
    #[test]
    fn ties_are_one_step_and_eer_interpolates() {
        let s = [0.8, 0.9, 0.7, 0.8];
        let y = [F, T, F, T];
        let r = roc(&s, &y);
        assert_eq!(r.fpr, vec![0.0, 0.0, 0.5, 1.0]);
        assert_eq!(r.tpr, vec![0.0, 0.5, 1.0, 1.0]);
        assert_eq!(r.thresholds, vec![f64::INFINITY, 0.9, 0.8, 0.7]);
        assert!(close(auc(&r), 0.875));
        assert!(close(eer(&s, &y), 0.25));
        // One positive, two negatives around it: FPR-FNR goes -1, -1/2, +1/2 with FPR
        // fixed at 1/2 on the vertical step, so the EER is 1/2.
        assert!(close(eer(&[0.9, 0.8, 0.7], &[F, T, F]), 0.5));
    }

    #[test]
    fn undefined_without_both_classes() {
        assert!(eer(&[0.5, 0.2], &[T, T]).is_nan());
        assert!(tar_at_far(&[0.5, 0.2], &[F, F], 0.1).is_nan());
        assert!(auc(&roc(&[0.5], &[T])).is_nan());
    }

    #[test]
    fn ten_folds_on_separable_scores_are_perfect() {
        // Positives score 0.5..1, negatives -1..0.4, in an arbitrary order.
        let mut s = Vec::new();
        let mut y = Vec::new();
        for i in 0..100 {
            let pos = (i * 7) % 3 != 0;
            y.push(pos);
            s.push(if pos {
                0.5 + (i as f64) / 200.0
            } else {
                -1.0 + (i as f64) / 100.0 * 1.4
            });
        }
        let acc = ten_fold_accuracy(&s, &y, 10);
        assert_eq!(acc.accuracies.len(), 10);
        assert_eq!(acc.mean, 1.0);
        assert_eq!(acc.std, 0.0);
        assert!(
            acc.thresholds.iter().all(|&t| t > 0.4 && t < 0.5),
            "{:?}",
            acc.thresholds
        );
    }

    // Two folds. Positives in input order 0.9, 0.6, 0.8, 0.4; negatives 0.5, 0.7, 0.25, 0.2.
    // Fold 0 takes the 1st and 3rd of each: pos {0.9, 0.8}, neg {0.5, 0.25};
    // fold 1: pos {0.6, 0.4}, neg {0.7, 0.2}.
    // Fold 0 is tested with fold 1's threshold. Fold 1 sorted: 0.7N 0.6P 0.4P 0.2N;
    //   correct when accepting down to: none 2, 0.7 1, 0.6 2, 0.4 3, 0.2 2 -> cut
    //   between 0.4 and 0.2, t = 0.3. On fold 0: 0.9, 0.8 accepted (right), 0.5
    //   accepted (wrong), 0.25 rejected (right): 3/4.
    // Fold 1 is tested with fold 0's threshold: fold 0 sorted 0.9P 0.8P 0.5N 0.25N is
    //   all right cutting between 0.8 and 0.5, t = 0.65. On fold 1: 0.6P, 0.4P
    //   rejected (wrong), 0.7N accepted (wrong), 0.2N rejected (right): 1/4.
    // Mean 1/2, population std |3/4 - 1/2| = 1/4.
    #[test]
    fn two_folds_by_hand() {
        let s = [0.9, 0.5, 0.6, 0.7, 0.8, 0.25, 0.4, 0.2];
        let y = [T, F, T, F, T, F, T, F];
        let acc = ten_fold_accuracy(&s, &y, 2);
        assert_eq!(acc.accuracies, vec![0.75, 0.25]);
        assert!(
            close(acc.thresholds[0], 0.3) && close(acc.thresholds[1], 0.65),
            "{:?}",
            acc.thresholds
        );
        assert!(close(acc.mean, 0.5));
        assert!(close(acc.std, 0.25));
        assert!(ten_fold_accuracy(&s, &y, 1).mean.is_nan());
    }
}
