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
    /// The input image is too small for three 2x2 poolings.
    #[error(
        "input images of {height}x{width} are too small: the VGG8 backbone halves them three times and needs at least 8x8"
    )]
    InputTooSmall {
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
