use crate::CoreError;
use crate::head::test_util::*;
use crate::head::{CosineHead, CosineHeadConfig, Margin};

fn head(centres: &[&[f32]]) -> CosineHead {
    CosineHead::from_weight(columns(centres), 1, 15.0, Margin::None)
}

#[test]
fn logits_are_scaled_cosines() {
    let h = head(&[&[1.0, 0.0], &[0.0, 2.0], &[-3.0, 0.0]]);
    // Norms must not matter: (3, 4) is (0.6, 0.8) five times over.
    let out = h.forward(rows(&[&[3.0, 4.0]], false), targets(&[0]));
    let train = values(out.train_logits);
    for (got, want) in train.iter().zip([0.6, 0.8, -0.6]) {
        assert_close(*got, 15.0 * want, 1e-4, "s cos");
    }
    assert_eq!(train, values(out.logits), "no margin anywhere");
    assert_eq!(values(h.centers()), vec![1.0, 0.0, 0.0, 2.0, -3.0, 0.0]);
}

#[test]
fn gradients_match_finite_differences() {
    let h = head(&[&[1.0, 0.2, -0.3], &[-0.4, 1.0, 0.1], &[0.2, -0.5, 1.0]]);
    let x = [0.9, 0.3, -0.2, 0.5, -0.7, 0.4, -0.9, -0.3, -1.1];
    check_gradients(|e, t| h.forward(e, t).train_logits, &x, 3, &[0, 1, 2]);
}

#[test]
fn no_nan_at_cos_plus_minus_one_and_on_zero_vectors() {
    let h = head(&[&[0.6, 0.8], &[0.0, 1.0]]);
    let x: &[&[f32]] = &[&[0.6, 0.8], &[-0.6, -0.8]];
    assert_finite_grads(|e, t| h.forward(e, t).train_logits, h.weight(), x, &[0, 0]);
    let h = head(&[&[0.0, 0.0], &[0.0, 1.0]]);
    let x: &[&[f32]] = &[&[0.0, 0.0], &[1.0, 0.0]];
    assert_finite_grads(|e, t| h.forward(e, t).train_logits, h.weight(), x, &[0, 1]);
}

#[test]
fn rejects_bad_hyper_parameters() {
    for scale in [0.0, -1.0, f64::INFINITY, f64::NAN] {
        assert!(matches!(
            CosineHeadConfig::normface(2, 10)
                .with_scale(scale)
                .init(&device()),
            Err(CoreError::OutOfRange { key: "scale", .. })
        ));
    }
    assert!(matches!(
        CosineHeadConfig::normface(0, 10).init(&device()),
        Err(CoreError::ZeroEmbedding)
    ));
    assert!(matches!(
        CosineHeadConfig::normface(2, 1).init(&device()),
        Err(CoreError::TooFewClasses(1))
    ));
}
