use std::f64::consts::PI;

use burn::module::Param;

use crate::CoreError;
use crate::head::test_util::*;
use crate::head::{CosineHead, CosineHeadConfig, Margin, ThetaOverflow};

/// `centres[j][k]` is sub-centre `k` of class `j`.
fn head(centres: &[&[&[f32]]], overflow: ThetaOverflow, easy: bool) -> CosineHead {
    let flat: Vec<&[f32]> = centres.iter().flat_map(|c| c.iter().copied()).collect();
    let margin = Margin::AdditiveAngle {
        m: 0.5,
        easy_margin: easy,
        overflow,
    };
    CosineHead::from_weight(columns(&flat), centres[0].len(), 15.0, margin)
}

fn two_by_two() -> CosineHead {
    // Class 0 at 0 and 90 degrees, class 1 at 180 and 270 (stored with length 2).
    head(
        &[&[&[1.0, 0.0], &[0.0, 1.0]], &[&[-2.0, 0.0], &[0.0, -2.0]]],
        ThetaOverflow::Exact,
        false,
    )
}

#[test]
fn nearest_sub_centre_and_margin_by_hand() {
    let h = two_by_two();
    // At 60 degrees: class 0's nearest sub-centre is 30 degrees away, class 1's 120.
    let out = h.forward(rows(&[&at_angle(60.0)], false), targets(&[0]));
    let train = values(out.train_logits);
    // cos(30deg + m) = cos30 cos m - sin30 sin m
    let want = 0.75f64.sqrt() * 0.5f64.cos() - 0.5 * 0.5f64.sin();
    assert_close(train[0], 15.0 * want, 1e-4, "target");
    assert_close(train[1], 15.0 * -0.5, 1e-4, "non-target");
    let plain = values(out.logits);
    assert_close(plain[0], 15.0 * 0.75f64.sqrt(), 1e-4, "margin-free");
    assert_close(plain[1], -7.5, 1e-4, "margin-free");
}

#[test]
fn centres_and_sub_centres() {
    let h = two_by_two();
    let half = 0.5f64;
    let want = [half, half, -half, -half];
    for (got, want) in values(h.centers()).iter().zip(want) {
        assert_close(*got, want, 1e-6, "mean of unit sub-centres");
    }
    assert_eq!(h.sub_centers().dims(), [2, 2, 2]);
    assert_eq!(
        values(h.sub_centers()),
        vec![1.0, 0.0, 0.0, 1.0, -2.0, 0.0, 0.0, -2.0]
    );
}

#[test]
fn one_sub_centre_is_arcface() {
    let arc = CosineHeadConfig::arcface(3, 4).init(&device()).unwrap();
    let h = CosineHead::from_weight(
        Param::from_tensor(arc.centers().transpose().detach()),
        1,
        15.0,
        Margin::arcface(0.5),
    );
    let x = rows(
        &[&[0.3, -0.2, 1.0], &[-1.0, 0.5, 0.1], &[0.0, 2.0, -1.0]],
        false,
    );
    let t = [3, 0, 1];
    let got = values(h.forward(x.clone(), targets(&t)).train_logits);
    let want = values(arc.forward(x, targets(&t)).train_logits);
    for (g, w) in got.iter().zip(want) {
        assert_close(*g, w as f64, 1e-5, "K = 1");
    }
}

#[test]
fn gradients_match_finite_differences() {
    let centres: &[&[&[f32]]] = &[
        &[&[1.0, 0.2, -0.3], &[-0.2, -1.0, 0.4]],
        &[&[-0.4, 1.0, 0.1], &[0.9, 0.1, 0.9]],
        &[&[0.2, -0.5, 1.0], &[-1.0, -0.6, -0.2]],
    ];
    let x = [0.9, 0.3, -0.2, 0.5, -0.7, 0.4, -0.9, -0.3, -1.1];
    for overflow in [ThetaOverflow::Exact, ThetaOverflow::InsightFace] {
        let h = head(centres, overflow, false);
        check_gradients(|e, t| h.forward(e, t).train_logits, &x, 3, &[0, 1, 2]);
    }
}

#[test]
fn no_nan_at_cos_plus_minus_one_and_on_zero_vectors() {
    for easy in [false, true] {
        let h = head(
            &[&[&[0.6, 0.8], &[0.6, 0.8]], &[&[0.0, 1.0], &[1.0, 0.0]]],
            ThetaOverflow::InsightFace,
            easy,
        );
        let x: &[&[f32]] = &[&[0.6, 0.8], &[-0.6, -0.8]];
        assert_finite_grads(|e, t| h.forward(e, t).train_logits, h.weight(), x, &[0, 0]);
        let h = head(
            &[&[&[0.0, 0.0], &[0.0, 0.0]], &[&[0.0, 1.0], &[1.0, 0.0]]],
            ThetaOverflow::Exact,
            easy,
        );
        let x: &[&[f32]] = &[&[0.0, 0.0], &[1.0, 0.0]];
        assert_finite_grads(|e, t| h.forward(e, t).train_logits, h.weight(), x, &[0, 1]);
    }
}

#[test]
fn rejects_bad_hyper_parameters() {
    let base = CosineHeadConfig::subcenter_arcface(2, 10, 3);
    assert!(matches!(
        base.clone().with_sub_centers(0).init(&device()),
        Err(CoreError::OutOfRange {
            key: "sub_centers",
            ..
        })
    ));
    assert!(matches!(
        base.clone()
            .with_margin(Margin::arcface(PI))
            .init(&device()),
        Err(CoreError::OutOfRange { key: "margin", .. })
    ));
    assert!(matches!(
        base.clone().with_scale(f64::NAN).init(&device()),
        Err(CoreError::OutOfRange { key: "scale", .. })
    ));
    let h = base.with_sub_centers(3).init(&device()).unwrap();
    assert_eq!(h.sub_centers().dims(), [10, 3, 2]);
    assert_eq!(h.centers().dims(), [10, 2]);
}
