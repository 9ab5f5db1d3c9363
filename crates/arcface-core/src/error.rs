use thiserror::Error;

/// A model configuration that cannot be built.
#[derive(Debug, Error, PartialEq)]
pub enum CoreError {
    /// The embedding size is zero.
    #[error(
        "the embedding size must be at least 1 (got 0): the embedding is the vector that is drawn"
    )]
    ZeroEmbedding,
    /// The head needs at least two classes to be trained.
    #[error("the data set has {0} class(es); a classification head needs at least 2")]
    TooFewClasses(usize),
    /// The input image is smaller than the backbone's downsampling allows.
    #[error(
        "input images of {height}x{width} are too small: the {backbone} backbone needs at least {min}x{min}"
    )]
    InputTooSmall {
        /// The backbone's name (`vgg8`, `resnet18`, `iresnet18`).
        backbone: &'static str,
        /// The smallest side it takes, pixels.
        min: usize,
        /// Input height in pixels.
        height: usize,
        /// Input width in pixels.
        width: usize,
    },
    /// A scalar hyper-parameter is outside its meaningful range.
    #[error("the hyper-parameter {key} = {value} is out of range: expected {expected}")]
    OutOfRange {
        /// The hyper-parameter, as the head's config names it (`scale`, `margin`, `m1`..).
        key: &'static str,
        /// The value given.
        value: f64,
        /// What the hyper-parameter accepts.
        expected: &'static str,
    },
}
