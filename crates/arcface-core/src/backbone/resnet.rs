//! Residual backbones: ResNet-18 ([`ResNet`]) and insightface's iResNet-18 ([`IResNet`]), with
//! a width multiplier so that they can be made cheap enough for a CPU.

use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PRelu, PReluConfig,
    PaddingConfig2d, Relu,
    conv::{Conv2d, Conv2dConfig},
};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use kernels::KernelOptions;

use crate::{CoreError, fastconv};

/// Residual blocks per stage, as in ResNet-18 and iResNet-18.
const BLOCKS: [usize; 4] = [2, 2, 2, 2];

/// The least input side of ResNet-18 and iResNet-18: iResNet's four stride-2 stages leave 2x2
/// of a 32x32 image (and both are made for 32x32 and up).
pub const RESNET_LEAST_SIDE: usize = 32;

/// Which residual network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResNetKind {
    /// ResNet-18 (He et al. 2016) with the CIFAR stem: see [`ResNet`].
    ResNet18,
    /// insightface's iResNet-18 (`arcface_torch/backbones/iresnet.py`): see [`IResNet`].
    IResNet18,
}

/// A ResNet-18 or iResNet-18 backbone for `[in_channels, height, width]` images.
#[derive(Config, Debug)]
pub struct ResNetConfig {
    /// ResNet-18 or iResNet-18.
    pub kind: ResNetKind,
    /// Input channels (1 or 3).
    pub in_channels: usize,
    /// Input height in pixels (at least 32).
    pub height: usize,
    /// Input width in pixels (at least 32).
    pub width: usize,
    /// Size of the embedding.
    pub embedding_dim: usize,
    /// Channels of the first stage; the others have 2, 4 and 8 times as many (64: the papers'
    /// 64/128/256/512; 16 or 32 make a network a CPU trains in minutes).
    #[config(default = 64)]
    pub base_width: usize,
    /// Dropout on the features before the embedding layer (insightface's default is 0).
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// A 3x3 convolution without bias (a batch norm follows), padding 1.
fn conv3x3(cin: usize, cout: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(device)
}

/// The projection shortcut: 1x1 convolution (stride `stride`, no bias) + batch norm.
#[derive(Module, Debug)]
pub struct Downsample {
    /// 1x1 convolution.
    pub conv: Conv2d,
    /// Batch norm after it.
    pub bn: BatchNorm,
}

impl Downsample {
    /// `None` where the shortcut can be the identity.
    fn needed(cin: usize, cout: usize, stride: usize, device: &Device) -> Option<Self> {
        (stride != 1 || cin != cout).then(|| Self {
            conv: Conv2dConfig::new([cin, cout], [1, 1])
                .with_stride([stride, stride])
                .with_bias(false)
                .init(device),
            bn: BatchNormConfig::new(cout).init(device),
        })
    }

    /// # Shapes
    /// - x: `[batch, cin, h, w]`
    /// - output: `[batch, cout, ceil(h / stride), ceil(w / stride)]`
    fn forward(&self, x: Tensor<4>, kernels: &KernelOptions) -> Tensor<4> {
        self.bn.forward(fastconv::conv2d(&self.conv, x, kernels))
    }
}

/// ResNet's basic block: conv3x3(stride) - BN - ReLU - conv3x3 - BN, plus the shortcut, then
/// ReLU.
#[derive(Module, Debug)]
pub struct BasicBlock {
    /// First 3x3 convolution, with the block's stride.
    pub conv1: Conv2d,
    /// Batch norm after `conv1` (then ReLU).
    pub bn1: BatchNorm,
    /// Second 3x3 convolution, stride 1.
    pub conv2: Conv2d,
    /// Batch norm after `conv2` (then the shortcut is added).
    pub bn2: BatchNorm,
    /// Projection shortcut where the shape changes.
    pub downsample: Option<Downsample>,
    relu: Relu,
}

impl BasicBlock {
    fn new(cin: usize, cout: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv1: conv3x3(cin, cout, stride, device),
            bn1: BatchNormConfig::new(cout).init(device),
            conv2: conv3x3(cout, cout, 1, device),
            bn2: BatchNormConfig::new(cout).init(device),
            downsample: Downsample::needed(cin, cout, stride, device),
            relu: Relu::new(),
        }
    }

    /// # Shapes
    /// - x: `[batch, cin, h, w]`
    /// - output: `[batch, cout, ceil(h / stride), ceil(w / stride)]`
    fn forward(&self, x: Tensor<4>, kernels: &KernelOptions) -> Tensor<4> {
        let shortcut = match &self.downsample {
            Some(d) => d.forward(x.clone(), kernels),
            None => x.clone(),
        };
        let y = fastconv::conv2d(&self.conv1, x, kernels);
        let y = fastconv::batch_norm_relu(&self.bn1, &self.relu, y, kernels);
        let y = fastconv::conv2d(&self.conv2, y, kernels);
        // The shortcut sits between this batch norm and its ReLU: no fused kernel.
        self.relu.forward(self.bn2.forward(y) + shortcut)
    }
}

