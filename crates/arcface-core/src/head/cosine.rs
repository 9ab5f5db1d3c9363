//! The cosine-margin head: NormFace, CosFace, ArcFace, SphereFace, the combined margin and
//! sub-center ArcFace are one module with a [`Margin`] and a count of sub-centres.

use burn::module::Param;
use burn::nn::Initializer;
use burn::prelude::*;

use super::margin::{Margin, in_range};
use super::output::HeadOutput;
use super::shape::check_shape;
use crate::{CoreError, l2_normalize};

/// A head on normalised features and weights: logit `s * cos(theta_j)` for each class, with the
/// [`Margin`] applied to the target's.
///
/// With `sub_centers = K > 1` (sub-center ArcFace, Deng et al., ECCV 2020) each class has `K`
/// weight vectors and its cosine is the largest over them, `cos(theta_j) = max_k
/// cos(theta_{j,k})`, so a noisy or multi-modal class can settle into several clusters (one
/// dominant, the others collecting outliers) instead of one centre pulled between them.
#[derive(Config, Debug)]
pub struct CosineHeadConfig {
    /// Size of the embedding.
    pub embedding_dim: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// Scale `s` (the radius of the hypersphere the logits live on).
    #[config(default = 15.0)]
    pub scale: f64,
    /// The margin on the target logit.
    #[config(default = "Margin::None")]
    pub margin: Margin,
    /// Weight vectors per class, `K` (1: one centre per class).
    #[config(default = 1)]
    pub sub_centers: usize,
}

impl CosineHeadConfig {
    /// NormFace: no margin.
    pub fn normface(embedding_dim: usize, num_classes: usize) -> Self {
        Self::new(embedding_dim, num_classes)
    }

    /// CosFace with the paper's best margin, 0.35.
    pub fn cosface(embedding_dim: usize, num_classes: usize) -> Self {
        Self::new(embedding_dim, num_classes).with_margin(Margin::AdditiveCosine { m: 0.35 })
    }

    /// ArcFace with the seed's margin, 0.5 rad.
    pub fn arcface(embedding_dim: usize, num_classes: usize) -> Self {
        Self::new(embedding_dim, num_classes).with_margin(Margin::arcface(0.5))
    }

    /// SphereFace with the paper's multiplier, 4.
    pub fn sphereface(embedding_dim: usize, num_classes: usize) -> Self {
        Self::new(embedding_dim, num_classes).with_margin(Margin::MultiplicativeAngle { m: 4.0 })
    }

    /// insightface's combined margin with `m1 = 1, m2 = 0.3, m3 = 0.2`.
    pub fn combined(embedding_dim: usize, num_classes: usize) -> Self {
        Self::new(embedding_dim, num_classes).with_margin(Margin::Combined {
            m1: 1.0,
            m2: 0.3,
            m3: 0.2,
        })
    }

    /// Sub-center ArcFace: ArcFace's margin with `sub_centers` centres per class (the paper
    /// uses 3).
    pub fn subcenter_arcface(embedding_dim: usize, num_classes: usize, sub_centers: usize) -> Self {
        Self::arcface(embedding_dim, num_classes).with_sub_centers(sub_centers)
    }

    /// Checks the hyper-parameters without building anything (the config check of the
    /// command line calls it before any data is read).
    pub fn validate(&self) -> Result<(), CoreError> {
        check_shape(self.embedding_dim, self.num_classes)?;
        let scale = self.scale;
        in_range(
            "scale",
            scale,
            scale.is_finite() && scale > 0.0,
            "a finite number > 0",
        )?;
        in_range(
            "sub_centers",
            self.sub_centers as f64,
            self.sub_centers >= 1,
            "a whole number >= 1",
        )?;
        self.margin.validate()
    }

    /// Checks the hyper-parameters and builds the head, with Xavier-uniform weights over all
    /// `classes * K` columns, as the seed's ArcFace.
    pub fn init(&self, device: &Device) -> Result<CosineHead, CoreError> {
        self.validate()?;
        let columns = self.num_classes * self.sub_centers;
        let weight = Initializer::XavierUniform { gain: 1.0 }.init_with(
            [self.embedding_dim, columns],
            Some(self.embedding_dim),
            Some(columns),
            device,
        );
        Ok(CosineHead {
            weight,
            sub_centers: self.sub_centers,
            scale: self.scale,
            margin: self.margin,
        })
    }
}

/// The cosine-margin head. Build it with [`CosineHeadConfig::init`].
#[derive(Module, Debug)]
pub struct CosineHead {
    /// Class weight vectors as columns, class-major: column `j * K + k` is sub-centre `k` of
    /// class `j`, `[embedding_dim, classes * K]`.
    weight: Param<Tensor<2>>,
    sub_centers: usize,
    scale: f64,
    #[module(skip)]
    margin: Margin,
}

