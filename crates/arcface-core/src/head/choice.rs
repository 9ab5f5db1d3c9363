//! Which head sits on the embedding: the softmax baseline or the cosine-margin head.

use burn::module::{
    Content, Devices, Module, ModuleDisplay, ModuleDisplayDefault, ModuleMapper, ModuleVisitor,
};
use burn::prelude::*;

use super::cosine::{CosineHead, CosineHeadConfig};
use super::output::HeadOutput;
use super::softmax::{SoftmaxHead, SoftmaxHeadConfig};
use crate::CoreError;

/// Which classification head sits on the embedding.
#[derive(Config, Debug)]
pub enum HeadConfig {
    /// The plain linear classifier (the seed's softmax baseline).
    Softmax(SoftmaxHeadConfig),
    /// Normalised features and weights with a margin (NormFace, CosFace, ArcFace, SphereFace,
    /// the combined margin, sub-center ArcFace).
    Cosine(CosineHeadConfig),
}

/// A classification head over embeddings.
///
/// Its [`Module`] impl is written out rather than derived so that each cosine head keeps the
/// checkpoint name of the paper's head it was before the heads became one module (see
/// [`CosineHead`]'s `record_name`): checkpoints of earlier runs load unchanged.
#[derive(Debug, Clone)]
pub enum Head {
    /// See [`SoftmaxHead`].
    Softmax(SoftmaxHead),
    /// See [`CosineHead`].
    Cosine(CosineHead),
}

impl HeadConfig {
    /// Checks the hyper-parameters without building anything.
    pub fn validate(&self) -> Result<(), CoreError> {
        match self {
            HeadConfig::Softmax(config) => config.validate(),
            HeadConfig::Cosine(config) => config.validate(),
        }
    }

    /// Checks the hyper-parameters and builds the head on `device`.
    pub fn init(&self, device: &Device) -> Result<Head, CoreError> {
        Ok(match self {
            HeadConfig::Softmax(config) => Head::Softmax(config.init(device)?),
            HeadConfig::Cosine(config) => Head::Cosine(config.init(device)?),
        })
    }
}

impl Head {
    /// Logits for `embeddings`; `targets` (class indices) place the margin.
    ///
    /// # Shapes
    /// - embeddings: `[batch, embedding_dim]`
    /// - targets: `[batch]`
    pub fn forward(&self, embeddings: Tensor<2>, targets: Tensor<1, Int>) -> HeadOutput {
        match self {
            Head::Softmax(head) => head.forward(embeddings),
            Head::Cosine(head) => head.forward(embeddings, targets),
        }
    }

    /// Margin-free logits, for prediction when no label is known.
    ///
    /// # Shapes
    /// - embeddings: `[batch, embedding_dim]`
    /// - output: `[batch, classes]`
    pub fn logits(&self, embeddings: Tensor<2>) -> Tensor<2> {
        match self {
            Head::Softmax(head) => head.forward(embeddings).logits,
            Head::Cosine(head) => head.logits(embeddings),
        }
    }

    /// The class-centre vectors (one row per class), as the head stores them: not normalised
    /// (except with sub-centres, where a row is the mean of the class's normalised sub-centres;
    /// see [`CosineHead::centers`]).
    ///
    /// # Shapes
    /// - output: `[classes, embedding_dim]`
    pub fn centers(&self) -> Tensor<2> {
        match self {
            Head::Softmax(head) => head.centers(),
            Head::Cosine(head) => head.centers(),
        }
    }

    /// Number of classes the head separates.
    pub fn num_classes(&self) -> usize {
        self.centers().dims()[0]
    }

    /// The module path segment of the head in checkpoints.
    fn record_name(&self) -> &'static str {
        match self {
            Head::Softmax(_) => "Softmax",
            Head::Cosine(head) => head.record_name(),
        }
    }
}

/// Rebuilds the same variant around `$e`, evaluated with `$h` bound to the inner head.
macro_rules! each {
    ($head:expr, $h:ident => $e:expr) => {
        match $head {
            Head::Softmax($h) => Head::Softmax($e),
            Head::Cosine($h) => Head::Cosine($e),
        }
    };
}

/// What burn's derive would write for an enum module, except for the path segment.
const CONTAINER: &str = "Enum:Head";

impl Module for Head {
    fn collect_devices(&self, devices: Devices) -> Devices {
        match self {
            Head::Softmax(head) => head.collect_devices(devices),
            Head::Cosine(head) => head.collect_devices(devices),
        }
    }

    fn fork(self, device: &Device) -> Self {
        each!(self, head => head.fork(device))
    }

    fn to_device(self, device: &Device) -> Self {
        each!(self, head => head.to_device(device))
    }

    fn train(self) -> Self {
        each!(self, head => head.train())
    }

    fn valid(&self) -> Self {
        each!(self, head => head.valid())
    }

    fn materialize(self) -> Self {
        each!(self, head => head.materialize())
    }

    fn visit<V: ModuleVisitor>(&self, visitor: &mut V) {
        let name = self.record_name();
        visitor.enter_module(name, CONTAINER);
        match self {
            Head::Softmax(head) => head.visit(visitor),
            Head::Cosine(head) => head.visit(visitor),
        }
        visitor.exit_module(name, CONTAINER);
    }

    fn map<M: ModuleMapper>(self, mapper: &mut M) -> Self {
        let name = self.record_name();
        mapper.enter_module(name, CONTAINER);
        let head = each!(self, head => head.map(mapper));
        mapper.exit_module(name, CONTAINER);
        head
    }
}

impl ModuleDisplayDefault for Head {
    fn content(&self, content: Content) -> Option<Content> {
        match self {
            Head::Softmax(head) => head.content(content),
            Head::Cosine(head) => head.content(content),
        }
    }

    fn num_params(&self) -> usize {
        Module::num_params(self)
    }
}

impl ModuleDisplay for Head {}
