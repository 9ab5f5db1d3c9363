//! Conv2d on plain `f32` slices in NCHW order, forward and backward, by one of two algorithms:
//!
//! - [`direct`]: 3x3 convs with stride 1 and padding 1 (all of VGG8's) as direct convolutions
//!   in AVX2 + FMA (AVX-512 for the forward kernel where allowed), where the CPU has them;
//! - [`im2col`]: every other shape (groups 1, dilation 1), or with the direct kernels off, as
//!   im2col + gemm per image.
//!
//! Both are leaves: the shapes they share are in `geom`, the split of a batch over rayon's
//! threads in `tasks`; this module only picks one.

mod direct;
mod geom;
mod im2col;
mod tasks;

pub use geom::{ConvGeom, ConvGrads};

use crate::options::KernelOptions;
use direct::Isa;

/// The direct kernels' vector width for `g`, or `None` where they do not compute it.
fn direct_isa(g: &ConvGeom, options: &KernelOptions) -> Option<Isa> {
    (g.batch > 0 && direct::applies(g))
        .then(|| Isa::allowed(options))
        .flatten()
}

/// `y = conv2d(x, weight) + bias`, NCHW. `weight` is `[c_out, c_in, kh, kw]`.
pub fn conv_forward(
    g: &ConvGeom,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    options: &KernelOptions,
) -> Vec<f32> {
    match direct_isa(g, options) {
        Some(isa) => direct::forward(g, x, weight, bias, isa),
        None => im2col::forward(g, x, weight, bias),
    }
}

/// Gradients of [`conv_forward`] (with the same `options`) given the output gradient `dy`
/// (NCHW); `need` says which of the input, weight and bias gradients to compute.
pub fn conv_backward(
    g: &ConvGeom,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    need: [bool; 3],
    options: &KernelOptions,
) -> ConvGrads {
    match direct_isa(g, options) {
        Some(isa) => direct::backward(g, x, weight, dy, need, isa),
        None => im2col::backward(g, x, weight, dy, need),
    }
}
