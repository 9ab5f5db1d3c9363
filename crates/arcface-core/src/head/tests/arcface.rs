use crate::CoreError;
use crate::head::test_util::{
    self, at_angle, check_gradients, columns, device, rows, targets, tolerance, values,
};
use crate::head::{CosineHead, CosineHeadConfig, Margin, ThetaOverflow};
use std::f64::consts::PI;

/// A head whose class weights are the given rows (`[classes][dim]`).
fn head(centres: &[&[f32]], margin: f64, easy: bool, overflow: ThetaOverflow) -> CosineHead {
    let margin = Margin::AdditiveAngle {
        m: margin,
        easy_margin: easy,
        overflow,
    };
    CosineHead::from_weight(columns(centres), 1, 15.0, margin)
}

#[test]
fn logits_match_angle_addition_by_hand() {
    // Embedding at 60 degrees from class 0 (the x axis) and 30 degrees from class 1 (y axis).
    let h = head(
        &[&[1.0, 0.0], &[0.0, 1.0]],
        0.5,
        false,
        ThetaOverflow::Exact,
    );
    let out = h.forward(rows(&[&at_angle(60.0)], false), targets(&[0]));
    let train = values(out.train_logits);
    // cos(60deg + m) = cos60 cos m - sin60 sin m
    let expected_target = 15.0 * (0.5 * 0.5f64.cos() - 0.75f64.sqrt() * 0.5f64.sin());
    assert!(
        (train[0] as f64 - expected_target).abs() < tolerance(1e-4),
        "{train:?} vs {expected_target}"
    );
    assert!((train[1] as f64 - 15.0 * 0.75f64.sqrt()).abs() < tolerance(1e-4));
    let plain = values(out.logits);
    assert!(
        (plain[0] as f64 - 7.5).abs() < tolerance(1e-4),
        "margin-free logit is s*cos60"
    );
}

#[test]
fn logits_agree_with_scalar_reference_on_many_angles() {
    // Independent f64 reference of the seed's formula: s * cos(acos(clamp(c)) + m).
    let reference = |c: f64, m: f64| 15.0 * (c.clamp(-1.0 + 1e-7, 1.0 - 1e-7).acos() + m).cos();
    let h = head(
        &[&[1.0, 0.0], &[-1.0, 0.0]],
        0.5,
        false,
        ThetaOverflow::Exact,
    );
    for deg in [0.0, 10.0, 45.0, 89.0, 135.0, 150.0, 160.0, 179.0, 180.0] {
        let out = h.forward(rows(&[&at_angle(deg)], false), targets(&[0]));
        let got = values(out.train_logits)[0] as f64;
        let want = reference(deg.to_radians().cos(), 0.5);
        assert!((got - want).abs() < 2e-3, "angle {deg}: {got} vs {want}");
    }
}

#[test]
fn theta_plus_margin_beyond_pi() {
    // 170 degrees + 0.5 rad = 3.467 rad > pi.
    let x = at_angle(170.0);
    let exact = head(
        &[&[1.0, 0.0], &[0.0, 1.0]],
        0.5,
        false,
        ThetaOverflow::Exact,
    );
    let got = values(
        exact
            .forward(rows(&[&x], false), targets(&[0]))
            .train_logits,
    )[0] as f64;
    // cos(170deg + 0.5) = -cos(170deg + 0.5 - pi), the exact (non-monotonic) value.
    let want = -15.0 * (170f64.to_radians() + 0.5 - PI).cos();
    assert!((got - want).abs() < 1e-3, "{got} vs {want}");

    let insight = head(
        &[&[1.0, 0.0], &[0.0, 1.0]],
        0.5,
        false,
        ThetaOverflow::InsightFace,
    );
    let got = values(
        insight
            .forward(rows(&[&x], false), targets(&[0]))
            .train_logits,
    )[0] as f64;
    let want = 15.0 * (170f64.to_radians().cos() - 0.5 * 0.5f64.sin());
    assert!((got - want).abs() < 1e-3, "{got} vs {want}");
}