/// insightface's `IBasicBlock`: BN - conv3x3 - BN - PReLU - conv3x3(stride) - BN, plus the
/// shortcut (no activation after the sum).
#[derive(Module, Debug)]
pub struct IBasicBlock {
    /// Batch norm on the block's input.
    pub bn1: BatchNorm,
    /// First 3x3 convolution, stride 1.
    pub conv1: Conv2d,
    /// Batch norm after `conv1` (then PReLU).
    pub bn2: BatchNorm,
    /// PReLU with one slope per channel.
    pub prelu: PRelu,
    /// Second 3x3 convolution, with the block's stride.
    pub conv2: Conv2d,
    /// Batch norm after `conv2`.
    pub bn3: BatchNorm,
    /// Projection shortcut where the shape changes.
    pub downsample: Option<Downsample>,
}

impl IBasicBlock {
    fn new(cin: usize, cout: usize, stride: usize, device: &Device) -> Self {
        Self {
            bn1: BatchNormConfig::new(cin).init(device),
            conv1: conv3x3(cin, cout, 1, device),
            bn2: BatchNormConfig::new(cout).init(device),
            prelu: prelu(cout, device),
            conv2: conv3x3(cout, cout, stride, device),
            bn3: BatchNormConfig::new(cout).init(device),
            downsample: Downsample::needed(cin, cout, stride, device),
        }
    }

    /// # Shapes
    /// - x: `[batch, cin, h, w]`
    /// - output: `[batch, cout, ceil(h / stride), ceil(w / stride)]`
    fn forward(&self, x: Tensor<4>, kernels: &KernelOptions) -> Tensor<4> {
        let shortcut = match &self.downsample {
            Some(d) => d.forward(x.clone(), kernels),
            None => x.clone(),
        };
        let y = fastconv::conv2d(&self.conv1, self.bn1.forward(x), kernels);
        let y = self.prelu.forward(self.bn2.forward(y));
        let y = fastconv::conv2d(&self.conv2, y, kernels);
        self.bn3.forward(y) + shortcut
    }
}

/// PReLU with one slope per channel, 0.25 at first (PyTorch's `nn.PReLU(channels)`).
fn prelu(channels: usize, device: &Device) -> PRelu {
    PReluConfig::new()
        .with_num_parameters(channels)
        .init(device)
}

/// ResNet-18 as an embedding backbone. Build it with [`ResNetConfig::init_resnet`].
///
/// The stem is CIFAR's (a 3x3 conv, stride 1, + BN + ReLU, no max-pool) rather than ImageNet's
/// 7x7 stride-2 conv and max-pool, which would leave a 32x32 face 1x1 before the last stage.
/// Then four stages of two [`BasicBlock`]s (strides 1, 2, 2, 2; widths `w, 2w, 4w, 8w`), global
/// average pooling, dropout, a linear layer to the embedding and BatchNorm1d, as VGG8 ends.
#[derive(Module, Debug)]
pub struct ResNet {
    /// Stem 3x3 convolution, stride 1.
    pub conv1: Conv2d,
    /// Batch norm after the stem (then ReLU).
    pub bn1: BatchNorm,
    /// The eight residual blocks, stage by stage.
    pub blocks: Vec<BasicBlock>,
    dropout: Dropout,
    /// Pooled features `[8w]` to the embedding; weight `[8w, dim]`.
    pub embed: Linear,
    /// Batch norm on the embedding.
    pub bn_embed: BatchNorm,
    relu: Relu,
    /// Which of the own CPU kernels the layers use: not part of the record.
    #[module(skip)]
    kernels: KernelOptions,
}

/// insightface's iResNet-18 as an embedding backbone. Build it with
/// [`ResNetConfig::init_iresnet`].
///
/// Stem: 3x3 conv (stride 1) + BN + PReLU; four stages of two [`IBasicBlock`]s, each stage
/// starting with stride 2 (widths `w, 2w, 4w, 8w`); then BatchNorm2d, dropout, flatten, a
/// linear layer from `8w * ceil(H/16) * ceil(W/16)` features (`512 * 7 * 7` for 112x112 at
/// `w = 64`) to the embedding, and BatchNorm1d (`features`; insightface freezes its scale at 1,
/// here it is trained like the others).
#[derive(Module, Debug)]
pub struct IResNet {
    /// Stem 3x3 convolution, stride 1.
    pub conv1: Conv2d,
    /// Batch norm after the stem.
    pub bn1: BatchNorm,
    /// PReLU after the stem.
    pub prelu: PRelu,
    /// The eight residual blocks, stage by stage.
    pub blocks: Vec<IBasicBlock>,
    /// Batch norm on the last stage's feature maps.
    pub bn2: BatchNorm,
    dropout: Dropout,
    /// Flattened features (`[C, H, W]` order) to the embedding; weight `[features, dim]`.
    pub fc: Linear,
    /// Batch norm on the embedding.
    pub features: BatchNorm,
    /// Which of the own CPU kernels the layers use: not part of the record.
    #[module(skip)]
    kernels: KernelOptions,
}

