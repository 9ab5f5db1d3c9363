//! Batch norm + ReLU on plain `f32` slices `[batch, channels, pixels]` (NCHW), forward and
//! backward: with the batch's statistics (training) or given ones (the running statistics).

#![allow(unsafe_code)]

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::lanes;
use crate::par_vec::zeroed;

/// Per-channel statistics of a `[batch, channels, pixels]` activation.
#[derive(Clone, Debug)]
pub struct BnStats {
    pub mean: Vec<f32>,
    /// Biased (divided by the number of values), as burn's running statistics use.
    pub var: Vec<f32>,
    pub inv_std: Vec<f32>,
}

/// `[batch, channels, pixels]` of an NCHW tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BnGeom {
    pub batch: usize,
    pub channels: usize,
    pub pixels: usize,
}

impl BnGeom {
    fn count(&self) -> f64 {
        (self.batch * self.pixels) as f64
    }

    /// The `pixels` values of channel `c` in image `n`.
    fn plane<'a>(&self, x: &'a [f32], n: usize, c: usize) -> &'a [f32] {
        let start = (n * self.channels + c) * self.pixels;
        &x[start..start + self.pixels]
    }
}

/// `relu(gamma * (x - mean) * inv_std + beta)` with the batch's own statistics.
pub fn bn_relu_forward(
    g: &BnGeom,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    s: &BnStats,
) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    let image = (g.channels * g.pixels).max(1);
    y.par_chunks_mut(image)
        .zip(x.par_chunks(image))
        .for_each(|(yi, xi)| {
            for c in 0..g.channels {
                let scale = gamma[c] * s.inv_std[c];
                let shift = beta[c] - s.mean[c] * scale;
                let range = c * g.pixels..(c + 1) * g.pixels;
                for (o, v) in yi[range.clone()].iter_mut().zip(&xi[range]) {
                    *o = (v * scale + shift).max(0.0);
                }
            }
        });
    y
}

/// The `batch` planes of each channel of a `[batch, channels, pixels]` buffer, as mutable
/// slices grouped by channel, so that one task per channel can write its own.
fn planes_by_channel<'a, T>(g: &BnGeom, v: &'a mut [T]) -> Vec<Vec<&'a mut [T]>> {
    let mut by_channel: Vec<Vec<&mut [T]>> = (0..g.channels)
        .map(|_| Vec::with_capacity(g.batch))
        .collect();
    for (i, plane) in v.chunks_exact_mut(g.pixels.max(1)).enumerate() {
        by_channel[i % g.channels.max(1)].push(plane);
    }
    by_channel
}

/// Batch statistics (two passes, mean then squared deviations, with f64 across planes) and
/// `relu(gamma * (x - mean) * inv_std + beta)`, in one task per channel: the channel's values
/// are still in cache for the last pass, and it is one parallel section instead of two.
pub fn bn_relu_train(
    g: &BnGeom,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f64,
) -> (Vec<f32>, BnStats) {
    let len = g.batch * g.channels * g.pixels;
    assert_eq!(
        x.len(),
        len,
        "bn_relu_train: x is not [batch, channels, pixels]"
    );
    // Not zeroed first: the tasks below write every value (the planes cover `0..len`).
    let mut y: Vec<f32> = Vec::with_capacity(len);
    let per_channel: Vec<(f32, f32, f32)> =
        planes_by_channel(g, &mut y.spare_capacity_mut()[..len])
            .into_par_iter()
            .enumerate()
            .map(|(c, planes)| {
                let sum: f64 = (0..g.batch)
                    .map(|n| lanes::sum(g.plane(x, n, c)) as f64)
                    .sum();
                let mean = (sum / g.count()) as f32;
                let sq: f64 = (0..g.batch)
                    .map(|n| lanes::sum_sq_dev(g.plane(x, n, c), mean) as f64)
                    .sum();
                let var = (sq / g.count()) as f32;
                let inv_std = (1.0 / (var as f64 + epsilon).sqrt()) as f32;
                let scale = gamma[c] * inv_std;
                let shift = beta[c] - mean * scale;
                for (n, out) in planes.into_iter().enumerate() {
                    for (o, v) in out.iter_mut().zip(g.plane(x, n, c)) {
                        o.write((v * scale + shift).max(0.0));
                    }
                }
                (mean, var, inv_std)
            })
            .collect();
    // SAFETY: the planes of `planes_by_channel` cover `0..len` of the spare capacity (which
    // holds at least `len` values; `len` is a whole number of planes) and each task wrote all
    // of its planes; a panic in a task propagates out of `collect` before this line.
    unsafe { y.set_len(len) };
    let mut stats = BnStats {
        mean: Vec::with_capacity(g.channels),
        var: Vec::with_capacity(g.channels),
        inv_std: Vec::with_capacity(g.channels),
    };
    for (mean, var, inv_std) in per_channel {
        stats.mean.push(mean);
        stats.var.push(var);
        stats.inv_std.push(inv_std);
    }
    (y, stats)
}

