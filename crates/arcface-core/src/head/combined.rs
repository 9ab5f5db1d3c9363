use std::f64::consts::PI;

use burn::module::Param;
use burn::prelude::*;

use super::HeadOutput;
use super::common::{angle, check_common, cosine, with_target_margin, xavier_columns};
use crate::CoreError;

/// insightface's combined margin: target logit `s * (cos(m1 theta_y + m2) - m3)`, other logits
/// `s * cos(theta_j)`.
///
/// It contains the others as special cases: `m1 = 1, m3 = 0` is ArcFace (with
/// [`super::ThetaOverflow::Exact`] and no easy margin), `m1 = 1, m2 = 0` is CosFace, and
/// `m2 = m3 = 0` is a multiplicative margin without SphereFace's monotone extension. Like the
/// exact ArcFace formula, the target logit is not monotonic where `m1 theta + m2` passes `pi`.
#[derive(Config, Debug)]
pub struct CombinedMarginConfig {
    /// Size of the embedding.
    pub embedding_dim: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// Scale `s` (the radius of the hypersphere the logits live on).
    #[config(default = 15.0)]
    pub scale: f64,
    /// Multiplicative angular margin `m1` (1 for none).
    #[config(default = 1.0)]
    pub m1: f64,
    /// Additive angular margin `m2`, radians (0 for none).
    #[config(default = 0.3)]
    pub m2: f64,
    /// Additive cosine margin `m3` (0 for none).
    #[config(default = 0.2)]
    pub m3: f64,
}

/// Combined-margin head. Build it with [`CombinedMarginConfig::init`].
#[derive(Module, Debug)]
pub struct CombinedMargin {
    /// Class weight vectors as columns, `[embedding_dim, classes]`.
    weight: Param<Tensor<2>>,
    scale: f64,
    m1: f64,
    m2: f64,
    m3: f64,
}

impl CombinedMarginConfig {
    /// Checks the hyper-parameters without building anything (the config check of the
    /// command line calls it before any data is read).
    pub fn validate(&self) -> Result<(), CoreError> {
        check_common(self.embedding_dim, self.num_classes, self.scale)?;
        let checks = [
            (
                "m1",
                self.m1,
                self.m1.is_finite() && self.m1 > 0.0,
                "a finite number > 0",
            ),
            (
                "m2",
                self.m2,
                (0.0..PI).contains(&self.m2),
                "an angle in radians in [0, pi)",
            ),
            (
                "m3",
                self.m3,
                (0.0..2.0).contains(&self.m3),
                "a cosine margin in [0, 2)",
            ),
        ];
        for (key, value, ok, expected) in checks {
            if !ok {
                return Err(CoreError::OutOfRange {
                    key,
                    value,
                    expected,
                });
            }
        }
        Ok(())
    }

    /// Checks the hyper-parameters and builds the head, with Xavier-uniform weights as ArcFace.
    pub fn init(&self, device: &Device) -> Result<CombinedMargin, CoreError> {
        self.validate()?;
        Ok(CombinedMargin {
            weight: xavier_columns(self.embedding_dim, self.num_classes, device),
            scale: self.scale,
            m1: self.m1,
            m2: self.m2,
            m3: self.m3,
        })
    }
}

impl CombinedMargin {
    /// Cosine of the angle between each embedding and each class weight.
    ///
    /// # Shapes
    /// - embeddings: `[batch, embedding_dim]`
    /// - output: `[batch, classes]`
    pub fn cosine(&self, embeddings: Tensor<2>) -> Tensor<2> {
        cosine(self.weight.val(), embeddings)
    }

    /// Training logits (margin on the target class) and margin-free logits.
    ///
    /// # Shapes
    /// - embeddings: `[batch, embedding_dim]`
    /// - targets: `[batch]`
    pub fn forward(&self, embeddings: Tensor<2>, targets: Tensor<1, Int>) -> HeadOutput {
        with_target_margin(self.cosine(embeddings), targets, self.scale, |cos_t| {
            self.target_cosine(cos_t)
        })
    }

    /// Margin-free logits `s * cos(theta)`.
    ///
    /// # Shapes
    /// - embeddings: `[batch, embedding_dim]`
    /// - output: `[batch, classes]`
    pub fn logits(&self, embeddings: Tensor<2>) -> Tensor<2> {
        self.cosine(embeddings) * self.scale
    }

    /// `cos(m1 theta + m2) - m3` for the target cosines (`cos` clamped before `acos`, as in
    /// ArcFace).
    ///
    /// # Shapes
    /// - cos_t: `[batch, 1]`
    pub fn target_cosine(&self, cos_t: Tensor<2>) -> Tensor<2> {
        (angle(cos_t) * self.m1 + self.m2).cos() - self.m3
    }

    /// Class-centre vectors, `[classes, embedding_dim]`.
    pub fn centers(&self) -> Tensor<2> {
        self.weight.val().transpose()
    }

    /// The scale `s`.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The margins `(m1, m2, m3)`.
    pub fn margins(&self) -> (f64, f64, f64) {
        (self.m1, self.m2, self.m3)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::{ArcFaceConfig, CosFaceConfig};

    fn head(centres: &[&[f32]], m1: f64, m2: f64, m3: f64) -> CombinedMargin {
        CombinedMargin {
            weight: columns(centres),
            scale: 15.0,
            m1,
            m2,
            m3,
        }
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
        let combined = CombinedMargin {
            weight: Param::from_tensor(centres.transpose().detach()),
            scale: 15.0,
            m1,
            m2,
            m3,
        };
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
        let arc = ArcFaceConfig::new(2, 3)
            .with_margin(0.5)
            .init(&device())
            .unwrap();
        assert_same((1.0, 0.5, 0.0), arc.centers(), |e, t| {
            arc.forward(e, t).train_logits
        });
        let cos = CosFaceConfig::new(2, 3)
            .with_margin(0.35)
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
        assert_finite_grads(|e, t| h.forward(e, t).train_logits, &h.weight, x, &[0, 0]);
        let h = head(&[&[0.0, 0.0], &[0.0, 1.0]], 1.5, 0.3, 0.2);
        let x: &[&[f32]] = &[&[0.0, 0.0], &[1.0, 0.0]];
        assert_finite_grads(|e, t| h.forward(e, t).train_logits, &h.weight, x, &[0, 1]);
    }

    #[test]
    fn rejects_bad_hyper_parameters() {
        let base = CombinedMarginConfig::new(2, 10);
        let bad = [
            ("m1", base.clone().with_m1(0.0)),
            ("m1", base.clone().with_m1(f64::INFINITY)),
            ("m2", base.clone().with_m2(-0.1)),
            ("m2", base.clone().with_m2(PI)),
            ("m3", base.clone().with_m3(-0.1)),
            ("m3", base.clone().with_m3(f64::NAN)),
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
}
