use burn::module::Param;
use burn::prelude::*;

use super::HeadOutput;
use super::common::{check_common, cosine, with_target_margin, xavier_columns};
use crate::CoreError;

/// CosFace / LMCL (Wang et al., CVPR 2018): additive cosine margin on normalised features and
/// weights.
///
/// Target logit `s * (cos(theta_y) - m)`, other logits `s * cos(theta_j)`. The margin is taken
/// in cosine space, so there is no `acos` and the target logit is monotonic in `theta_y` on the
/// whole of `[0, pi]` (unlike ArcFace's `cos(theta + m)`).
#[derive(Config, Debug)]
pub struct CosFaceConfig {
    /// Size of the embedding.
    pub embedding_dim: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// Scale `s` (the radius of the hypersphere the logits live on).
    #[config(default = 15.0)]
    pub scale: f64,
    /// Additive cosine margin `m` (the paper's best setting is 0.35).
    #[config(default = 0.35)]
    pub margin: f64,
}

/// CosFace head. Build it with [`CosFaceConfig::init`].
#[derive(Module, Debug)]
pub struct CosFace {
    /// Class weight vectors as columns, `[embedding_dim, classes]`.
    weight: Param<Tensor<2>>,
    scale: f64,
    margin: f64,
}

impl CosFaceConfig {
    /// Checks the hyper-parameters without building anything (the config check of the
    /// command line calls it before any data is read).
    pub fn validate(&self) -> Result<(), CoreError> {
        check_common(self.embedding_dim, self.num_classes, self.scale)?;
        // Cosines span [-1, 1]: with m >= 2 the target logit is below every other one whatever
        // the embedding, and the loss cannot be lowered by learning.
        if !(0.0..2.0).contains(&self.margin) {
            return Err(CoreError::OutOfRange {
                key: "margin",
                value: self.margin,
                expected: "a cosine margin in [0, 2)",
            });
        }
        Ok(())
    }

    /// Checks the hyper-parameters and builds the head, with Xavier-uniform weights as ArcFace.
    pub fn init(&self, device: &Device) -> Result<CosFace, CoreError> {
        self.validate()?;
        Ok(CosFace {
            weight: xavier_columns(self.embedding_dim, self.num_classes, device),
            scale: self.scale,
            margin: self.margin,
        })
    }
}

impl CosFace {
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
        let margin = self.margin;
        with_target_margin(self.cosine(embeddings), targets, self.scale, |cos_t| {
            cos_t - margin
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

    /// Class-centre vectors, `[classes, embedding_dim]`.
    pub fn centers(&self) -> Tensor<2> {
        self.weight.val().transpose()
    }

    /// The scale `s`.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The cosine margin `m`.
    pub fn margin(&self) -> f64 {
        self.margin
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    fn head(centres: &[&[f32]], margin: f64) -> CosFace {
        CosFace {
            weight: columns(centres),
            scale: 15.0,
            margin,
        }
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
        assert_finite_grads(|e, t| h.forward(e, t).train_logits, &h.weight, x, &[0, 0]);
        let h = head(&[&[0.0, 0.0], &[0.0, 1.0]], 0.35);
        let x: &[&[f32]] = &[&[0.0, 0.0], &[1.0, 0.0]];
        assert_finite_grads(|e, t| h.forward(e, t).train_logits, &h.weight, x, &[0, 1]);
    }

    #[test]
    fn rejects_bad_hyper_parameters() {
        let base = CosFaceConfig::new(2, 10);
        for margin in [-0.1, 2.0, f64::NAN] {
            assert!(matches!(
                base.clone().with_margin(margin).init(&device()),
                Err(CoreError::OutOfRange { key: "margin", .. })
            ));
        }
        assert!(matches!(
            base.with_scale(0.0).init(&device()),
            Err(CoreError::OutOfRange { key: "scale", .. })
        ));
        assert!(matches!(
            CosFaceConfig::new(2, 1).init(&device()),
            Err(CoreError::TooFewClasses(1))
        ));
    }
}
