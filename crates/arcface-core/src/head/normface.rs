use burn::module::Param;
use burn::prelude::*;

use super::HeadOutput;
use super::common::{check_common, cosine, xavier_columns};
use crate::CoreError;

/// NormFace (Wang et al., ACM MM 2017): softmax on normalised features and weights, no margin.
///
/// Every logit is `s * cos(theta_j)`, where `theta_j` is the angle between the embedding and the
/// class-`j` weight vector. Normalising bounds the logits to `[-s, s]`, so the scale `s` is what
/// lets the softmax become confident at all.
#[derive(Config, Debug)]
pub struct NormFaceConfig {
    /// Size of the embedding.
    pub embedding_dim: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// Scale `s` (the radius of the hypersphere the logits live on).
    #[config(default = 15.0)]
    pub scale: f64,
}

/// NormFace head. Build it with [`NormFaceConfig::init`].
#[derive(Module, Debug)]
pub struct NormFace {
    /// Class weight vectors as columns, `[embedding_dim, classes]`.
    weight: Param<Tensor<2>>,
    scale: f64,
}

impl NormFaceConfig {
    /// Checks the hyper-parameters without building anything (the config check of the
    /// command line calls it before any data is read).
    pub fn validate(&self) -> Result<(), CoreError> {
        check_common(self.embedding_dim, self.num_classes, self.scale)?;
        Ok(())
    }

    /// Checks the hyper-parameters and builds the head, with Xavier-uniform weights as ArcFace.
    pub fn init(&self, device: &Device) -> Result<NormFace, CoreError> {
        self.validate()?;
        Ok(NormFace {
            weight: xavier_columns(self.embedding_dim, self.num_classes, device),
            scale: self.scale,
        })
    }
}

impl NormFace {
    /// Cosine of the angle between each embedding and each class weight.
    ///
    /// # Shapes
    /// - embeddings: `[batch, embedding_dim]`
    /// - output: `[batch, classes]`
    pub fn cosine(&self, embeddings: Tensor<2>) -> Tensor<2> {
        cosine(self.weight.val(), embeddings)
    }

    /// `s * cos(theta)`; there is no margin, so both logits are the same tensor (and, as for
    /// [`super::SoftmaxHead`], no targets are needed).
    ///
    /// # Shapes
    /// - embeddings: `[batch, embedding_dim]`
    pub fn forward(&self, embeddings: Tensor<2>) -> HeadOutput {
        let logits = self.logits(embeddings);
        HeadOutput {
            train_logits: logits.clone(),
            logits,
        }
    }

    /// Logits `s * cos(theta)`.
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
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    fn head(centres: &[&[f32]]) -> NormFace {
        NormFace {
            weight: columns(centres),
            scale: 15.0,
        }
    }

    #[test]
    fn logits_are_scaled_cosines() {
        let h = head(&[&[1.0, 0.0], &[0.0, 2.0], &[-3.0, 0.0]]);
        // Norms must not matter: (3, 4) is (0.6, 0.8) five times over.
        let out = h.forward(rows(&[&[3.0, 4.0]], false));
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
        check_gradients(|e, _| h.forward(e).train_logits, &x, 3, &[0, 1, 2]);
    }

    #[test]
    fn no_nan_at_cos_plus_minus_one_and_on_zero_vectors() {
        let h = head(&[&[0.6, 0.8], &[0.0, 1.0]]);
        let x: &[&[f32]] = &[&[0.6, 0.8], &[-0.6, -0.8]];
        assert_finite_grads(|e, _| h.forward(e).train_logits, &h.weight, x, &[0, 0]);
        let h = head(&[&[0.0, 0.0], &[0.0, 1.0]]);
        let x: &[&[f32]] = &[&[0.0, 0.0], &[1.0, 0.0]];
        assert_finite_grads(|e, _| h.forward(e).train_logits, &h.weight, x, &[0, 1]);
    }

    #[test]
    fn rejects_bad_hyper_parameters() {
        for scale in [0.0, -1.0, f64::INFINITY, f64::NAN] {
            assert!(matches!(
                NormFaceConfig::new(2, 10).with_scale(scale).init(&device()),
                Err(CoreError::OutOfRange { key: "scale", .. })
            ));
        }
        assert!(matches!(
            NormFaceConfig::new(0, 10).init(&device()),
            Err(CoreError::ZeroEmbedding)
        ));
        assert!(matches!(
            NormFaceConfig::new(2, 1).init(&device()),
            Err(CoreError::TooFewClasses(1))
        ));
    }
}
