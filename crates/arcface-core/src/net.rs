use burn::prelude::*;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};

use crate::{CoreError, Head, HeadConfig, Vgg8, Vgg8Config, cross_entropy};

/// A batch of images with their class indices.
#[derive(Debug, Clone)]
pub struct LabelledBatch {
    /// `[batch, channels, height, width]`, normalised.
    pub images: Tensor<4>,
    /// `[batch]` class indices.
    pub targets: Tensor<1, Int>,
}

/// Backbone + head.
#[derive(Config, Debug)]
pub struct EmbeddingNetConfig {
    /// The VGG8 backbone.
    pub backbone: Vgg8Config,
    /// The classification head on its embedding.
    pub head: HeadConfig,
}

/// The embedding network trained by arcface-lab.
#[derive(Module, Debug)]
pub struct EmbeddingNet {
    /// Images to embeddings.
    pub backbone: Vgg8,
    /// Embeddings to logits.
    pub head: Head,
}

impl EmbeddingNetConfig {
    /// Builds the network on `device`.
    pub fn init(&self, device: &Device) -> Result<EmbeddingNet, CoreError> {
        Ok(EmbeddingNet {
            backbone: self.backbone.init(device)?,
            head: self.head.init(device)?,
        })
    }
}

/// Forward pass of a labelled batch: the embeddings and what burn-train's metrics read.
pub struct Forward {
    /// `[batch, embedding_dim]`.
    pub embeddings: Tensor<2>,
    /// Loss on the margin logits, margin-free logits (for accuracy) and targets.
    pub output: ClassificationOutput,
}

impl EmbeddingNet {
    /// # Shapes
    /// - images: `[batch, channels, height, width]`
    /// - output: `[batch, embedding_dim]`
    pub fn embed(&self, images: Tensor<4>) -> Tensor<2> {
        self.backbone.forward(images)
    }

    /// Embeddings, loss and logits of a labelled batch.
    pub fn forward(&self, batch: LabelledBatch) -> Forward {
        let embeddings = self.embed(batch.images);
        let out = self.head.forward(embeddings.clone(), batch.targets.clone());
        let loss = cross_entropy(out.train_logits, batch.targets.clone());
        Forward {
            embeddings,
            output: ClassificationOutput::new(loss, out.logits, batch.targets),
        }
    }
}

impl TrainStep for EmbeddingNet {
    type Input = LabelledBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: LabelledBatch) -> TrainOutput<ClassificationOutput> {
        let output = self.forward(batch).output;
        let grads = output.loss.backward();
        TrainOutput::new(self, grads, output)
    }
}

impl InferenceStep for EmbeddingNet {
    type Input = LabelledBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: LabelledBatch) -> ClassificationOutput {
        self.forward(batch).output
    }
}
