use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
    Relu,
    conv::{Conv2d, Conv2dConfig},
    pool::{MaxPool2d, MaxPool2dConfig},
};
use burn::prelude::*;

use kernels::KernelOptions;

use crate::{CoreError, fastconv};

/// The least input side of VGG8: its three 2x2 max-pools halve it three times.
pub const VGG8_LEAST_SIDE: usize = 8;

/// The seed's VGG8: three VGG blocks of 2 x (3x3 conv + BatchNorm + ReLU), each followed by a
/// 2x2 max-pool; then BatchNorm2d, dropout, flatten, a linear layer to the embedding and
/// BatchNorm1d on the embedding.
#[derive(Config, Debug)]
pub struct Vgg8Config {
    /// Input channels (1 for digits, 3 for faces).
    pub in_channels: usize,
    /// Input height in pixels.
    pub height: usize,
    /// Input width in pixels.
    pub width: usize,
    /// Size of the embedding: 2 draws on a circle, 3 on a sphere.
    pub embedding_dim: usize,
    /// Dropout before the embedding layer (the seed's 0.5).
    #[config(default = 0.5)]
    pub dropout: f64,
    /// Output channels of the three blocks (the seed's 16/32/64).
    #[config(default = "[16, 32, 64]")]
    pub widths: [usize; 3],
}

/// Two conv + BatchNorm + ReLU layers and a 2x2 max-pool.
#[derive(Module, Debug)]
pub struct VggBlock {
    /// First 3x3 convolution (padding 1).
    pub conv1: Conv2d,
    /// Batch norm after `conv1` (then ReLU).
    pub bn1: BatchNorm,
    /// Second 3x3 convolution (padding 1).
    pub conv2: Conv2d,
    /// Batch norm after `conv2` (then ReLU).
    pub bn2: BatchNorm,
    relu: Relu,
    pool: MaxPool2d,
}

