mod arcface;
mod combined;
mod common;
mod cosface;
mod normface;
mod softmax;
mod sphereface;
mod subcenter;
#[cfg(test)]
mod test_util;

use burn::prelude::*;

pub use arcface::{ArcFace, ArcFaceConfig, ThetaOverflow};
pub use combined::{CombinedMargin, CombinedMarginConfig};
pub use cosface::{CosFace, CosFaceConfig};
pub use normface::{NormFace, NormFaceConfig};
pub use softmax::{SoftmaxHead, SoftmaxHeadConfig};
pub use sphereface::{SphereFace, SphereFaceConfig};
pub use subcenter::{SubCenterArcFace, SubCenterArcFaceConfig};

use crate::CoreError;

/// What a head gives for one batch of embeddings.
#[derive(Debug, Clone)]
pub struct HeadOutput {
    /// Logits the loss is taken on (with the margin applied to the target class, for margin heads).
    ///
    /// Shape `[batch, classes]`.
    pub train_logits: Tensor<2>,
    /// Logits without any margin, used for accuracy and prediction.
    ///
    /// Shape `[batch, classes]`.
    pub logits: Tensor<2>,
}

/// Which classification head sits on the embedding.
#[derive(Config, Debug)]
pub enum HeadConfig {
    /// The plain linear classifier (the seed's softmax baseline).
    Softmax(SoftmaxHeadConfig),
    /// Additive angular margin (ArcFace).
    ArcFace(ArcFaceConfig),
    /// Normalised softmax without margin (NormFace).
    NormFace(NormFaceConfig),
    /// Additive cosine margin (CosFace).
    CosFace(CosFaceConfig),
    /// Multiplicative angular margin (SphereFace, on normalised features).
    SphereFace(SphereFaceConfig),
    /// insightface's combined margin `cos(m1 theta + m2) - m3`.
    CombinedMargin(CombinedMarginConfig),
    /// ArcFace with several sub-centres per class.
    SubCenterArcFace(SubCenterArcFaceConfig),
}

/// A classification head over embeddings.
#[derive(Module, Debug)]
pub enum Head {
    /// See [`SoftmaxHead`].
    Softmax(SoftmaxHead),
    /// See [`ArcFace`].
    ArcFace(ArcFace),
    /// See [`NormFace`].
    NormFace(NormFace),
    /// See [`CosFace`].
    CosFace(CosFace),
    /// See [`SphereFace`].
    SphereFace(SphereFace),
    /// See [`CombinedMargin`].
    CombinedMargin(CombinedMargin),
    /// See [`SubCenterArcFace`].
    SubCenterArcFace(SubCenterArcFace),
}

impl HeadConfig {
    /// Checks the hyper-parameters without building anything.
    pub fn validate(&self) -> Result<(), CoreError> {
        match self {
            HeadConfig::Softmax(config) => config.validate(),
            HeadConfig::ArcFace(config) => config.validate(),
            HeadConfig::NormFace(config) => config.validate(),
            HeadConfig::CosFace(config) => config.validate(),
            HeadConfig::SphereFace(config) => config.validate(),
            HeadConfig::CombinedMargin(config) => config.validate(),
            HeadConfig::SubCenterArcFace(config) => config.validate(),
        }
    }

    /// Checks the hyper-parameters and builds the head on `device`.
    pub fn init(&self, device: &Device) -> Result<Head, CoreError> {
        Ok(match self {
            HeadConfig::Softmax(config) => Head::Softmax(config.init(device)?),
            HeadConfig::ArcFace(config) => Head::ArcFace(config.init(device)?),
            HeadConfig::NormFace(config) => Head::NormFace(config.init(device)?),
            HeadConfig::CosFace(config) => Head::CosFace(config.init(device)?),
            HeadConfig::SphereFace(config) => Head::SphereFace(config.init(device)?),
            HeadConfig::CombinedMargin(config) => Head::CombinedMargin(config.init(device)?),
            HeadConfig::SubCenterArcFace(config) => Head::SubCenterArcFace(config.init(device)?),
        })
    }
}

impl Head {
    /// Logits for `embeddings`; `targets` (class indices) place the margin.
    ///
    /// # Shapes
    /// - embeddings: `[batch, embedding_dim]`
    /// - targets: `[batch]`
    pub fn forward(&self, embeddings: Tensor<2>, targets: Tensor<1, Int>) -> HeadOutput {
        match self {
            Head::Softmax(head) => head.forward(embeddings),
            Head::ArcFace(head) => head.forward(embeddings, targets),
            Head::NormFace(head) => head.forward(embeddings),
            Head::CosFace(head) => head.forward(embeddings, targets),
            Head::SphereFace(head) => head.forward(embeddings, targets),
            Head::CombinedMargin(head) => head.forward(embeddings, targets),
            Head::SubCenterArcFace(head) => head.forward(embeddings, targets),
        }
    }

    /// Margin-free logits, for prediction when no label is known.
    ///
    /// # Shapes
    /// - embeddings: `[batch, embedding_dim]`
    /// - output: `[batch, classes]`
    pub fn logits(&self, embeddings: Tensor<2>) -> Tensor<2> {
        match self {
            Head::Softmax(head) => head.forward(embeddings).logits,
            Head::ArcFace(head) => head.logits(embeddings),
            Head::NormFace(head) => head.logits(embeddings),
            Head::CosFace(head) => head.logits(embeddings),
            Head::SphereFace(head) => head.logits(embeddings),
            Head::CombinedMargin(head) => head.logits(embeddings),
            Head::SubCenterArcFace(head) => head.logits(embeddings),
        }
    }

    /// The class-centre vectors (one row per class), as the head stores them: not normalised
    /// (except for [`SubCenterArcFace`], whose row is the mean of the class's normalised
    /// sub-centres; see [`SubCenterArcFace::centers`]).
    ///
    /// # Shapes
    /// - output: `[classes, embedding_dim]`
    pub fn centers(&self) -> Tensor<2> {
        match self {
            Head::Softmax(head) => head.centers(),
            Head::ArcFace(head) => head.centers(),
            Head::NormFace(head) => head.centers(),
            Head::CosFace(head) => head.centers(),
            Head::SphereFace(head) => head.centers(),
            Head::CombinedMargin(head) => head.centers(),
            Head::SubCenterArcFace(head) => head.centers(),
        }
    }

    /// Number of classes the head separates.
    pub fn num_classes(&self) -> usize {
        self.centers().dims()[0]
    }
}

pub(crate) fn check_classes(num_classes: usize) -> Result<(), CoreError> {
    if num_classes < 2 {
        return Err(CoreError::TooFewClasses(num_classes));
    }
    Ok(())
}
