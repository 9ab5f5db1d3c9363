use burn::prelude::*;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};

use crate::{Backbone, BackboneConfig, CoreError, Head, HeadConfig, cross_entropy};

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
    /// The backbone (VGG8, ResNet-18 or iResNet-18).
    pub backbone: BackboneConfig,
    /// The classification head on its embedding.
    pub head: HeadConfig,
}

/// The embedding network trained by arcface-lab.
#[derive(Module, Debug)]
pub struct EmbeddingNet {
    /// Images to embeddings.
    pub backbone: Backbone,
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
        self.head_forward(embeddings, batch.targets)
    }

    /// A training step of the head alone (a frozen backbone): the embeddings are detached, so
    /// the backward pass stops at them and no backbone gradient is computed or applied. The
    /// backbone still runs in training mode (dropout, batch-norm statistics), as a frozen
    /// backbone does in PyTorch when only its parameters are left out of the optimizer.
    pub fn head_step(&self, batch: LabelledBatch) -> TrainOutput<ClassificationOutput> {
        let embeddings = self.embed(batch.images).detach();
        let output = self.head_forward(embeddings, batch.targets).output;
        let grads = output.loss.backward();
        TrainOutput::new(self, grads, output)
    }

    /// Loss and logits of `embeddings` with their `targets`.
    fn head_forward(&self, embeddings: Tensor<2>, targets: Tensor<1, Int>) -> Forward {
        let out = self.head.forward(embeddings.clone(), targets.clone());
        let loss = cross_entropy(out.train_logits, targets.clone());
        Forward {
            embeddings,
            output: ClassificationOutput::new(loss, out.logits, targets),
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

#[cfg(test)]
mod tests {
    //! `tests/fixtures/net-vgg8-v0.bpk`: a tiny VGG8 [`EmbeddingNet`] saved as the training loop
    //! saves its checkpoints (`into_record().save`) before the backbone became a choice, with
    //! every float parameter set to [`fill`]. Later versions must load it with its values.

    use std::path::PathBuf;

    use burn::module::{Module, ModuleMapper, Param};
    use burn::prelude::*;
    use burn::tensor::{Distribution, TensorData};

    use super::*;
    use crate::head::test_util::{Values, fill};
    use crate::{SoftmaxHeadConfig, Vgg8Config};

    /// Sets every float parameter to [`fill`].
    struct Fill;

    impl ModuleMapper for Fill {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (id, tensor, mapper) = param.consume();
            let dims = tensor.dims();
            let device = tensor.device();
            let n = dims.iter().product();
            let tensor = Tensor::from_data(TensorData::new(fill(n), dims), &device);
            Param::from_mapped_value(id, tensor, mapper)
        }
    }

    /// The fixture's network: 1x8x8 input, widths 2/3/4, 2-D embedding, softmax over 3 classes.
    fn tiny_vgg8() -> EmbeddingNetConfig {
        EmbeddingNetConfig::new(
            Vgg8Config::new(1, 8, 8, 2).with_widths([2, 3, 4]).into(),
            HeadConfig::Softmax(SoftmaxHeadConfig::new(2, 3)),
        )
    }

    fn fixture() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/net-vgg8-v0.bpk")
    }

    /// How the fixture was written, by commit 57da38b (before the backbone became a choice);
    /// kept to show it, not to be run again: the fixture is what the earlier code wrote.
    #[allow(dead_code)]
    fn write_vgg8_fixture() {
        let net = tiny_vgg8().init(&Device::flex()).unwrap().map(&mut Fill);
        net.into_record().save(fixture()).unwrap();
    }

    #[test]
    fn a_vgg8_checkpoint_of_an_earlier_version_loads_with_its_values() {
        let device = Device::flex();
        let net = tiny_vgg8().init(&device).unwrap();
        let mut sizes = Values::default();
        net.visit(&mut sizes);
        let net = net
            .try_load_file(fixture())
            .unwrap_or_else(|e| panic!("{e:?}"));
        let mut values = Values::default();
        net.visit(&mut values);
        let want: Vec<Vec<f32>> = sizes.0.iter().map(|v| fill(v.len())).collect();
        // 3 blocks x (2 convs x 2 + 2 batch norms x 4) + bn_features 4 + embed 2 + bn_embed 4
        // + the softmax head's 2.
        assert_eq!(values.0.len(), 3 * 12 + 4 + 2 + 4 + 2);
        assert_eq!(values.0, want);
    }

    #[test]
    fn head_step_computes_no_backbone_gradient() {
        let device = Device::flex().autodiff();
        let net = tiny_vgg8().init(&device).unwrap();
        let batch = || LabelledBatch {
            images: Tensor::random([4, 1, 8, 8], Distribution::Normal(0.0, 1.0), &device),
            targets: Tensor::from_ints([0, 1, 2, 0], &device),
        };
        // Trainable parameters: 3 blocks x (2 convs x (weight, bias) + 2 batch norms x (gamma,
        // beta)), bn_features 2, embed 2, bn_embed 2; the softmax head's weight and bias.
        assert_eq!(TrainStep::step(&net, batch()).grads.len(), 3 * 8 + 6 + 2);
        assert_eq!(net.head_step(batch()).grads.len(), 2);
    }
}