impl ResNetConfig {
    /// The stage widths, `w, 2w, 4w, 8w`.
    fn widths(&self) -> [usize; 4] {
        let w = self.base_width;
        [w, 2 * w, 4 * w, 8 * w]
    }

    fn validate(&self) -> Result<(), CoreError> {
        if self.embedding_dim == 0 {
            return Err(CoreError::ZeroEmbedding);
        }
        if self.height < RESNET_LEAST_SIDE || self.width < RESNET_LEAST_SIDE {
            return Err(CoreError::InputTooSmall {
                backbone: match self.kind {
                    ResNetKind::ResNet18 => "resnet18",
                    ResNetKind::IResNet18 => "iresnet18",
                },
                min: RESNET_LEAST_SIDE,
                height: self.height,
                width: self.width,
            });
        }
        if self.base_width == 0 {
            return Err(CoreError::OutOfRange {
                key: "base_width",
                value: 0.0,
                expected: "at least 1 channel",
            });
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(CoreError::OutOfRange {
                key: "dropout",
                value: self.dropout,
                expected: "a probability in [0, 1)",
            });
        }
        Ok(())
    }

    /// `(in, out, stride)` of each residual block, the first of each stage with `strides`'.
    fn blocks(&self, strides: [usize; 4]) -> Vec<(usize, usize, usize)> {
        let mut cin = self.base_width;
        let mut out = Vec::new();
        for ((width, stride), count) in self.widths().into_iter().zip(strides).zip(BLOCKS) {
            for i in 0..count {
                out.push((cin, width, if i == 0 { stride } else { 1 }));
                cin = width;
            }
        }
        out
    }

    /// Checks the configuration and builds ResNet-18 on `device` (whatever [`Self::kind`]
    /// says), with the kernel options set by [`crate::set_kernel_options`].
    pub fn init_resnet(&self, device: &Device) -> Result<ResNet, CoreError> {
        self.validate()?;
        let features = self.widths()[3];
        Ok(ResNet {
            conv1: conv3x3(self.in_channels, self.base_width, 1, device),
            bn1: BatchNormConfig::new(self.base_width).init(device),
            blocks: self
                .blocks([1, 2, 2, 2])
                .into_iter()
                .map(|(cin, cout, stride)| BasicBlock::new(cin, cout, stride, device))
                .collect(),
            dropout: DropoutConfig::new(self.dropout).init(),
            embed: LinearConfig::new(features, self.embedding_dim).init(device),
            bn_embed: BatchNormConfig::new(self.embedding_dim).init(device),
            relu: Relu::new(),
            kernels: fastconv::process_kernel_options(),
        })
    }

    /// Checks the configuration and builds iResNet-18 on `device` (whatever [`Self::kind`]
    /// says), with the kernel options set by [`crate::set_kernel_options`].
    pub fn init_iresnet(&self, device: &Device) -> Result<IResNet, CoreError> {
        self.validate()?;
        let channels = self.widths()[3];
        // Each stride-2 3x3 conv (padding 1) maps a side s to ceil(s / 2).
        let side = |s: usize| (0..4).fold(s, |s, _| s.div_ceil(2));
        let flat = channels * side(self.height) * side(self.width);
        Ok(IResNet {
            conv1: conv3x3(self.in_channels, self.base_width, 1, device),
            bn1: BatchNormConfig::new(self.base_width).init(device),
            prelu: prelu(self.base_width, device),
            blocks: self
                .blocks([2, 2, 2, 2])
                .into_iter()
                .map(|(cin, cout, stride)| IBasicBlock::new(cin, cout, stride, device))
                .collect(),
            bn2: BatchNormConfig::new(channels).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            fc: LinearConfig::new(flat, self.embedding_dim).init(device),
            features: BatchNormConfig::new(self.embedding_dim).init(device),
            kernels: fastconv::process_kernel_options(),
        })
    }
}

impl ResNet {
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
        let k = &self.kernels;
        let x = fastconv::conv2d(&self.conv1, images, k);
        let mut x = fastconv::batch_norm_relu(&self.bn1, &self.relu, x, k);
        for block in &self.blocks {
            x = block.forward(x, k);
        }
        let [batch, channels, _, _] = x.dims();
        let pooled: Tensor<2> = x.flatten::<3>(2, 3).mean_dim(2).reshape([batch, channels]);
        self.bn_embed.forward(
            self.embed
                .forward(fastconv::dropout(&self.dropout, pooled, k)),
        )
    }
}

impl IResNet {
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
        let k = &self.kernels;
        let x = fastconv::conv2d(&self.conv1, images, k);
        let mut x = self.prelu.forward(self.bn1.forward(x));
        for block in &self.blocks {
            x = block.forward(x, k);
        }
        let x = fastconv::dropout(&self.dropout, self.bn2.forward(x), k);
        let x: Tensor<2> = x.flatten(1, 3);
        self.features.forward(self.fc.forward(x))
    }
}
