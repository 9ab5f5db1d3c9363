//! Conv2d of any shape (groups 1, dilation 1) as im2col + gemm per image, so the output comes
//! out in NCHW order with no transpose; images are spread over rayon's threads, each with its
//! own im2col buffer (small enough to stay in cache, and recomputed in the backward pass rather
//! than kept: reading it back from memory costs more than rebuilding it from the input).

use rayon::prelude::*;

use super::geom::{ConvGeom, ConvGrads};
use super::tasks::{images_per_task, sum_parts, with_scratch};
use crate::lanes;
use crate::matmul::{Mat, matmul};

/// Images whose im2col matrices sit side by side in one gemm: small images (deep layers) make
/// too narrow a matrix for gemm's kernels on their own.
fn images_per_gemm(pixels: usize, per_task: usize) -> usize {
    const MIN_COLUMNS: usize = 384;
    MIN_COLUMNS
        .div_ceil(pixels.max(1))
        .clamp(1, per_task.max(1))
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
pub(super) fn forward(g: &ConvGeom, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
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

/// Gradients of [`forward`] given the output gradient `dy` (NCHW).
///
/// Each rayon task takes a run of images and accumulates its own weight and bias gradient,
/// summed at the end, so that `dy` is read once for all three gradients.
pub(super) fn backward(
    g: &ConvGeom,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    need: [bool; 3],
) -> ConvGrads {
    let [need_x, need_w, need_b] = need;
    let (k, p) = (g.k(), g.p());
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
