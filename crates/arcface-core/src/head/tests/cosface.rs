use crate::CoreError;
use crate::head::test_util::*;
use crate::head::{CosineHead, CosineHeadConfig, Margin};

fn head(centres: &[&[f32]], margin: f64) -> CosineHead {
    CosineHead::from_weight(
        columns(centres),
        1,
        15.0,
        Margin::AdditiveCosine { m: margin },
    )
}

#[test]
fn target_logit_is_shifted_cosine() {
    // Embedding at 60 degrees from class 0 and 30 degrees from class 1.
    let h = head(&[&[1.0, 0.0], &[0.0, 1.0]], 0.35);
    let out = h.forward(
        rows(&[&at_angle(60.0), &at_angle(60.0)], false),
        targets(&[0, 1]),
    );
    let train = values(out.train_logits);
    let (c60, c30) = (0.5, 0.75f64.sqrt());
    assert_close(train[0], 15.0 * (c60 - 0.35), 1e-4, "target 0");
    assert_close(train[1], 15.0 * c30, 1e-4, "non-target 1");
    assert_close(train[2], 15.0 * c60, 1e-4, "non-target 0");
    assert_close(train[3], 15.0 * (c30 - 0.35), 1e-4, "target 1");
    let plain = values(out.logits);
    assert_close(plain[0], 15.0 * c60, 1e-4, "margin-free");
    assert_close(plain[3], 15.0 * c30, 1e-4, "margin-free");
}

#[test]
fn monotonic_up_to_and_at_pi() {
    // No acos: the exact value s (cos theta - m) holds at 180 degrees too.
    let h = head(&[&[1.0, 0.0], &[0.0, 1.0]], 0.35);
    let mut last = f32::INFINITY;
    for deg in (0..=180).step_by(15) {
        let out = h.forward(rows(&[&at_angle(deg as f64)], false), targets(&[0]));
        let got = values(out.train_logits)[0];
        let want = 15.0 * ((deg as f64).to_radians().cos() - 0.35);
        assert_close(got, want, 1e-4, &format!("{deg} degrees"));
        assert!(got < last, "falls with theta");
        last = got;
    }
}

#[test]
fn gradients_match_finite_differences() {
    let h = head(
        &[&[1.0, 0.2, -0.3], &[-0.4, 1.0, 0.1], &[0.2, -0.5, 1.0]],
        0.35,
    );
    let x = [0.9, 0.3, -0.2, 0.5, -0.7, 0.4, -0.9, -0.3, -1.1];
    check_gradients(|e, t| h.forward(e, t).train_logits, &x, 3, &[0, 1, 2]);
}

#[test]
fn no_nan_at_cos_plus_minus_one_and_on_zero_vectors() {
    let h = head(&[&[0.6, 0.8], &[0.0, 1.0]], 0.35);
    let x: &[&[f32]] = &[&[0.6, 0.8], &[-0.6, -0.8]];
    assert_finite_grads(|e, t| h.forward(e, t).train_logits, h.weight(), x, &[0, 0]);
    let h = head(&[&[0.0, 0.0], &[0.0, 1.0]], 0.35);
    let x: &[&[f32]] = &[&[0.0, 0.0], &[1.0, 0.0]];
    assert_finite_grads(|e, t| h.forward(e, t).train_logits, h.weight(), x, &[0, 1]);
}

#[test]
fn rejects_bad_hyper_parameters() {
    let base = CosineHeadConfig::cosface(2, 10);
    for margin in [-0.1, 2.0, f64::NAN] {
        assert!(matches!(
            base.clone()
                .with_margin(Margin::AdditiveCosine { m: margin })
                .init(&device()),
            Err(CoreError::OutOfRange { key: "margin", .. })
        ));
    }
    assert!(matches!(
        base.with_scale(0.0).init(&device()),
        Err(CoreError::OutOfRange { key: "scale", .. })
    ));
    assert!(matches!(
        CosineHeadConfig::cosface(2, 1).init(&device()),
        Err(CoreError::TooFewClasses(1))
    ));
}
