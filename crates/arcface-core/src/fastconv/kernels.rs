//! Conv2d and batch norm + ReLU on plain `f32` slices in NCHW order, forward and backward.
//!
//! Conv2d is im2col + gemm per image, so the output comes out in NCHW order with no transpose;
//! images are spread over rayon's threads, each with its own im2col buffer (small enough to
//! stay in cache, and recomputed in the backward pass rather than kept: reading it back from
//! memory costs more than rebuilding it from the input).

use std::cell::RefCell;

use rayon::prelude::*;

use super::alloc::par_parts;
use super::lanes;
use super::matmul::{Mat, matmul};
use super::pool_rows;

thread_local! {
    /// One im2col buffer per (rayon) thread, kept between calls: a fresh buffer of this size
    /// per image would be a fresh mapping from the allocator, paid for in page faults.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's scratch buffer of `len` values (contents unspecified).
pub(super) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    // Taken out rather than borrowed, so that a nested call (none today) would get a buffer of
    // its own instead of a panic.
    let mut buf = SCRATCH.take();
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    let out = f(&mut buf[..len]);
    SCRATCH.set(buf);
    out
}

/// Images whose im2col matrices sit side by side in one gemm: small images (deep layers) make
/// too narrow a matrix for gemm's kernels on their own.
fn images_per_gemm(pixels: usize, per_task: usize) -> usize {
    const MIN_COLUMNS: usize = 384;
    MIN_COLUMNS
        .div_ceil(pixels.max(1))
        .clamp(1, per_task.max(1))
}

/// Images per rayon task: a few tasks per thread, so that work stealing can even out a thread
/// slowed by other processes.
pub(super) fn images_per_task(batch: usize) -> usize {
    batch
        .div_ceil(4 * rayon::current_num_threads().max(1))
        .max(1)
}

/// Shapes of one conv2d (groups 1, dilation 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConvGeom {
    pub batch: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    /// `[vertical, horizontal]`.
    pub stride: [usize; 2],
    /// Zero rows above and columns left of the input.
    pub pad_top: usize,
    pub pad_left: usize,
    pub out_h: usize,
    pub out_w: usize,
}

impl ConvGeom {
    /// `None` where the kernel does not fit in the padded input or a stride is zero.
    pub fn new(
        [batch, c_in, h, w]: [usize; 4],
        [c_out, kh, kw]: [usize; 3],
        stride: [usize; 2],
        [(pad_top, pad_bottom), (pad_left, pad_right)]: [(usize, usize); 2],
    ) -> Option<Self> {
        let padded_h = h + pad_top + pad_bottom;
        let padded_w = w + pad_left + pad_right;
        if stride.contains(&0) || kh == 0 || kw == 0 || padded_h < kh || padded_w < kw {
            return None;
        }
        Some(Self {
            batch,
            c_in,
            h,
            w,
            c_out,
            kh,
            kw,
            stride,
            pad_top,
            pad_left,
            out_h: (padded_h - kh) / stride[0] + 1,
            out_w: (padded_w - kw) / stride[1] + 1,
        })
    }