#[test]
fn easy_margin_leaves_obtuse_targets_alone() {
    let h = head(&[&[1.0, 0.0], &[0.0, 1.0]], 0.5, true, ThetaOverflow::Exact);
    let out = h.forward(
        rows(&[&at_angle(120.0), &at_angle(60.0)], false),
        targets(&[0, 0]),
    );
    let train = values(out.train_logits);
    assert!(
        (train[0] as f64 - 15.0 * -0.5).abs() < tolerance(1e-4),
        "cos <= 0: no margin"
    );
    let want = 15.0 * (PI / 3.0 + 0.5).cos();
    assert!(
        (train[2] as f64 - want).abs() < tolerance(1e-4),
        "cos > 0: margin applied"
    );
}

#[test]
fn gradients_match_finite_differences() {
    let h = head(
        &[&[1.0, 0.2, -0.3], &[-0.4, 1.0, 0.1], &[0.2, -0.5, 1.0]],
        0.5,
        false,
        ThetaOverflow::Exact,
    );
    // Targets near, mid and far (theta + m > pi for the last row) from their centres.
    let x = [0.9, 0.3, -0.2, 0.5, -0.7, 0.4, -0.9, -0.3, -1.1];
    check_gradients(|e, t| h.forward(e, t).train_logits, &x, 3, &[0, 1, 2]);
    let h = head(
        &[&[1.0, 0.2, -0.3], &[-0.4, 1.0, 0.1], &[0.2, -0.5, 1.0]],
        0.5,
        false,
        ThetaOverflow::InsightFace,
    );
    check_gradients(|e, t| h.forward(e, t).train_logits, &x, 3, &[0, 1, 2]);
}

fn assert_finite_grads(centres: &[&[f32]], x: &[&[f32]], t: &[i64]) {
    for overflow in [ThetaOverflow::Exact, ThetaOverflow::InsightFace] {
        for easy in [false, true] {
            let h = head(centres, 0.5, easy, overflow);
            test_util::assert_finite_grads(|e, t| h.forward(e, t).train_logits, h.weight(), x, t);
        }
    }
}

#[test]
fn no_nan_when_feature_equals_its_centre_or_its_antipode() {
    assert_finite_grads(
        &[&[0.6, 0.8], &[0.0, 1.0]],
        &[&[0.6, 0.8], &[-0.6, -0.8]],
        &[0, 0],
    );
}

#[test]
fn no_nan_on_zero_vectors() {
    assert_finite_grads(
        &[&[0.0, 0.0], &[0.0, 1.0]],
        &[&[0.0, 0.0], &[1.0, 0.0]],
        &[0, 1],
    );
}

#[test]
fn rejects_bad_hyper_parameters() {
    let base = CosineHeadConfig::arcface(2, 10);
    assert!(matches!(
        base.clone().with_scale(0.0).init(&device()),
        Err(CoreError::OutOfRange { key: "scale", .. })
    ));
    assert!(matches!(
        base.clone()
            .with_margin(Margin::arcface(4.0))
            .init(&device()),
        Err(CoreError::OutOfRange { key: "margin", .. })
    ));
    assert!(matches!(
        CosineHeadConfig::arcface(0, 10).init(&device()),
        Err(CoreError::ZeroEmbedding)
    ));
    assert!(matches!(
        CosineHeadConfig::arcface(2, 1).init(&device()),
        Err(CoreError::TooFewClasses(1))
    ));
}

#[test]
fn xavier_uniform_bound() {
    // Xavier-uniform on [3, 1000]: |w| <= sqrt(6 / (3 + 1000)).
    let h = CosineHeadConfig::arcface(3, 1000).init(&device()).unwrap();
    let w = values(h.weight().val());
    let bound = (6.0f32 / 1003.0).sqrt();
    assert!(w.iter().all(|v| v.abs() <= bound + 1e-6));
    assert!(
        w.iter().any(|v| v.abs() > 0.5 * bound),
        "spread over the range"
    );
}