impl CosineHead {
    /// A head with the given weight (`[embedding_dim, classes * K]`), for tests that need
    /// centres placed by hand.
    #[cfg(test)]
    pub(crate) fn from_weight(
        weight: Param<Tensor<2>>,
        sub_centers: usize,
        scale: f64,
        margin: Margin,
    ) -> Self {
        Self {
            weight,
            sub_centers,
            scale,
            margin,
        }
    }

    /// The stored weight, for tests of its gradient.
    #[cfg(test)]
    pub(crate) fn weight(&self) -> &Param<Tensor<2>> {
        &self.weight
    }

    /// Cosine of the angle between each embedding and each class: the largest over the class's
    /// sub-centres (both normalised, so a zero vector gives cosine 0 rather than NaN).
    ///
    /// With sub-centres the gradient goes to the closest one only, which is what lets the others
    /// drift towards outliers.
    ///
    /// # Shapes
    /// - embeddings: `[batch, embedding_dim]`
    /// - output: `[batch, classes]`
    pub fn cosine(&self, embeddings: Tensor<2>) -> Tensor<2> {
        let w = l2_normalize(self.weight.val().transpose()).transpose();
        let all = l2_normalize(embeddings).matmul(w);
        if self.sub_centers == 1 {
            return all;
        }
        let [batch, columns] = all.dims();
        let classes = columns / self.sub_centers;
        all.reshape([batch, classes, self.sub_centers])
            .max_dim(2)
            .reshape([batch, classes])
    }

    /// Training logits (margin on the target class) and margin-free logits.
    ///
    /// Only the target column goes through the margin: the other `classes - 1` columns are the
    /// scaled cosines, which keeps margins that need `acos`/`cos` cheap with many classes.
    ///
    /// # Shapes
    /// - embeddings: `[batch, embedding_dim]`
    /// - targets: `[batch]`
    pub fn forward(&self, embeddings: Tensor<2>, targets: Tensor<1, Int>) -> HeadOutput {
        let cos = self.cosine(embeddings);
        if self.margin == Margin::None {
            let logits = cos * self.scale;
            return HeadOutput {
                train_logits: logits.clone(),
                logits,
            };
        }
        let [_, classes] = cos.dims();
        let cos_t = cos.clone().gather(1, targets.clone().unsqueeze_dim(1));
        let delta = self.margin.target_cosine(cos_t.clone()) - cos_t;
        let one_hot: Tensor<2, Int> = targets.one_hot(classes);
        HeadOutput {
            train_logits: (cos.clone() + one_hot.float() * delta) * self.scale,
            logits: cos * self.scale,
        }
    }

    /// Margin-free logits `s * cos(theta)`.
    ///
    /// # Shapes
    /// - embeddings: `[batch, embedding_dim]`
    /// - output: `[batch, classes]`
    pub fn logits(&self, embeddings: Tensor<2>) -> Tensor<2> {
        self.cosine(embeddings) * self.scale
    }

    /// One vector per class: the stored weight with one centre per class; with sub-centres the
    /// mean of the class's *normalised* sub-centres.
    ///
    /// Which sub-centre dominates depends on the data, so no single one stands for the class;
    /// the mean of the unit vectors points between them and is longer the more they agree
    /// (length 1 when they coincide). See [`Self::sub_centers`] for the stored ones.
    ///
    /// # Shapes
    /// - output: `[classes, embedding_dim]`
    pub fn centers(&self) -> Tensor<2> {
        if self.sub_centers == 1 {
            return self.weight.val().transpose();
        }
        let [dim, columns] = self.weight.dims();
        let classes = columns / self.sub_centers;
        l2_normalize(self.weight.val().transpose())
            .reshape([classes, self.sub_centers, dim])
            .mean_dim(1)
            .reshape([classes, dim])
    }

    /// The sub-centre vectors as stored (not normalised).
    ///
    /// # Shapes
    /// - output: `[classes, sub_centers, embedding_dim]`
    pub fn sub_centers(&self) -> Tensor<3> {
        let [dim, columns] = self.weight.dims();
        self.weight
            .val()
            .transpose()
            .reshape([columns / self.sub_centers, self.sub_centers, dim])
    }

    /// The scale `s`.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The margin on the target logit.
    pub fn margin(&self) -> Margin {
        self.margin
    }

    /// The name earlier versions gave this head in checkpoints (one enum variant per paper);
    /// kept so that their checkpoints load and new ones read the same.
    pub(super) fn record_name(&self) -> &'static str {
        match self.margin {
            Margin::None => "NormFace",
            Margin::AdditiveCosine { .. } => "CosFace",
            Margin::AdditiveAngle { .. } if self.sub_centers > 1 => "SubCenterArcFace",
            Margin::AdditiveAngle { .. } => "ArcFace",
            Margin::MultiplicativeAngle { .. } => "SphereFace",
            Margin::Combined { .. } => "CombinedMargin",
        }
    }
}
