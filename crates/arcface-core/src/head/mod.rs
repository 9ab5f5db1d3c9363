//! The classification heads: the softmax baseline and one cosine head whose [`Margin`] makes it
//! NormFace, CosFace, ArcFace, SphereFace, the combined margin or (with sub-centres)
//! sub-center ArcFace.

mod choice;
mod cosine;
mod margin;
mod output;
mod shape;
mod softmax;
#[cfg(test)]
pub(crate) mod test_util;
#[cfg(test)]
mod tests;

pub use choice::{Head, HeadConfig};
pub use cosine::{CosineHead, CosineHeadConfig};
pub use margin::{Margin, ThetaOverflow};
pub use output::HeadOutput;
pub use softmax::{SoftmaxHead, SoftmaxHeadConfig};
