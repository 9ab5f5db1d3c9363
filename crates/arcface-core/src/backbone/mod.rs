//! The backbones, images to embeddings: the seed's [`Vgg8`], and the residual networks
//! [`ResNet`] (ResNet-18) and [`IResNet`] (insightface's iResNet-18). [`BackboneConfig`] picks
//! one; [`Backbone`] holds it.

mod resnet;
#[cfg(test)]
mod test_util;
#[cfg(test)]
mod tests;
mod vgg8;

use burn::module::{
    Content, Devices, Module, ModuleDisplay, ModuleDisplayDefault, ModuleMapper, ModuleVisitor,
};
use burn::prelude::*;
use kernels::KernelOptions;

pub use resnet::{
    BasicBlock, Downsample, IBasicBlock, IResNet, RESNET_LEAST_SIDE, ResNet, ResNetConfig,
    ResNetKind,
};
pub use vgg8::{VGG8_LEAST_SIDE, Vgg8, Vgg8Config, VggBlock};

use crate::CoreError;

/// Which backbone maps images to embeddings.
#[derive(Config, Debug)]
pub enum BackboneConfig {
    /// The seed's VGG8.
    Vgg8(Vgg8Config),
    /// ResNet-18 or iResNet-18 ([`ResNetConfig::kind`]).
    ResNet(ResNetConfig),
}

impl From<Vgg8Config> for BackboneConfig {
    fn from(config: Vgg8Config) -> Self {
        BackboneConfig::Vgg8(config)
    }
}

impl From<ResNetConfig> for BackboneConfig {
    fn from(config: ResNetConfig) -> Self {
        BackboneConfig::ResNet(config)
    }
}

impl BackboneConfig {
    /// Checks the configuration and builds the backbone on `device`.
    pub fn init(&self, device: &Device) -> Result<Backbone, CoreError> {
        Ok(match self {
            BackboneConfig::Vgg8(config) => Backbone::Vgg8(config.init(device)?),
            BackboneConfig::ResNet(config) => match config.kind {
                ResNetKind::ResNet18 => Backbone::ResNet(config.init_resnet(device)?),
                ResNetKind::IResNet18 => Backbone::IResNet(config.init_iresnet(device)?),
            },
        })
    }
}

/// A backbone: images `[N, C, H, W]` to embeddings `[N, dim]`.
///
/// Its [`Module`] impl is written out rather than derived: burn's derive would put the variant's
/// name into every parameter's path (`backbone.Vgg8.blocks.0...`), and checkpoints saved before
/// the backbone became a choice name VGG8's parameters `backbone.blocks.0...`. Each variant is
/// visited as if it were the field itself, so those checkpoints load unchanged; the variants'
/// parameter names differ, so a checkpoint of one backbone does not load into another.
#[derive(Debug, Clone)]
// A network holds one backbone, never a collection of them: boxing would save nothing.
#[allow(clippy::large_enum_variant)]
pub enum Backbone {
    /// See [`Vgg8`].
    Vgg8(Vgg8),
    /// See [`ResNet`].
    ResNet(ResNet),
    /// See [`IResNet`].
    IResNet(IResNet),
}

/// Rebuilds the same variant around `$e`, evaluated with `$b` bound to the inner backbone.
macro_rules! each {
    ($backbone:expr, $b:ident => $e:expr) => {
        match $backbone {
            Backbone::Vgg8($b) => Backbone::Vgg8($e),
            Backbone::ResNet($b) => Backbone::ResNet($e),
            Backbone::IResNet($b) => Backbone::IResNet($e),
        }
    };
}

/// Evaluates `$e` with `$b` bound to the inner backbone, whichever it is.
macro_rules! with {
    ($backbone:expr, $b:ident => $e:expr) => {
        match $backbone {
            Backbone::Vgg8($b) => $e,
            Backbone::ResNet($b) => $e,
            Backbone::IResNet($b) => $e,
        }
    };
}

impl Backbone {
    /// Maps images to embeddings.
    ///
    /// # Shapes
    /// - images: `[batch, in_channels, height, width]`
    /// - output: `[batch, embedding_dim]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        with!(self, b => b.forward(images))
    }

    /// The same backbone using the kernels `options` select.
    pub fn with_kernel_options(self, options: KernelOptions) -> Self {
        each!(self, b => b.with_kernel_options(options))
    }

    /// Which of the own CPU kernels this backbone uses.
    pub fn kernel_options(&self) -> KernelOptions {
        with!(self, b => b.kernel_options())
    }
}

impl Module for Backbone {
    fn collect_devices(&self, devices: Devices) -> Devices {
        with!(self, b => b.collect_devices(devices))
    }

    fn fork(self, device: &Device) -> Self {
        each!(self, b => b.fork(device))
    }

    fn to_device(self, device: &Device) -> Self {
        each!(self, b => b.to_device(device))
    }

    fn train(self) -> Self {
        each!(self, b => b.train())
    }

    fn valid(&self) -> Self {
        each!(self, b => b.valid())
    }

    fn materialize(self) -> Self {
        each!(self, b => b.materialize())
    }

    fn visit<V: ModuleVisitor>(&self, visitor: &mut V) {
        with!(self, b => b.visit(visitor))
    }

    fn map<M: ModuleMapper>(self, mapper: &mut M) -> Self {
        each!(self, b => b.map(mapper))
    }
}

impl ModuleDisplayDefault for Backbone {
    fn content(&self, content: Content) -> Option<Content> {
        with!(self, b => b.content(content))
    }

    fn num_params(&self) -> usize {
        Module::num_params(self)
    }
}

impl ModuleDisplay for Backbone {}
