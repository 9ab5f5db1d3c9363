//! Eval-mode batch norm as plain arrays: folded into the convolution or the linear layer beside
//! it, or as a per-channel affine map where folding would not be exact.

use anyhow::{Result, bail};
use burn::nn::{BatchNorm, Linear, PRelu, PaddingConfig2d, conv::Conv2d};
use burn::prelude::*;

use crate::onnx::{Array, Conv};

/// A parameter's values as f32 (`iter` converts each element, whatever the stored dtype).
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// Per channel `(scale, shift)` of an eval-mode batch norm: `y = x * scale + shift`, in f64.
fn bn_affine(bn: &BatchNorm) -> Vec<(f64, f64)> {
    let gamma = values(bn.gamma.val());
    let beta = values(bn.beta.val());
    let mean = values(bn.running_mean.value());
    let var = values(bn.running_var.value());
    (0..gamma.len())
        .map(|c| {
            let s = f64::from(gamma[c]) / (f64::from(var[c]) + bn.epsilon).sqrt();
            (s, f64::from(beta[c]) - f64::from(mean[c]) * s)
        })
        .collect()
}

/// An eval-mode batch norm as `(scale, shift)` per channel, in f32.
pub fn channel_affine(bn: &BatchNorm) -> (Vec<f32>, Vec<f32>) {
    bn_affine(bn)
        .into_iter()
        .map(|(s, t)| (s as f32, t as f32))
        .unzip()
}

/// PReLU's slopes, one per channel (a single shared slope repeated `channels` times).
pub fn prelu_slopes(prelu: &PRelu, channels: usize) -> Vec<f32> {
    let alpha = values(prelu.alpha.val());
    if alpha.len() == 1 {
        vec![alpha[0]; channels]
    } else {
        alpha
    }
}

/// `conv` then `bn` as one convolution.
pub fn conv_bn(conv: &Conv2d, bn: &BatchNorm) -> Result<Conv> {
    if conv.groups != 1 || conv.dilation != [1, 1] {
        bail!("cannot export a grouped or dilated convolution");
    }
    let pads = match conv.padding {
        PaddingConfig2d::Valid => [0; 4],
        // Burn's order is (top, left, bottom, right), ONNX's `pads` too.
        PaddingConfig2d::Explicit(top, left, bottom, right) => [top, left, bottom, right],
        PaddingConfig2d::Same => bail!("cannot export a convolution with `Same` padding"),
    };
    let w = conv.weight.val();
    let dims = w.dims();
    let w = values(w);
    let b = conv
        .bias
        .as_ref()
        .map_or_else(|| vec![0.0; dims[0]], |b| values(b.val()));
    let affine = bn_affine(bn);
    let per_out = dims[1] * dims[2] * dims[3];
    let weight = w
        .iter()
        .enumerate()
        .map(|(i, &v)| (f64::from(v) * affine[i / per_out].0) as f32)
        .collect();
    let bias = (0..dims[0])
        .map(|o| (f64::from(b[o]) * affine[o].0 + affine[o].1) as f32)
        .collect();
    Ok(Conv {
        weight: Array {
            shape: dims.to_vec(),
            data: weight,
        },
        bias: Array {
            shape: vec![dims[0]],
            data: bias,
        },
        stride: conv.stride,
        pads,
    })
}

/// `pre` (a BatchNorm2d on `[C, H, W]` features, if any), flatten, `linear`, `post`
/// (BatchNorm1d): one affine layer `x W' + b'` on the flattened features, `W'` `[features, dim]`.
/// Exact: nothing pads between these layers.
pub fn linear_bn(pre: Option<&BatchNorm>, linear: &Linear, post: &BatchNorm) -> (Array, Array) {
    let w = values(linear.weight.val());
    let [features, dim] = linear.weight.dims();
    let b = linear
        .bias
        .as_ref()
        .map_or_else(|| vec![0.0; dim], |b| values(b.val()));
    let pre = pre.map_or_else(|| vec![(1.0, 0.0)], bn_affine);
    let per_channel = features / pre.len();
    let post = bn_affine(post);
    let mut weight = vec![0f32; features * dim];
    let mut shift = vec![0f64; dim];
    for i in 0..features {
        let (s, t) = pre[i / per_channel];
        for j in 0..dim {
            let v = f64::from(w[i * dim + j]);
            weight[i * dim + j] = (v * s * post[j].0) as f32;
            shift[j] += t * v;
        }
    }
    let bias = (0..dim)
        .map(|j| ((f64::from(b[j]) + shift[j]) * post[j].0 + post[j].1) as f32)
        .collect();
    (
        Array {
            shape: vec![features, dim],
            data: weight,
        },
        Array {
            shape: vec![dim],
            data: bias,
        },
    )
}