/// What [`bn_relu_backward`] computes; `x` is `None` where not asked for.
pub struct BnGrads {
    pub x: Option<Vec<f32>>,
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
}

/// Gradients of [`bn_relu_forward`] given its output `y` and output gradient `dy`.
///
/// With `gr = dy` where `y > 0` (else 0) and `xhat = (x - mean) * inv_std`:
/// `dbeta = sum gr`, `dgamma = sum gr * xhat`, and
/// `dx = gamma * inv_std * (gr - dbeta / m - xhat * dgamma / m)` over the `m` values of a channel.
pub fn bn_relu_backward(
    g: &BnGeom,
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    gamma: &[f32],
    s: &BnStats,
    need_x: bool,
) -> BnGrads {
    let m = g.count() as f32;
    let len = g.batch * g.channels * g.pixels;
    assert_eq!(
        x.len(),
        len,
        "bn_relu_backward: x is not [batch, channels, pixels]"
    );
    // Not zeroed here, on the calling thread: each task zeroes its planes before writing them.
    let mut dx: Vec<f32> = Vec::with_capacity(if need_x { len } else { 0 });
    // One task per channel: its two sums, then (with the channel's values still in cache) its
    // input gradient.
    let dx_planes: Vec<Option<Vec<&mut [MaybeUninit<f32>]>>> = if need_x && g.pixels > 0 {
        planes_by_channel(g, &mut dx.spare_capacity_mut()[..len])
            .into_iter()
            .map(Some)
            .collect()
    } else {
        (0..g.channels).map(|_| None).collect()
    };
    let sums: Vec<(f32, f32)> = dx_planes
        .into_par_iter()
        .enumerate()
        .map(|(c, planes)| {
            let mean = s.mean[c];
            let (mut sum_g, mut sum_gx) = (0.0f64, 0.0f64);
            for n in 0..g.batch {
                let (xs, ys, gs) = (g.plane(x, n, c), g.plane(y, n, c), g.plane(dy, n, c));
                let [a, b] = lanes::relu_grad_sums(xs, ys, gs, mean);
                sum_g += a as f64;
                sum_gx += b as f64;
            }
            let (beta_grad, gamma_grad) = (sum_g as f32, (sum_gx * s.inv_std[c] as f64) as f32);
            if let Some(planes) = planes {
                let scale = gamma[c] * s.inv_std[c];
                // dx = scale * gr - k * (x - mean) - scale * dbeta / m
                let k = scale * s.inv_std[c] * gamma_grad / m;
                let offset = k * mean - scale * beta_grad / m;
                for (n, out) in planes.into_iter().enumerate() {
                    lanes::relu_grad_dx(
                        zeroed(out),
                        g.plane(x, n, c),
                        g.plane(y, n, c),
                        g.plane(dy, n, c),
                        [scale, k, offset],
                    );
                }
            }
            (beta_grad, gamma_grad)
        })
        .collect();
    if need_x {
        // SAFETY: with `need_x` the capacity is `len`, the planes cover `0..len` and each task
        // zeroed and wrote all of its planes (with no pixels, `len` is 0); a panic in a task
        // propagates out of `collect` before this line.
        unsafe { dx.set_len(len) };
    }
    let (beta_grad, gamma_grad): (Vec<f32>, Vec<f32>) = sums.into_iter().unzip();
    BnGrads {
        x: need_x.then_some(dx),
        gamma: gamma_grad,
        beta: beta_grad,
    }
}

/// `1 / sqrt(var + epsilon)` per channel, in f64 before the final rounding: batch norm with
/// given statistics, here and folded into a conv (`conv::conv_bn_relu_inference`).
pub(crate) fn inv_std(var: &[f32], epsilon: f64) -> Vec<f32> {
    var.iter()
        .map(|&v| (1.0 / (f64::from(v) + epsilon).sqrt()) as f32)
        .collect()
}

/// Batch norm with given statistics (the running ones, outside training) followed by ReLU:
/// [`bn_relu_forward`] with `inv_std` from `var`.
pub fn bn_relu_inference(
    g: &BnGeom,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    epsilon: f64,
) -> Vec<f32> {
    let stats = BnStats {
        mean: mean.to_vec(),
        var: var.to_vec(),
        inv_std: inv_std(var, epsilon),
    };
    bn_relu_forward(g, x, gamma, beta, &stats)
}
