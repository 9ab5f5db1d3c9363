//! Model and losses of arcface-lab.
//!
//! - [`Vgg8`]: the seed's small VGG backbone, generalised to any input channels and size, ending in
//!   a low-dimensional embedding (2-D, 3-D or N-D).
//! - Heads: [`SoftmaxHead`] (the plain linear baseline), [`NormFace`] (normalised softmax),
//!   [`CosFace`] (additive cosine margin), [`ArcFace`] (additive angular margin), [`SphereFace`]
//!   (multiplicative angular margin), [`CombinedMargin`] (insightface's `m1, m2, m3`) and
//!   [`SubCenterArcFace`] (ArcFace with `K` centres per class), selected through [`HeadConfig`]; each yields the logits the loss is taken on, the margin-free
//!   logits used for accuracy, and the class-centre vectors drawn by the viewer.
//! - [`EmbeddingNet`]: backbone + head, with burn-train's `TrainStep`/`InferenceStep` so that a
//!   `Learner` can drive it.
//!
//! - [`HeadConfig::advice`]: whether a head's scale and margin can work for its class count and
//!   embedding size, with the bounds from the papers.
//!
//! Library code takes `&Device` and names no backend: the binary decides what is compiled in.
//! On flex, the backbone runs the own CPU kernels of crate `kernels` where [`KernelOptions`]
//! allow them (see [`set_kernel_options`]); all `unsafe` code is in that crate.

#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))] // a failed unwrap is a failed test

mod advice;
mod backbone;
mod error;
mod fastconv;
mod head;
mod loss;
mod net;
mod normalize;

pub use advice::{
    Advice, TARGET_POSTERIOR, WARN_BELOW_POSTERIOR, best_center_angle, centre_posterior,
    cosface_scale_bound, min_scale,
};
pub use backbone::{Vgg8, Vgg8Config, VggBlock};
pub use error::CoreError;
pub use fastconv::set_kernel_options;
pub use head::{
    ArcFace, ArcFaceConfig, CombinedMargin, CombinedMarginConfig, CosFace, CosFaceConfig, Head,
    HeadConfig, HeadOutput, NormFace, NormFaceConfig, SoftmaxHead, SoftmaxHeadConfig, SphereFace,
    SphereFaceConfig, SubCenterArcFace, SubCenterArcFaceConfig, ThetaOverflow,
};
pub use kernels::KernelOptions;
pub use loss::cross_entropy;
pub use net::{EmbeddingNet, EmbeddingNetConfig, Forward, LabelledBatch};
pub use normalize::l2_normalize;
