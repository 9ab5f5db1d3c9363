use std::f64::consts::PI;

use burn::module::Param;
use burn::prelude::*;

use super::HeadOutput;
use super::common::{angle, check_common, cosine, with_target_margin, xavier_columns};
use crate::CoreError;

/// SphereFace (Liu et al., CVPR 2017): multiplicative angular margin, `theta_y -> m theta_y`.
///
/// Target logit `s * psi(theta_y)`, other logits `s * cos(theta_j)`, with the paper's monotone
/// extension of `cos(m theta)`:
///
/// `psi(theta) = (-1)^k cos(m theta) - 2k` for `theta` in `[k pi / m, (k + 1) pi / m]`,
/// `k = floor(m theta / pi)`,
///
/// which falls from 1 at `theta = 0` to `1 - 2m` at `theta = pi`, continuously and with a
/// continuous derivative (both pieces have slope 0 at the joins).
///
/// Unlike the paper (which keeps the feature norm `|x|` in the logits and only normalises the
/// weights, "A-Softmax"), features are normalised here too and rescaled by a fixed `s`, as in
/// insightface's combined-margin code and SphereFace2; the paper's `lambda` annealing (which
/// blends in the plain `cos theta` early in training) is not implemented.
#[derive(Config, Debug)]
pub struct SphereFaceConfig {
    /// Size of the embedding.
    pub embedding_dim: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// Scale `s` (the radius of the hypersphere the logits live on).
    #[config(default = 15.0)]
    pub scale: f64,
    /// Multiplicative angular margin `m`, a whole number >= 1 (the paper uses 4; 1 is no margin).
    #[config(default = 4.0)]
    pub margin: f64,
}

/// SphereFace head. Build it with [`SphereFaceConfig::init`].
#[derive(Module, Debug)]
pub struct SphereFace {
    /// Class weight vectors as columns, `[embedding_dim, classes]`.
    weight: Param<Tensor<2>>,
    scale: f64,
    margin: f64,
}

impl SphereFaceConfig {
    /// Checks the hyper-parameters without building anything (the config check of the
    /// command line calls it before any data is read).
    pub fn validate(&self) -> Result<(), CoreError> {
        check_common(self.embedding_dim, self.num_classes, self.scale)?;
        // psi is only continuous for whole m: with a fractional m the last piece ends at
        // theta = pi below its own k range and the extension would jump.
        if !(self.margin.is_finite() && self.margin >= 1.0 && self.margin.fract() == 0.0) {
            return Err(CoreError::OutOfRange {
                key: "margin",
                value: self.margin,
                expected: "a whole number >= 1",
            });
        }
        Ok(())
    }

    /// Checks the hyper-parameters and builds the head, with Xavier-uniform weights as ArcFace.
    pub fn init(&self, device: &Device) -> Result<SphereFace, CoreError> {
        self.validate()?;
        Ok(SphereFace {
            weight: xavier_columns(self.embedding_dim, self.num_classes, device),
            scale: self.scale,
            margin: self.margin,
        })
    }
}

impl SphereFace {
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

    /// `psi(theta)` for the target cosines (`cos` clamped before `acos`, as in ArcFace).
    ///
    /// # Shapes
    /// - cos_t: `[batch, 1]`
    pub fn target_cosine(&self, cos_t: Tensor<2>) -> Tensor<2> {
        let m = self.margin;
        let theta = angle(cos_t);
        // k is piecewise constant in theta (zero derivative), so it is taken off the graph; the
        // clamp guards the float rounding of m theta / pi at theta near pi.
        let k = (theta.clone().detach() * (m / PI))
            .floor()
            .clamp(0.0, m - 1.0);
        // (-1)^k = 1 - 2 (k mod 2), k being a whole number >= 0.
        let sign = k.clone().remainder_scalar(2.0) * -2.0 + 1.0;
        sign * (theta * m).cos() - k * 2.0
    }

    /// Class-centre vectors, `[classes, embedding_dim]`.
    pub fn centers(&self) -> Tensor<2> {
        self.weight.val().transpose()
    }

    /// The scale `s`.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The multiplicative margin `m`.
    pub fn margin(&self) -> f64 {
        self.margin
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    fn head(centres: &[&[f32]], margin: f64) -> SphereFace {
        SphereFace {
            weight: columns(centres),
            scale: 15.0,
            margin,
        }
    }

    /// Independent f64 reference: the paper's piecewise formula, the piece found by search.
    fn psi(theta: f64, m: f64) -> f64 {
        let k = (0..m as usize)
            .find(|&k| theta <= (k + 1) as f64 * PI / m)
            .unwrap_or(m as usize - 1) as f64;
        (-1f64).powi(k as i32) * (m * theta).cos() - 2.0 * k
    }

    fn target_logit(h: &SphereFace, deg: f64) -> f32 {
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
        assert_finite_grads(|e, t| h.forward(e, t).train_logits, &h.weight, x, &[0, 0]);
        let h = head(&[&[0.0, 0.0], &[0.0, 1.0]], 4.0);
        let x: &[&[f32]] = &[&[0.0, 0.0], &[1.0, 0.0]];
        assert_finite_grads(|e, t| h.forward(e, t).train_logits, &h.weight, x, &[0, 1]);
    }

    #[test]
    fn rejects_bad_hyper_parameters() {
        let base = SphereFaceConfig::new(2, 10);
        for margin in [0.0, 0.5, 2.5, -4.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                base.clone().with_margin(margin).init(&device()),
                Err(CoreError::OutOfRange { key: "margin", .. })
            ));
        }
        assert!(matches!(
            base.with_scale(-1.0).init(&device()),
            Err(CoreError::OutOfRange { key: "scale", .. })
        ));
        assert!(matches!(
            SphereFaceConfig::new(0, 10).init(&device()),
            Err(CoreError::ZeroEmbedding)
        ));
    }
}
