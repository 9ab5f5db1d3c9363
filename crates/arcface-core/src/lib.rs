//! Model and losses of arcface-lab.
//!
//! - [`Backbone`]: the seed's small VGG ([`Vgg8`]), generalised to any input channels and size,
//!   or ResNet-18 ([`ResNet`]) or insightface's iResNet-18 ([`IResNet`]), each ending in a
//!   low-dimensional embedding (2-D, 3-D or N-D); [`BackboneConfig`] picks one.
//! - Heads: [`SoftmaxHead`] (the plain linear baseline) and [`CosineHead`], normalised features
//!   and weights with a [`Margin`]: none (NormFace), additive cosine (CosFace), additive angle
//!   (ArcFace), multiplicative angle (SphereFace) or insightface's combined `m1, m2, m3`, and
//!   `K` sub-centres per class (sub-center ArcFace); the papers' names are constructors of
//!   [`CosineHeadConfig`]. [`HeadConfig`] picks one; each yields the logits the loss is taken on,
//!   the margin-free logits used for accuracy, and the class-centre vectors drawn by the viewer.
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
pub use backbone::{
    Backbone, BackboneConfig, BasicBlock, Downsample, IBasicBlock, IResNet, RESNET_LEAST_SIDE,
    ResNet, ResNetConfig, ResNetKind, VGG8_LEAST_SIDE, Vgg8, Vgg8Config, VggBlock,
};
pub use error::CoreError;
pub use fastconv::set_kernel_options;
pub use head::{
    CosineHead, CosineHeadConfig, Head, HeadConfig, HeadOutput, Margin, SoftmaxHead,
    SoftmaxHeadConfig, ThetaOverflow,
};
pub use kernels::KernelOptions;
pub use loss::cross_entropy;
pub use net::{EmbeddingNet, EmbeddingNetConfig, Forward, LabelledBatch};
pub use normalize::l2_normalize;
