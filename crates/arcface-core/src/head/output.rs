//! What a head gives for one batch.

use burn::prelude::*;

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
