//! The plain softmax baseline.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use super::output::HeadOutput;
use super::shape::check_shape;
use crate::CoreError;

/// The plain softmax baseline: a linear layer (with bias) from the embedding to the classes.
#[derive(Config, Debug)]
pub struct SoftmaxHeadConfig {
    /// Size of the embedding.
    pub embedding_dim: usize,
    /// Number of classes.
    pub num_classes: usize,
}

/// Linear classifier head; its class centres are the columns of the weight matrix.
#[derive(Module, Debug)]
pub struct SoftmaxHead {
    linear: Linear,
}

impl SoftmaxHeadConfig {
    /// Checks the hyper-parameters without building anything (the config check of the
    /// command line calls it before any data is read).
    pub fn validate(&self) -> Result<(), CoreError> {
        check_shape(self.embedding_dim, self.num_classes)
    }

    /// Builds the head on `device`.
    pub fn init(&self, device: &Device) -> Result<SoftmaxHead, CoreError> {
        self.validate()?;
        Ok(SoftmaxHead {
            linear: LinearConfig::new(self.embedding_dim, self.num_classes).init(device),
        })
    }
}

impl SoftmaxHead {
    /// `x W + b`; softmax has no margin, so both logits are the same tensor.
    ///
    /// # Shapes
    /// - embeddings: `[batch, embedding_dim]`
    pub fn forward(&self, embeddings: Tensor<2>) -> HeadOutput {
        let logits = self.linear.forward(embeddings);
        HeadOutput {
            train_logits: logits.clone(),
            logits,
        }
    }

    /// # Shapes
    /// - output: `[classes, embedding_dim]`
    pub fn centers(&self) -> Tensor<2> {
        // burn's default Linear layout stores the weight as [d_input, d_output].
        self.linear.weight.val().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::tensor::TensorData;

    #[test]
    fn linear_logits_and_centres() {
        let device = Device::flex();
        let mut head = SoftmaxHeadConfig::new(2, 3).init(&device).unwrap();
        // W = [[1, 2, 3], [4, 5, 6]] ([dim, classes]), b = [0.5, 0, -0.5].
        head.linear.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]),
            &device,
        ));
        head.linear.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![0.5f32, 0.0, -0.5], [3]),
            &device,
        )));
        let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, -1.0], [1, 2]), &device);
        let logits = head
            .forward(x)
            .logits
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(logits, vec![1.0 - 4.0 + 0.5, 2.0 - 5.0, 3.0 - 6.0 - 0.5]);
        let centres = head.centers().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(centres, vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }
}
