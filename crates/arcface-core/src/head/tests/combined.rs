use std::f64::consts::PI;

use burn::module::Param;
use burn::prelude::*;

use crate::CoreError;
use crate::head::test_util::*;
use crate::head::{CosineHead, CosineHeadConfig, Margin};

fn head(centres: &[&[f32]], m1: f64, m2: f64, m3: f64) -> CosineHead {
    CosineHead::from_weight(columns(centres), 1, 15.0, Margin::Combined { m1, m2, m3 })
}

#[test]
fn hand_value_by_angle_addition() {
    let h = head(&[&[1.0, 0.0], &[0.0, 1.0]], 2.0, 0.3, 0.2);
    let out = h.forward(rows(&[&at_angle(60.0)], false), targets(&[0]));
    let train = values(out.train_logits);
    // cos(2 * 60deg + 0.3) = cos120 cos0.3 - sin120 sin0.3.
    let want = -0.5 * 0.3f64.cos() - 0.75f64.sqrt() * 0.3f64.sin() - 0.2;
    assert_close(train[0], 15.0 * want, 1e-4, "target");
    assert_close(train[1], 15.0 * 0.75f64.sqrt(), 1e-4, "non-target");
    assert_close(values(out.logits)[0], 7.5, 1e-4, "margin-free");
}

/// Train logits of `combined` (given the other head's centres) and `other`, on embeddings
/// all round the circle.
fn assert_same(
    (m1, m2, m3): (f64, f64, f64),
    centres: Tensor<2>,
    other: impl Fn(Tensor<2>, Tensor<1, Int>) -> Tensor<2>,
) {
    let combined = CosineHead::from_weight(
        Param::from_tensor(centres.transpose().detach()),
        1,
        15.0,
        Margin::Combined { m1, m2, m3 },
    );
    let angles: Vec<[f32; 2]> = (0..24).map(|i| at_angle(i as f64 * 15.0)).collect();
    let x: Vec<&[f32]> = angles.iter().map(|a| &a[..]).collect();
    let t: Vec<i64> = (0..24).map(|i| i % 3).collect();
    let got = values(combined.forward(rows(&x, false), targets(&t)).train_logits);
    let want = values(other(rows(&x, false), targets(&t)));
    for (g, w) in got.iter().zip(&want) {
        assert_close(*g, *w as f64, 1e-4, "special case");
    }
}

#[test]
fn special_cases_are_arcface_and_cosface() {
    // Random (Xavier) centres from the other heads, shared with the combined head.
    let arc = CosineHeadConfig::arcface(2, 3)
        .with_margin(Margin::arcface(0.5))
        .init(&device())
        .unwrap();
    assert_same((1.0, 0.5, 0.0), arc.centers(), |e, t| {
        arc.forward(e, t).train_logits
    });
    let cos = CosineHeadConfig::cosface(2, 3)
        .with_margin(Margin::AdditiveCosine { m: 0.35 })
        .init(&device())
        .unwrap();
    assert_same((1.0, 0.0, 0.35), cos.centers(), |e, t| {
        cos.forward(e, t).train_logits
    });
}

#[test]
fn gradients_match_finite_differences() {
    let centres: &[&[f32]] = &[&[1.0, 0.2, -0.3], &[-0.4, 1.0, 0.1], &[0.2, -0.5, 1.0]];
    let x = [0.9, 0.3, -0.2, 0.5, -0.7, 0.4, -0.9, -0.3, -1.1];
    for (m1, m2, m3) in [(1.0, 0.3, 0.2), (1.5, 0.1, 0.1)] {
        let h = head(centres, m1, m2, m3);
        check_gradients(|e, t| h.forward(e, t).train_logits, &x, 3, &[0, 1, 2]);
    }
}

#[test]
fn no_nan_at_cos_plus_minus_one_and_on_zero_vectors() {
    let h = head(&[&[0.6, 0.8], &[0.0, 1.0]], 1.5, 0.3, 0.2);
    let x: &[&[f32]] = &[&[0.6, 0.8], &[-0.6, -0.8]];
    assert_finite_grads(|e, t| h.forward(e, t).train_logits, h.weight(), x, &[0, 0]);
    let h = head(&[&[0.0, 0.0], &[0.0, 1.0]], 1.5, 0.3, 0.2);
    let x: &[&[f32]] = &[&[0.0, 0.0], &[1.0, 0.0]];
    assert_finite_grads(|e, t| h.forward(e, t).train_logits, h.weight(), x, &[0, 1]);
}

#[test]
fn rejects_bad_hyper_parameters() {
    let base = CosineHeadConfig::combined(2, 10);
    // The defaults m1 = 1, m2 = 0.3, m3 = 0.2 with one of them replaced.
    let with = |m1, m2, m3| base.clone().with_margin(Margin::Combined { m1, m2, m3 });
    let bad = [
        ("m1", with(0.0, 0.3, 0.2)),
        ("m1", with(f64::INFINITY, 0.3, 0.2)),
        ("m2", with(1.0, -0.1, 0.2)),
        ("m2", with(1.0, PI, 0.2)),
        ("m3", with(1.0, 0.3, -0.1)),
        ("m3", with(1.0, 0.3, f64::NAN)),
        ("scale", base.clone().with_scale(0.0)),
    ];
    for (want, config) in bad {
        match config.init(&device()) {
            Err(CoreError::OutOfRange { key, .. }) => assert_eq!(key, want),
            other => panic!("{want}: {other:?}"),
        }
    }
    assert!(base.init(&device()).is_ok());
}
