//! Conv2d on plain `f32` slices in NCHW order, forward and backward, by one of three algorithms:
//!
//! - [`direct`]: 3x3 convs with stride 1 and padding 1 (all of VGG8's) as direct convolutions
//!   in AVX2 + FMA (AVX-512 for the forward kernel where allowed), where the CPU has them;
//! - [`winograd`]: the same 3x3 convs' forward and input gradient by Winograd's F(2x2, 3x3),
//!   with 2.25x fewer multiplications (AVX2 + FMA; the weight gradient stays direct);
//! - [`im2col`]: every other shape (groups 1, dilation 1), or with the direct kernels off, as
//!   im2col + gemm per image.
//!
//! Both are leaves: the shapes they share are in `geom`, the split of a batch over rayon's
//! threads in `tasks`; this module only picks one.

mod direct;
mod geom;
mod im2col;
mod tasks;
mod winograd;

pub use geom::{ConvGeom, ConvGrads};

use crate::batch_norm::inv_std;
use crate::max_pool::{PoolGeom, max_pool2x2_forward};
use crate::options::KernelOptions;
use direct::Isa;

/// The direct kernels' vector width for `g`, or `None` where they do not compute it.
fn direct_isa(g: &ConvGeom, options: &KernelOptions) -> Option<Isa> {
    (g.batch > 0 && direct::applies(g))
        .then(|| Isa::allowed(options))
        .flatten()
}

/// Whether Winograd computes a conv of `ins` input channels (the forward's `c_in`, the input
/// gradient's `c_out`) that the direct kernels compute: from [`WINOGRAD_LEAST_INS`] on, where
/// its transforms, paid once per input and once per output channel, are shared by enough
/// products.
fn by_winograd(ins: usize, options: &KernelOptions) -> bool {
    options.winograd && ins >= WINOGRAD_LEAST_INS
}

/// See [`by_winograd`]: with one input channel (VGG8's first conv on digits) the direct kernel
/// measured faster.
const WINOGRAD_LEAST_INS: usize = 4;

/// `y = conv2d(x, weight) + bias`, NCHW. `weight` is `[c_out, c_in, kh, kw]`.
pub fn conv_forward(
    g: &ConvGeom,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    options: &KernelOptions,
) -> Vec<f32> {
    match direct_isa(g, options) {
        Some(_) if by_winograd(g.c_in, options) => {
            let tail = winograd::Tail {
                bias,
                ..winograd::Tail::default()
            };
            winograd::forward(g, x, weight, tail)
        }
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
        Some(isa) => direct::backward(g, x, weight, dy, need, isa, by_winograd(g.c_out, options)),
        None => im2col::backward(g, x, weight, dy, need),
    }
}

/// Batch norm with given statistics (the running ones: validation, snapshots), as
/// `[gamma, beta, mean, var]` per channel and its epsilon.
#[derive(Clone, Copy, Debug)]
pub struct BnInference<'a> {
    pub params: [&'a [f32]; 4],
    pub epsilon: f64,
}

/// `relu(batch_norm(conv2d(x, weight) + bias))` with `bn`'s statistics, NCHW, in one pass:
/// the batch norm is folded into the conv (`weight * s`, `(bias - mean) * s + beta` with `s =
/// gamma / sqrt(var + epsilon)`) and the ReLU applied as the outputs are written (Winograd),
/// or after the conv (the other paths). Why: in the eval-mode forward the separate batch
/// norm + ReLU pass and its zeroed output were ~12 % of the time.
///
/// With `pool`, a 2x2 max-pool with stride 2 follows (output `[batch, c_out, h / 2, w / 2]`):
/// by Winograd each tile's four outputs are one pooling window, so only the pooled values are
/// written.
pub fn conv_bn_relu_inference(
    g: &ConvGeom,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    bn: BnInference,
    pool: bool,
    options: &KernelOptions,
) -> Vec<f32> {
    let [gamma, beta, mean, var] = bn.params;
    let per_out = weight.len() / g.c_out.max(1);
    let scale: Vec<f32> = gamma
        .iter()
        .zip(inv_std(var, bn.epsilon))
        .map(|(g, s)| g * s)
        .collect();
    let folded: Vec<f32> = weight
        .iter()
        .enumerate()
        .map(|(i, w)| w * scale[i / per_out.max(1)])
        .collect();
    let shift: Vec<f32> = (0..g.c_out)
        .map(|c| bias.map_or(0.0, |b| b[c]) * scale[c] + (beta[c] - mean[c] * scale[c]))
        .collect();
    match direct_isa(g, options) {
        Some(_) if by_winograd(g.c_in, options) => {
            let tail = winograd::Tail {
                bias: Some(&shift),
                relu: true,
                pool,
            };
            winograd::forward(g, x, &folded, tail)
        }
        _ => {
            let mut y = conv_forward(g, x, &folded, Some(&shift), options);
            for v in &mut y {
                *v = v.max(0.0);
            }
            if !pool {
                return y;
            }
            let geom = PoolGeom {
                planes: g.batch * g.c_out,
                h: g.out_h,
                w: g.out_w,
            };
            max_pool2x2_forward(&geom, &y)
        }
    }
}