impl VggBlock {
    fn new(in_channels: usize, out_channels: usize, device: &Device) -> Self {
        let conv = |cin| {
            Conv2dConfig::new([cin, out_channels], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        Self {
            conv1: conv(in_channels),
            bn1: BatchNormConfig::new(out_channels).init(device),
            conv2: conv(out_channels),
            bn2: BatchNormConfig::new(out_channels).init(device),
            relu: Relu::new(),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
        }
    }

    /// # Shapes
    /// - input: `[batch, in_channels, h, w]`
    /// - output: `[batch, out_channels, h / 2, w / 2]` (rounded down)
    fn forward(&self, x: Tensor<4>, kernels: &KernelOptions) -> Tensor<4> {
        let x = fastconv::conv_bn_relu(&self.conv1, &self.bn1, &self.relu, x, kernels);
        fastconv::conv_bn_relu_pool(&self.conv2, &self.bn2, &self.relu, &self.pool, x, kernels)
    }
}

/// VGG8 embedding backbone. Build it with [`Vgg8Config::init`].
#[derive(Module, Debug)]
pub struct Vgg8 {
    /// The three VGG blocks (each ends with a 2x2 max-pool, stride 2).
    pub blocks: Vec<VggBlock>,
    /// Batch norm on the last block's feature maps.
    pub bn_features: BatchNorm,
    dropout: Dropout,
    /// Flattened features (`[C, H, W]` order) to the embedding; weight `[features, dim]`.
    pub embed: Linear,
    /// Batch norm on the embedding.
    pub bn_embed: BatchNorm,
    /// Which of the own CPU kernels the blocks use: not part of the record.
    #[module(skip)]
    kernels: KernelOptions,
}

impl Vgg8Config {
    /// Checks the configuration and builds the backbone on `device`, with the kernel options
    /// set by [`crate::set_kernel_options`] (else the default).
    pub fn init(&self, device: &Device) -> Result<Vgg8, CoreError> {
        if self.embedding_dim == 0 {
            return Err(CoreError::ZeroEmbedding);
        }
        if self.height < VGG8_LEAST_SIDE || self.width < VGG8_LEAST_SIDE {
            // Three 2x2 max-pools halve the input three times.
            return Err(CoreError::InputTooSmall {
                backbone: "vgg8",
                min: VGG8_LEAST_SIDE,
                height: self.height,
                width: self.width,
            });
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(CoreError::OutOfRange {
                key: "dropout",
                value: self.dropout,
                expected: "a probability in [0, 1)",
            });
        }
        let [w1, w2, w3] = self.widths;
        let blocks = vec![
            VggBlock::new(self.in_channels, w1, device),
            VggBlock::new(w1, w2, device),
            VggBlock::new(w2, w3, device),
        ];
        let flat = w3 * (self.height / 8) * (self.width / 8);
        Ok(Vgg8 {
            blocks,
            bn_features: BatchNormConfig::new(w3).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            embed: LinearConfig::new(flat, self.embedding_dim).init(device),
            bn_embed: BatchNormConfig::new(self.embedding_dim).init(device),
            kernels: fastconv::process_kernel_options(),
        })
    }
}

impl Vgg8 {
    /// The same backbone using the kernels `options` select.
    pub fn with_kernel_options(self, options: KernelOptions) -> Self {
        Self {
            kernels: options,
            ..self
        }
    }

    /// Which of the own CPU kernels this backbone uses.
    pub fn kernel_options(&self) -> KernelOptions {
        self.kernels
    }

    /// Maps images to embeddings.
    ///
    /// # Shapes
    /// - images: `[batch, in_channels, height, width]`
    /// - output: `[batch, embedding_dim]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images;
        for block in &self.blocks {
            x = block.forward(x, &self.kernels);
        }
        let x = fastconv::dropout(&self.dropout, self.bn_features.forward(x), &self.kernels);
        let x: Tensor<2> = x.flatten(1, 3);
        self.bn_embed.forward(self.embed.forward(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backbone::test_util::FixedParams;
    use crate::{Backbone, EmbeddingNet};

    #[test]
    fn embeds_digits_and_faces() {
        let device = Device::flex();
        let digits = Vgg8Config::new(1, 28, 28, 3).init(&device).unwrap();
        assert_eq!(
            digits
                .forward(Tensor::zeros([4, 1, 28, 28], &device))
                .dims(),
            [4, 3]
        );
        let faces = Vgg8Config::new(3, 64, 48, 2).init(&device).unwrap();
        assert_eq!(
            faces.forward(Tensor::ones([2, 3, 64, 48], &device)).dims(),
            [2, 2]
        );
    }

    #[test]
    fn flattened_size_follows_three_poolings() {
        // 28 -> 14 -> 7 -> 3: the linear layer sees 64 * 3 * 3 = 576 features, as in the seed.
        let net = Vgg8Config::new(1, 28, 28, 2).init(&Device::flex()).unwrap();
        assert_eq!(net.embed.weight.dims(), [576, 2]);
    }

    /// Loss, then every backbone parameter's gradient and the running statistics, after one
    /// forward and backward of `net` (backbone + ArcFace head).
    fn training_step(
        options: KernelOptions,
        mut net: EmbeddingNet,
        images: Tensor<4>,
    ) -> Vec<(String, Vec<f32>)> {
        use crate::LabelledBatch;
        use burn::tensor::TensorData;

        let device = images.device();
        let batch = images.dims()[0];
        let targets: Vec<i64> = (0..batch as i64).map(|i| i % 5).collect();
        net.backbone = net.backbone.with_kernel_options(options);
        let out = net.forward(LabelledBatch {
            images,
            targets: Tensor::from_data(TensorData::new(targets, [batch]), &device),
        });
        let loss = out.output.loss;
        let grads = loss.clone().backward();
        let v = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap();
        let g = |t: Tensor<4>| v(t.grad(&grads).unwrap().flatten(0, 3));
        let mut got = vec![("loss".to_string(), v(loss))];
        let Backbone::Vgg8(vgg) = &net.backbone else {
            panic!("not a VGG8")
        };
        for (i, block) in vgg.blocks.iter().enumerate() {
            for (j, conv) in [&block.conv1, &block.conv2].into_iter().enumerate() {
                got.push((format!("block {i} conv{j} weight"), g(conv.weight.val())));
                let bias = conv.bias.as_ref().unwrap().val();
                got.push((
                    format!("block {i} conv{j} bias"),
                    v(bias.grad(&grads).unwrap()),
                ));
            }
            for (j, bn) in [&block.bn1, &block.bn2].into_iter().enumerate() {
                got.push((
                    format!("block {i} bn{j} gamma"),
                    v(bn.gamma.val().grad(&grads).unwrap()),
                ));
                got.push((
                    format!("block {i} bn{j} beta"),
                    v(bn.beta.val().grad(&grads).unwrap()),
                ));
                got.push((
                    format!("block {i} bn{j} running mean"),
                    v(bn.running_mean.value_sync()),
                ));
                got.push((
                    format!("block {i} bn{j} running var"),
                    v(bn.running_var.value_sync()),
                ));
            }
        }
        let embed = vgg.embed.weight.val();
        got.push((
            "embed weight".to_string(),
            v(embed.grad(&grads).unwrap().flatten(0, 1)),
        ));
        got
    }

    #[test]
    fn fastconv_training_step_matches_burn() {
        use crate::{CosineHeadConfig, EmbeddingNetConfig, HeadConfig};
        use burn::tensor::TensorData;

        let device = Device::flex().autodiff();
        for (c, h, w, batch) in [(1, 28, 28, 4), (3, 20, 12, 3)] {
            let config = EmbeddingNetConfig::new(
                Vgg8Config::new(c, h, w, 3).with_dropout(0.0).into(),
                HeadConfig::Cosine(CosineHeadConfig::arcface(3, 5)),
            );
            // One set of fixed parameters (not the device's RNG, which tests running in
            // parallel share: with random ones, a near-tie in a max-pool window that the two
            // paths' rounding broke differently failed ~5 % of runs), loaded into two networks
            // with their own running statistics.
            let net = config.init(&device).unwrap().map(&mut FixedParams(0));
            let twin = config
                .init(&device)
                .unwrap()
                .load_record(net.clone().into_record());
            let images: Vec<f32> = (0..batch * c * h * w)
                .map(|i| (i as f32 * 0.37).sin() + (i as f32 * 0.011).cos())
                .collect();
            let images = Tensor::<4>::from_data(TensorData::new(images, [batch, c, h, w]), &device);
            // The own kernels against burn's at 2e-4, with the direct conv; and the Winograd
            // conv against the direct one at 1e-3 (their rounding differs in another pattern,
            // which these 4 images' batch statistics amplify to 2e-4 of scale here; a wrong
            // kernel differs by the gradients' own size).
            let direct = KernelOptions {
                winograd: false,
                ..KernelOptions::all(true)
            };
            // A network of its own: clones share their running statistics.
            let third = config
                .init(&device)
                .unwrap()
                .load_record(net.clone().into_record());
            let winograd = training_step(KernelOptions::all(true), third, images.clone());
            let fast = training_step(direct, net, images.clone());
            let burn = training_step(KernelOptions::all(false), twin, images);
            for ((name, a), (_, b)) in winograd.iter().zip(&fast) {
                let scale = b.iter().fold(1f32, |m, x| m.max(x.abs()));
                for (k, (x, y)) in a.iter().zip(b).enumerate() {
                    assert!(
                        (x - y).abs() <= 1e-3 * scale,
                        "{c}x{h}x{w} {name}[{k}]: winograd {x}, direct {y} (scale {scale})"
                    );
                }
            }
            let mut scale = 1f32;
            for ((name, a), (_, b)) in fast.iter().zip(&burn) {
                // Conv biases in front of a batch norm get (near-)zero gradients, compared at
                // their layer's weight gradient's scale; the last batch norm's gamma gradient is
                // a near-cancelling sum (~1e-5), compared at a floor of 1.
                if !name.ends_with("bias") {
                    scale = b.iter().fold(1.0, |m, x| m.max(x.abs()));
                }
                assert_eq!(a.len(), b.len(), "{name}");
                for (k, (x, y)) in a.iter().zip(b).enumerate() {
                    assert!(
                        (x - y).abs() <= 2e-4 * scale,
                        "{c}x{h}x{w} {name}[{k}]: fastconv {x}, burn {y} (scale {scale})"
                    );
                }
            }
        }
    }

    #[test]
    fn rejects_zero_embedding_and_tiny_inputs() {
        let device = Device::flex();
        assert_eq!(
            Vgg8Config::new(1, 28, 28, 0).init(&device).err(),
            Some(CoreError::ZeroEmbedding)
        );
        assert_eq!(
            Vgg8Config::new(1, 4, 28, 2).init(&device).err(),
            Some(CoreError::InputTooSmall {
                backbone: "vgg8",
                min: 8,
                height: 4,
                width: 28
            })
        );
    }
}