    /// Rows of the im2col matrix: `c_in * kh * kw`.
    pub fn k(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// Output pixels per channel.
    pub fn p(&self) -> usize {
        self.out_h * self.out_w
    }

    pub fn in_image(&self) -> usize {
        self.c_in * self.h * self.w
    }

    pub fn out_image(&self) -> usize {
        self.c_out * self.p()
    }

    /// Output columns `[lo, hi)` that read input column `ox * stride + kj - pad_left` inside the
    /// image, for stride 1.
    fn valid_cols(&self, kj: usize) -> (usize, usize) {
        let lo = self.pad_left.saturating_sub(kj).min(self.out_w);
        let hi = (self.w + self.pad_left).saturating_sub(kj).min(self.out_w);
        (lo, hi.max(lo))
    }

    /// The input row read by output row `oy` for kernel row `ki`, if inside the image.
    fn in_row(&self, oy: usize, ki: usize) -> Option<usize> {
        (oy * self.stride[0] + ki)
            .checked_sub(self.pad_top)
            .filter(|&iy| iy < self.h)
    }

    /// The input column read by output column `ox` for kernel column `kj`, if inside.
    fn in_col(&self, ox: usize, kj: usize) -> Option<usize> {
        (ox * self.stride[1] + kj)
            .checked_sub(self.pad_left)
            .filter(|&ix| ix < self.w)
    }
}

/// Rearranges one image `[c_in, h, w]` into columns `offset..offset + p` of `col[k, ld]`: row
/// `(ci, ki, kj)` holds the input pixel each output pixel multiplies with weight `(ci, ki, kj)`,
/// zero in the padding.
fn im2col(g: &ConvGeom, x: &[f32], col: &mut [f32], ld: usize, offset: usize) {
    let (p, ow) = (g.p(), g.out_w);
    for ci in 0..g.c_in {
        let plane = &x[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (ci * g.kh + ki) * g.kw + kj;
                let dst = &mut col[row * ld + offset..row * ld + offset + p];
                let (lo, hi) = g.valid_cols(kj);
                for oy in 0..g.out_h {
                    let drow = &mut dst[oy * ow..(oy + 1) * ow];
                    let Some(iy) = g.in_row(oy, ki) else {
                        drow.fill(0.0);
                        continue;
                    };
                    let src = &plane[iy * g.w..(iy + 1) * g.w];
                    if g.stride[1] == 1 {
                        drow[..lo].fill(0.0);
                        let start = lo + kj - g.pad_left;
                        drow[lo..hi].copy_from_slice(&src[start..start + hi - lo]);
                        drow[hi..].fill(0.0);
                    } else {
                        for (ox, d) in drow.iter_mut().enumerate() {
                            *d = g.in_col(ox, kj).map_or(0.0, |ix| src[ix]);
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds every value of columns `offset..offset + p` of `col[k, ld]`
/// back onto the input pixel it came from. `dx` must start zeroed.
fn col2im(g: &ConvGeom, col: &[f32], ld: usize, offset: usize, dx: &mut [f32]) {
    let (p, ow) = (g.p(), g.out_w);
    for ci in 0..g.c_in {
        let plane = &mut dx[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (ci * g.kh + ki) * g.kw + kj;
                let src = &col[row * ld + offset..row * ld + offset + p];
                let (lo, hi) = g.valid_cols(kj);
                for oy in 0..g.out_h {
                    let Some(iy) = g.in_row(oy, ki) else {
                        continue;
                    };
                    let srow = &src[oy * ow..(oy + 1) * ow];
                    let drow = &mut plane[iy * g.w..(iy + 1) * g.w];
                    if g.stride[1] == 1 {
                        let start = lo + kj - g.pad_left;
                        for (d, s) in drow[start..start + hi - lo].iter_mut().zip(&srow[lo..hi]) {
                            *d += s;
                        }
                    } else {
                        for (ox, s) in srow.iter().enumerate() {
                            if let Some(ix) = g.in_col(ox, kj) {
                                drow[ix] += s;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `y = conv2d(x, weight) + bias`, NCHW. `weight` is `[c_out, c_in, kh, kw]`.
pub(crate) fn conv_forward(
    g: &ConvGeom,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    if g.batch > 0
        && let Some(y) = super::direct::forward(g, x, weight, bias)
    {
        return y;
    }
    let (k, p) = (g.k(), g.p());
    let mut y = vec![0.0; g.batch * g.out_image()];
    if y.is_empty() {
        return y;
    }
    let w = Mat::rows(weight, g.c_out, k);
    let per_task = images_per_task(g.batch);
    let group = images_per_gemm(p, per_task);
    y.par_chunks_mut(per_task * g.out_image())
        .zip(x.par_chunks(per_task * g.in_image().max(1)))
        .for_each(|(ys, xs)| {
            let cols = group * p;
            let staging = if group > 1 { g.c_out * cols } else { 0 };
            with_scratch(k * cols + staging, |buf| {
                let (col, out) = buf.split_at_mut(k * cols);
                for (yg, xg) in ys
                    .chunks_mut(group * g.out_image())
                    .zip(xs.chunks(group * g.in_image().max(1)))
                {
                    let m = yg.len() / g.out_image();
                    let ld = m * p;
                    for (j, xi) in xg.chunks(g.in_image().max(1)).enumerate() {
                        im2col(g, xi, col, ld, j * p);
                    }
                    let col = Mat {
                        data: col,
                        rows: k,
                        cols: ld,
                        row_stride: ld,
                        col_stride: 1,
                    };
                    if m == 1 {
                        if let Some(bias) = bias {
                            for (row, &b) in yg.chunks_mut(p).zip(bias) {
                                row.fill(b);
                            }
                        }
                        matmul(yg, bias.is_some(), w, col);
                    } else {
                        // [c_out, m * p] -> m images of [c_out, p].
                        matmul(out, false, w, col);
                        for (j, yi) in yg.chunks_mut(g.out_image()).enumerate() {
                            for (co, row) in yi.chunks_mut(p).enumerate() {
                                let b = bias.map_or(0.0, |b| b[co]);
                                let src = &out[co * ld + j * p..co * ld + (j + 1) * p];
                                for (d, v) in row.iter_mut().zip(src) {
                                    *d = v + b;
                                }
                            }
                        }
                    }
                }
            })
        });
    y
}

/// What [`conv_backward`] computes; `None` where not asked for.
pub(crate) struct ConvGrads {
    pub x: Option<Vec<f32>>,
    pub weight: Option<Vec<f32>>,
    pub bias: Option<Vec<f32>>,
}

thread_local! {
    /// Per-thread override of `ARCFACE_DX_AS_CONV`, for the tests.
    static DX_AS_CONV: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Whether [`conv_backward`] computes the input gradient as a convolution where it can
/// (`ARCFACE_DX_AS_CONV=1`, read once per process). Off by default: on the development
/// machine it was ~5 % faster for the 16->16 conv at 28x28, 5-20 % slower for the 32->64 and
/// 64->64 convs at 7x7 (the im2col of the output gradient has `c_out * kh * kw` rows, col2im
/// `c_in * kh * kw`, and the output gradient is read in a second pass), and no faster overall.
fn dx_as_conv_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    DX_AS_CONV.get().unwrap_or_else(|| {
        *ON.get_or_init(|| {
            matches!(
                std::env::var("ARCFACE_DX_AS_CONV")
                    .as_deref()
                    .map(str::trim),
                Ok("1" | "true" | "on" | "yes")
            )
        })
    })
}

/// Runs `f` with the input gradient as a convolution forced on or off on this thread.
#[cfg(test)]
pub(crate) fn with_dx_as_conv<R>(on: bool, f: impl FnOnce() -> R) -> R {
    let before = DX_AS_CONV.replace(Some(on));
    let out = f();
    DX_AS_CONV.set(before);
    out
}

/// The geometry of the input gradient as a convolution of the output gradient: stride 1,
/// `c_out` channels in and `c_in` out, padding `kernel - 1 - pad` on each side. `None` for
/// other strides or padding wider than `kernel - 1` (there the output gradient would need
/// cropping).
fn input_grad_geom(g: &ConvGeom) -> Option<ConvGeom> {
    if g.stride != [1, 1] {
        return None;
    }
    // With stride 1, out = in + pad_before + pad_after - kernel + 1.
    let pad_bottom = (g.out_h + g.kh - 1).checked_sub(g.h + g.pad_top)?;
    let pad_right = (g.out_w + g.kw - 1).checked_sub(g.w + g.pad_left)?;
    let flip = |kernel: usize, pad: usize| (kernel - 1).checked_sub(pad);
    let gt = ConvGeom::new(
        [g.batch, g.c_out, g.out_h, g.out_w],
        [g.c_in, g.kh, g.kw],
        [1, 1],
        [
            (flip(g.kh, g.pad_top)?, flip(g.kh, pad_bottom)?),
            (flip(g.kw, g.pad_left)?, flip(g.kw, pad_right)?),
        ],
    )?;
    (gt.out_h == g.h && gt.out_w == g.w).then_some(gt)
}

/// `[c_out, c_in, kh, kw]` weights as `[c_in, c_out, kh, kw]`, each kernel rotated by 180°.
fn flip_weight(g: &ConvGeom, weight: &[f32]) -> Vec<f32> {
    let taps = g.kh * g.kw;
    let mut wt = vec![0.0; weight.len()];
    for co in 0..g.c_out {
        for ci in 0..g.c_in {
            let src = &weight[(co * g.c_in + ci) * taps..][..taps];
            let dst = &mut wt[(ci * g.c_out + co) * taps..][..taps];
            for (d, s) in dst.iter_mut().zip(src.iter().rev()) {
                *d = *s;
            }
        }
    }
    wt
}

/// Gradients of [`conv_forward`] given the output gradient `dy` (NCHW).
///
/// Each rayon task takes a run of images and accumulates its own weight and bias gradient,
/// summed at the end, so that `dy` is read once for all three gradients.
pub(crate) fn conv_backward(
    g: &ConvGeom,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    [need_x, need_w, need_b]: [bool; 3],
) -> ConvGrads {
    if g.batch > 0
        && let Some(grads) = super::direct::backward(g, x, weight, dy, [need_x, need_w, need_b])
    {
        return grads;
    }
    let (k, p) = (g.k(), g.p());
    // With stride 1 the input gradient is itself a convolution (of the output gradient, with
    // the flipped, channel-transposed weights): one im2col + gemm with inner dimension
    // c_out * kh * kw straight into dx, instead of a gemm with inner dimension c_out into a
    // `[k, pixels]` buffer scattered back by col2im.
    let dx_as_conv = if need_x && dx_as_conv_enabled() {
        input_grad_geom(g)
    } else {
        None
    };
    if let Some(gt) = dx_as_conv {
        let wt = flip_weight(g, weight);
        let dx = conv_forward(&gt, dy, &wt, None);
        let rest = conv_backward(g, x, weight, dy, [false, need_w, need_b]);
        return ConvGrads {
            x: Some(dx),
            ..rest
        };
    }
    let mut dx = vec![0.0; if need_x { x.len() } else { 0 }];
    let images_per_task = images_per_task(g.batch);
    let tasks = g.batch.div_ceil(images_per_task);
    let dx_chunks: Vec<Option<&mut [f32]>> = if need_x && !dx.is_empty() {
        dx.chunks_mut(images_per_task * g.in_image())
            .map(Some)
            .collect()
    } else {
        (0..tasks).map(|_| None).collect()
    };
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dx_chunks
        .into_par_iter()
        .enumerate()
        .map(|(task, mut dx_chunk)| {
            let mut dw = vec![0.0; if need_w { g.c_out * k } else { 0 }];
            let mut db = vec![0.0; if need_b { g.c_out } else { 0 }];
            let first = task * images_per_task;
            let last = (first + images_per_task).min(g.batch);
            let group = images_per_gemm(p, images_per_task);
            let cols = group * p;
            let staging = if group > 1 { g.c_out * cols } else { 0 };
            let col_len = if need_w || need_x { k * cols } else { 0 };
            with_scratch(col_len + staging, |buf| {
                let (col, gathered) = buf.split_at_mut(col_len);
                for group_first in (first..last).step_by(group) {
                    let m = group.min(last - group_first);
                    let ld = m * p;
                    let dyg = &dy[group_first * g.out_image()..(group_first + m) * g.out_image()];
                    if need_b {
                        for dyi in dyg.chunks(g.out_image()) {
                            for (acc, row) in db.iter_mut().zip(dyi.chunks(p)) {
                                *acc += lanes::sum(row);
                            }
                        }
                    }
                    // The output gradient as one [c_out, m * p] matrix.
                    let dy_mat = if m == 1 {
                        Mat::rows(dyg, g.c_out, p)
                    } else {
                        for (j, dyi) in dyg.chunks(g.out_image()).enumerate() {
                            for (co, row) in dyi.chunks(p).enumerate() {
                                gathered[co * ld + j * p..co * ld + (j + 1) * p]
                                    .copy_from_slice(row);
                            }
                        }
                        Mat::rows(&gathered[..g.c_out * ld], g.c_out, ld)
                    };
                    if need_w {
                        for j in 0..m {
                            let n = group_first + j;
                            let xi = &x[n * g.in_image()..(n + 1) * g.in_image()];
                            im2col(g, xi, col, ld, j * p);
                        }
                        matmul(
                            &mut dw,
                            group_first > first,
                            dy_mat,
                            Mat::transposed(&col[..k * ld], k, ld),
                        );
                    }
                    if let Some(dx_chunk) = dx_chunk.as_deref_mut() {
                        // dcol = weight^T * dy, reusing the im2col buffer.
                        matmul(col, false, Mat::transposed(weight, g.c_out, k), dy_mat);
                        for j in 0..m {
                            let i = group_first - first + j;
                            let dxi = &mut dx_chunk[i * g.in_image()..(i + 1) * g.in_image()];
                            col2im(g, col, ld, j * p, dxi);
                        }
                    }
                }
            });
            (dw, db)
        })
        .collect();
    let weight_grad = need_w.then(|| sum_parts(partials.iter().map(|t| t.0.as_slice())));
    let bias_grad = need_b.then(|| sum_parts(partials.iter().map(|t| t.1.as_slice())));
    ConvGrads {
        x: need_x.then_some(dx),
        weight: weight_grad,
        bias: bias_grad,
    }
}

/// Element-wise sum of equally long parts.
pub(super) fn sum_parts<'a>(mut parts: impl Iterator<Item = &'a [f32]>) -> Vec<f32> {
    let mut total = parts.next().map(<[f32]>::to_vec).unwrap_or_default();
    for part in parts {
        for (t, v) in total.iter_mut().zip(part) {
            *t += v;
        }
    }
    total
}

/// Per-channel statistics of a `[batch, channels, pixels]` activation.
#[derive(Clone, Debug)]
pub(crate) struct BnStats {
    pub mean: Vec<f32>,
    /// Biased (divided by the number of values), as burn's running statistics use.
    pub var: Vec<f32>,
    pub inv_std: Vec<f32>,
}

/// `[batch, channels, pixels]` of an NCHW tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BnGeom {
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
pub(crate) fn bn_relu_forward(
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
fn planes_by_channel<'a>(g: &BnGeom, v: &'a mut [f32]) -> Vec<Vec<&'a mut [f32]>> {
    let mut by_channel: Vec<Vec<&mut [f32]>> = (0..g.channels)
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
pub(crate) fn bn_relu_train(
    g: &BnGeom,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f64,
) -> (Vec<f32>, BnStats) {
    let mut y = vec![0.0; x.len()];
    let per_channel: Vec<(f32, f32, f32)> = planes_by_channel(g, &mut y)
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
                    *o = (v * scale + shift).max(0.0);
                }
            }
            (mean, var, inv_std)
        })
        .collect();
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
pub(crate) struct BnGrads {
    pub x: Option<Vec<f32>>,
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
}

/// Gradients of [`bn_relu_forward`] given its output `y` and output gradient `dy`.
///
/// With `gr = dy` where `y > 0` (else 0) and `xhat = (x - mean) * inv_std`:
/// `dbeta = sum gr`, `dgamma = sum gr * xhat`, and
/// `dx = gamma * inv_std * (gr - dbeta / m - xhat * dgamma / m)` over the `m` values of a channel.
pub(crate) fn bn_relu_backward(
    g: &BnGeom,
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    gamma: &[f32],
    s: &BnStats,
    need_x: bool,
) -> BnGrads {
    let m = g.count() as f32;
    let mut dx = vec![0.0; if need_x { x.len() } else { 0 }];
    // One task per channel: its two sums, then (with the channel's values still in cache) its
    // input gradient.
    let dx_planes: Vec<Option<Vec<&mut [f32]>>> = if need_x && g.pixels > 0 {
        planes_by_channel(g, &mut dx)
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
                        out,
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
    let (beta_grad, gamma_grad): (Vec<f32>, Vec<f32>) = sums.into_iter().unzip();
    BnGrads {
        x: need_x.then_some(dx),
        gamma: gamma_grad,
        beta: beta_grad,
    }
}

/// Batch norm with given statistics (the running ones, outside training) followed by ReLU:
/// [`bn_relu_forward`] with `inv_std` from `var`.
pub(crate) fn bn_relu_inference(
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
        inv_std: var
            .iter()
            .map(|&v| (1.0 / (v as f64 + epsilon).sqrt()) as f32)
            .collect(),
    };
    bn_relu_forward(g, x, gamma, beta, &stats)
}

/// `[planes, h, w]` (planes = batch * channels) of a 2x2 max-pool with stride 2 and no
/// padding; a last odd row or column is dropped, as burn's floor mode does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PoolGeom {
    pub planes: usize,
    pub h: usize,
    pub w: usize,
}

impl PoolGeom {
    pub fn out_h(&self) -> usize {
        self.h / 2
    }

    pub fn out_w(&self) -> usize {
        self.w / 2
    }

    fn planes_per_task(&self) -> usize {
        self.planes
            .div_ceil(4 * rayon::current_num_threads().max(1))
            .max(1)
    }
}

/// All ones where `b`, else zero.
#[inline(always)]
fn mask(b: bool) -> u32 {
    0u32.wrapping_sub(u32::from(b))
}

/// `yes` where `m` is all ones, `no` where it is zero.
#[inline(always)]
fn pick(m: u32, yes: f32, no: f32) -> f32 {
    f32::from_bits((yes.to_bits() & m) | (no.to_bits() & !m))
}

/// The gradient `g` of a 2x2 window `[a, b, c, d]` (row-major) routed to its maximum: the
/// first of equal largest values, and the last NaN if there is one (NaN wins), as burn's
/// max-pool picks it. Bit masks rather than selects: the winner is data-dependent and
/// branches on it mispredicted (~17 ns a window).
#[inline(always)]
fn window_grads(a: f32, b: f32, c: f32, d: f32, g: f32) -> [f32; 4] {
    let tb = mask((b > a) | b.is_nan());
    let best = pick(tb, b, a);
    let tc = mask((c > best) | c.is_nan());
    let best = pick(tc, c, best);
    let td = mask((d > best) | d.is_nan());
    let g = g.to_bits();
    [
        f32::from_bits(g & !(tb | tc | td)),
        f32::from_bits(g & tb & !(tc | td)),
        f32::from_bits(g & tc & !td),
        f32::from_bits(g & td),
    ]
}

/// The maximum of a 2x2 window, NaN if any value is NaN: the value [`window_grads`] routes to.
#[inline(always)]
fn window_max(a: f32, b: f32, c: f32, d: f32) -> f32 {
    let nan = a.is_nan() | b.is_nan() | c.is_nan() | d.is_nan();
    if nan {
        f32::NAN
    } else {
        a.max(b).max(c.max(d))
    }
}

/// The two input rows `[top, bottom]` of output row `oy`, each `2 * out_w` values long.
#[inline(always)]
fn row_pair(plane: &[f32], w: usize, ow: usize, oy: usize) -> [&[f32]; 2] {
    let top = 2 * oy * w;
    [&plane[top..top + 2 * ow], &plane[top + w..top + w + 2 * ow]]
}

/// 2x2 max-pool, stride 2, of NCHW planes.
pub(crate) fn max_pool2x2_forward(g: &PoolGeom, x: &[f32]) -> Vec<f32> {
    let (oh, ow) = (g.out_h(), g.out_w());
    let (plane_in, plane_out) = (g.h * g.w, oh * ow);
    if g.planes * plane_out == 0 {
        return Vec::new();
    }
    let per_task = g.planes_per_task();
    par_parts(g.planes * plane_out, per_task * plane_out, |task, ys| {
        let xs = &x[task * per_task * plane_in..];
        for (yp, xp) in ys.chunks_mut(plane_out).zip(xs.chunks(plane_in)) {
            for (oy, yrow) in yp.chunks_mut(ow).enumerate() {
                let [top, bottom] = row_pair(xp, g.w, ow, oy);
                for ((o, t), b) in yrow
                    .iter_mut()
                    .zip(top.chunks_exact(2))
                    .zip(bottom.chunks_exact(2))
                {
                    *o = window_max(t[0], t[1], b[0], b[1]);
                }
            }
        }
    })
}

/// The input gradient of [`max_pool2x2_forward`]: each window's output gradient goes to the
/// position of its maximum (found again in `x`), zero elsewhere.
pub(crate) fn max_pool2x2_backward(g: &PoolGeom, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (oh, ow) = (g.out_h(), g.out_w());
    let (plane_in, plane_out) = (g.h * g.w, oh * ow);
    if plane_out == 0 || x.is_empty() {
        return vec![0.0; x.len()];
    }
    let per_task = g.planes_per_task();
    par_parts(x.len(), per_task * plane_in, |task, dxs| {
        let xs = &x[task * per_task * plane_in..];
        let dys = &dy[task * per_task * plane_out..];
        for ((dxp, xp), dyp) in dxs
            .chunks_mut(plane_in)
            .zip(xs.chunks(plane_in))
            .zip(dys.chunks(plane_out))
        {
            for (oy, dyrow) in dyp.chunks(ow).enumerate() {
                let [top, bottom] = row_pair(xp, g.w, ow, oy);
                let (upper, lower) = dxp[2 * oy * g.w..].split_at_mut(g.w);
                let done = pool_rows::backward_row(top, bottom, dyrow, upper, lower);
                let (top, bottom) = (&top[2 * done..], &bottom[2 * done..]);
                let (upper, lower) = (&mut upper[2 * done..], &mut lower[2 * done..]);
                for (((&d, t), b), (du, dl)) in dyrow[done..]
                    .iter()
                    .zip(top.chunks_exact(2))
                    .zip(bottom.chunks_exact(2))
                    .zip(upper.chunks_exact_mut(2).zip(lower.chunks_exact_mut(2)))
                {
                    let [ga, gb, gc, gd] = window_grads(t[0], t[1], b[0], b[1], d);
                    du[0] = ga;
                    du[1] = gb;
                    dl[0] = gc;
                    dl[1] = gd;
                }
            }
        }
    })
}
