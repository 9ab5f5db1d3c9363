//! Pieces shared by the cosine-based heads (everything but [`super::SoftmaxHead`]).

use burn::module::Param;
use burn::nn::Initializer;
use burn::prelude::*;

use super::arcface::CLAMP_EPS;
use super::{HeadOutput, check_classes};
use crate::{CoreError, l2_normalize};

/// Rejects an empty embedding, fewer than two classes and a scale that is not a finite `s > 0`.
pub(super) fn check_common(
    embedding_dim: usize,
    num_classes: usize,
    scale: f64,
) -> Result<(), CoreError> {
    if embedding_dim == 0 {
        return Err(CoreError::ZeroEmbedding);
    }
    check_classes(num_classes)?;
    if !(scale.is_finite() && scale > 0.0) {
        return Err(CoreError::OutOfRange {
            key: "scale",
            value: scale,
            expected: "a finite number > 0",
        });
    }
    Ok(())
}

/// Xavier-uniform weight with one column per class (or sub-centre), as ArcFace's.
///
/// # Shapes
/// - output: `[embedding_dim, columns]`
pub(super) fn xavier_columns(
    embedding_dim: usize,
    columns: usize,
    device: &Device,
) -> Param<Tensor<2>> {
    Initializer::XavierUniform { gain: 1.0 }.init_with(
        [embedding_dim, columns],
        Some(embedding_dim),
        Some(columns),
        device,
    )
}

/// Cosine between each embedding and each weight column (both normalised, so a zero vector gives
/// cosine 0 rather than NaN).
///
/// # Shapes
/// - weight: `[embedding_dim, columns]`
/// - embeddings: `[batch, embedding_dim]`
/// - output: `[batch, columns]`
pub(super) fn cosine(weight: Tensor<2>, embeddings: Tensor<2>) -> Tensor<2> {
    let w = l2_normalize(weight.transpose()).transpose();
    l2_normalize(embeddings).matmul(w)
}

/// `theta = acos(cos)`, with `cos` clamped to `±(1 - CLAMP_EPS)` first (see [`CLAMP_EPS`]): the
/// derivative of `acos` is infinite at ±1.
pub(super) fn angle(cos: Tensor<2>) -> Tensor<2> {
    cos.clamp(-1.0 + CLAMP_EPS, 1.0 - CLAMP_EPS).acos()
}

/// Replaces the target column of `cos` by `target(cos_target)` and scales both logits by `s`.
///
/// Only the target column goes through `target`, so margins that need `acos`/`cos` stay cheap
/// with many classes.
///
/// # Shapes
/// - cos: `[batch, classes]`
/// - targets: `[batch]`
/// - `target`'s argument and result: `[batch, 1]`
pub(super) fn with_target_margin(
    cos: Tensor<2>,
    targets: Tensor<1, Int>,
    scale: f64,
    target: impl FnOnce(Tensor<2>) -> Tensor<2>,
) -> HeadOutput {
    let [_, classes] = cos.dims();
    let cos_t = cos.clone().gather(1, targets.clone().unsqueeze_dim(1));
    let delta = target(cos_t.clone()) - cos_t;
    let one_hot: Tensor<2, Int> = targets.one_hot(classes);
    HeadOutput {
        train_logits: (cos.clone() + one_hot.float() * delta) * scale,
        logits: cos * scale,
    }
}
