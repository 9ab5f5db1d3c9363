use std::f64::consts::PI;

use crate::CoreError;
use crate::head::test_util::*;
use crate::head::{CosineHead, CosineHeadConfig, Margin};

fn head(centres: &[&[f32]], margin: f64) -> CosineHead {
    CosineHead::from_weight(
        columns(centres),
        1,
        15.0,
        Margin::MultiplicativeAngle { m: margin },
    )
}

/// Independent f64 reference: the paper's piecewise formula, the piece found by search.
fn psi(theta: f64, m: f64) -> f64 {
    let k = (0..m as usize)
        .find(|&k| theta <= (k + 1) as f64 * PI / m)
        .unwrap_or(m as usize - 1) as f64;
    (-1f64).powi(k as i32) * (m * theta).cos() - 2.0 * k
}

fn target_logit(h: &CosineHead, deg: f64) -> f32 {
    let out = h.forward(rows(&[&at_angle(deg)], false), targets(&[0]));
    values(out.train_logits)[0]
}

#[test]
fn hand_values_for_m4() {
    let h = head(&[&[1.0, 0.0], &[0.0, 1.0]], 4.0);
    let c40 = 40f64.to_radians().cos();
    // 30 deg: k = 0, cos 120 = -1/2.  60 deg: k = 1, -cos 240 - 2 = -3/2.
    // 100 deg: k = 2, cos 400 - 4 = cos 40 - 4.  170 deg: k = 3, -cos 680 - 6 = -cos 40 - 6.
    for (deg, want) in [
        (0.0, 1.0),
        (30.0, -0.5),
        (60.0, -1.5),
        (100.0, c40 - 4.0),
        (170.0, -c40 - 6.0),
    ] {
        assert_close(target_logit(&h, deg), 15.0 * want, 2e-3, &format!("{deg}"));
    }
    let out = h.forward(rows(&[&at_angle(60.0)], false), targets(&[0]));
    let train = values(out.train_logits);
    assert_close(train[1], 15.0 * 0.75f64.sqrt(), 1e-4, "non-target");
    assert_close(values(out.logits)[0], 7.5, 1e-4, "margin-free s cos 60");
}

#[test]
fn matches_reference_and_falls_monotonically() {
    for m in [2.0, 3.0, 4.0] {
        let h = head(&[&[1.0, 0.0], &[0.0, 1.0]], m);
        let mut last = f32::INFINITY;
        for step in 0..=72 {
            let deg = step as f64 * 2.5;
            let got = target_logit(&h, deg);
            let want = 15.0 * psi(deg.to_radians(), m);
            assert_close(got, want, 5e-3, &format!("m {m}, {deg} degrees"));
            assert!(got <= last + 1e-4, "m {m}: rises at {deg} degrees");
            last = got;
        }
        assert_close(last, 15.0 * (1.0 - 2.0 * m), 5e-3, "psi(pi) = 1 - 2m");
    }
}

#[test]
fn margin_one_is_plain_cosine() {
    let h = head(&[&[1.0, 0.0], &[0.0, 1.0]], 1.0);
    for deg in [0.0, 45.0, 120.0, 180.0] {
        let want = 15.0 * f64::to_radians(deg).cos();
        assert_close(target_logit(&h, deg), want, 1e-3, &format!("{deg}"));
    }
}

#[test]
fn gradients_match_finite_differences() {
    let h = head(
        &[&[1.0, 0.2, -0.3], &[-0.4, 1.0, 0.1], &[0.2, -0.5, 1.0]],
        4.0,
    );
    // Embeddings of norm about 3, so that the finite-difference step is a small angle.
    let x = [2.7, 0.9, -0.6, 1.5, -2.1, 1.2, -2.7, -0.9, -3.3];
    check_gradients(|e, t| h.forward(e, t).train_logits, &x, 3, &[0, 1, 2]);
    let h = head(
        &[&[1.0, 0.2, -0.3], &[-0.4, 1.0, 0.1], &[0.2, -0.5, 1.0]],
        2.0,
    );
    check_gradients(|e, t| h.forward(e, t).train_logits, &x, 3, &[0, 1, 2]);
}

#[test]
fn no_nan_at_cos_plus_minus_one_and_on_zero_vectors() {
    let h = head(&[&[0.6, 0.8], &[0.0, 1.0]], 4.0);
    let x: &[&[f32]] = &[&[0.6, 0.8], &[-0.6, -0.8]];
    assert_finite_grads(|e, t| h.forward(e, t).train_logits, h.weight(), x, &[0, 0]);
    let h = head(&[&[0.0, 0.0], &[0.0, 1.0]], 4.0);
    let x: &[&[f32]] = &[&[0.0, 0.0], &[1.0, 0.0]];
    assert_finite_grads(|e, t| h.forward(e, t).train_logits, h.weight(), x, &[0, 1]);
}

#[test]
fn rejects_bad_hyper_parameters() {
    let base = CosineHeadConfig::sphereface(2, 10);
    for margin in [0.0, 0.5, 2.5, -4.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            base.clone()
                .with_margin(Margin::MultiplicativeAngle { m: margin })
                .init(&device()),
            Err(CoreError::OutOfRange { key: "margin", .. })
        ));
    }
    assert!(matches!(
        base.with_scale(-1.0).init(&device()),
        Err(CoreError::OutOfRange { key: "scale", .. })
    ));
    assert!(matches!(
        CosineHeadConfig::sphereface(0, 10).init(&device()),
        Err(CoreError::ZeroEmbedding)
    ));
}
