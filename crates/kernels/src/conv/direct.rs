//! Direct 3x3 convolution with stride 1 and padding 1 (all of VGG8's convs), forward and
//! backward, with AVX2 + FMA, chosen at run time.
//!
//! Why: in the im2col + gemm path ([`super::im2col`]), the gemm's multiply kernel was only
//! ~40 % of the conv's time; the rest went to building and packing the im2col matrix, zeroing
//! buffers and the col2im scatter (perf of a VGG8 step at batch 32). Here each image is copied
//! once into planes with a zero border, rows `w + 2` wide and flattened, so that every kernel
//! tap is the same plane shifted by a constant: an output position `i = oy * (w + 2) + ox`
//! reads `i + ki * (w + 2) + kj`. A register block of 4 output channels x 24 positions (48
//! with AVX-512, where the CPU has it and the options allow it) then
//! accumulates straight from the shifted planes, with no copies and no edge cases; the two
//! extra columns per row are computed and dropped. Small images sit several to a plane, side
//! by side with one zero column between them, so that the dropped columns and the rounding to
//! whole blocks stay a small part of the work (alone, a 7x7 image computes 72 positions for
//! 49 outputs; four side by side compute 240 for 196).
//!
//! - forward: `y = x * w + b` per block, then the kept columns are copied out with the bias;
//! - input gradient: the same kernel on the bordered output gradient, with the weights
//!   rotated by 180 degrees and their channel axes swapped;
//! - weight gradient: per (output channel block, input channel, kernel row), a dot product of
//!   the bordered output gradient (its extra columns are the border's zeros) with the three
//!   shifted input rows, accumulated in registers over all images of a task.
//!
//! [`super`] sends other shapes, a CPU without AVX2 and FMA, and `direct_conv: false` to
//! im2col + gemm.

#![allow(unsafe_code)]

use std::sync::OnceLock;

use rayon::prelude::*;

use super::geom::{ConvGeom, ConvGrads};
use super::tasks::{images_per_task, sum_parts, with_scratch};
use super::winograd;
use crate::options::KernelOptions;
use crate::par_vec::{as_slots, par_parts};
use crate::{cpu, lanes};

/// Positions computed per plane are a multiple of this: a register block of the AVX-512
/// kernel (three 16-wide vectors), two of the AVX2 kernel's (three 8-wide ones).
const BLOCK: usize = 48;
/// Output channels per register block.
const CB: usize = 4;

/// The vector width of the forward kernel (also the input gradient's): AVX-512 where the CPU
/// has it (16-wide; on the development machine's Zen 4 about 1.1x the AVX2 kernel's step),
/// else AVX2. Each output sums the same products in the same order either way, so the results
/// are the same to the bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Isa {
    Avx2,
    Avx512,
}

impl Isa {
    /// The width `options` allow on this CPU; `None` where the direct kernels are switched off
    /// or the CPU lacks AVX2 and FMA.
    pub(super) fn allowed(options: &KernelOptions) -> Option<Self> {
        if !options.direct_conv || !cpu::avx2_fma() {
            None
        } else if options.direct_conv_avx512 && cpu::avx512() {
            Some(Isa::Avx512)
        } else {
            Some(Isa::Avx2)
        }
    }
}

/// Whether `g` is a conv these kernels compute.
pub(super) fn applies(g: &ConvGeom) -> bool {
    g.kh == 3
        && g.kw == 3
        && g.stride == [1, 1]
        && g.pad_top == 1
        && g.pad_left == 1
        && g.out_h == g.h
        && g.out_w == g.w
        && g.h > 0
        && g.w > 0
        && g.c_in > 0
        && g.c_out > 0
}

/// Images laid side by side in one bordered plane: at least this many columns, so that
/// the two border columns per image stay a small part of each row (7x7 images alone would
/// compute 63 positions, rounded to 72, for 49 outputs).
const MIN_ROW: usize = 60;

/// Images per bordered plane for `w`-wide images, at most `per_task`.
fn side_by_side(w: usize, per_task: usize) -> usize {
    MIN_ROW.div_ceil(w + 1).clamp(1, per_task.max(1))
}

/// The bordered, flattened layout of `m` images side by side: each channel is one plane of
/// `h + 2` rows of `m * (w + 1) + 1` columns, image `j` at columns `1 + j * (w + 1)..`, with
/// zero columns between the images and around them and zero rows above and below.
#[derive(Clone, Copy, Debug)]
struct Flat {
    h: usize,
    w: usize,
    m: usize,
    /// The kernels' vector width (see [`Isa::allowed`]).
    isa: Isa,
}

impl Flat {
    /// Row length with the borders.
    fn wp(&self) -> usize {
        self.m * (self.w + 1) + 1
    }

    /// Output positions computed per plane: `h` rows of `wp`, rounded up to a block. Output
    /// `(r, x)` of image `j` is position `r * wp + j * (w + 1) + x`.
    fn len(&self) -> usize {
        (self.h * self.wp()).div_ceil(BLOCK) * BLOCK
    }

    /// One bordered plane, long enough that every read of a block stays inside it (the last
    /// block reads up to `len + 2 * wp + 1`).
    fn plane(&self) -> usize {
        self.len() + 2 * self.wp() + 2
    }

    /// Copies `m` images of `[channels, h, w]` from `src` into `dst` (`channels * plane()`
    /// long), zero everywhere else. Only the border cells are zeroed (not the whole plane
    /// first), and rows are copied in 8-value moves rather than a `memcpy` call each: both
    /// showed in the profile for 7- to 28-value rows.
    fn border(&self, src: &[f32], channels: usize, dst: &mut [f32]) {
        let (plane, wp, w, h, hw) = (self.plane(), self.wp(), self.w, self.h, self.h * self.w);
        for (c, d) in dst.chunks_exact_mut(plane).take(channels).enumerate() {
            d[..wp + 1].fill(0.0);
            for r in 0..h {
                // Columns 1.. of row r + 1 and column 0 of row r + 2: the m image rows, each
                // followed by a zero (a separator, the right border, the next left border).
                let row = &mut d[(r + 1) * wp + 1..(r + 2) * wp + 1];
                for (j, slot) in row.chunks_exact_mut(w + 1).take(self.m).enumerate() {
                    let at = (j * channels + c) * hw + r * w;
                    copy_row(&mut slot[..w], &src[at..at + w]);
                    slot[w] = 0.0;
                }
                row[self.m * (w + 1)..].fill(0.0);
            }
            d[(h + 1) * wp + 1..].fill(0.0);
        }
    }

    /// Copies the kept columns of block output `out` (`[CB][len]`) into channels
    /// `first..first + n` of the `m` images of `[channels, h, w]` in `imgs`, adding `bias[c]`
    /// where given.
    #[allow(clippy::too_many_arguments)]
    fn gather(
        &self,
        out: &[f32],
        first: usize,
        n: usize,
        bias: Option<&[f32]>,
        channels: usize,
        imgs: &mut [f32],
    ) {
        let (len, wp, w, hw) = (self.len(), self.wp(), self.w, self.h * self.w);
        for (j, img) in imgs
            .chunks_exact_mut(channels * hw)
            .take(self.m)
            .enumerate()
        {
            for c in 0..n {
                let b = bias.map_or(0.0, |b| b[first + c]);
                let dst = &mut img[(first + c) * hw..(first + c + 1) * hw];
                let src = &out[c * len + j * (w + 1)..(c + 1) * len];
                for (r, row) in dst.chunks_exact_mut(w).enumerate() {
                    for (d, s) in row.iter_mut().zip(&src[r * wp..r * wp + w]) {
                        *d = s + b;
                    }
                }
            }
        }
    }
}

/// `dst = src` (equal lengths) in 8-value moves.
#[inline(always)]
fn copy_row(dst: &mut [f32], src: &[f32]) {
    let (dc, dr) = dst.as_chunks_mut::<8>();
    let (sc, sr) = src.as_chunks::<8>();
    for (d, s) in dc.iter_mut().zip(sc) {
        *d = *s;
    }
    for (d, s) in dr.iter_mut().zip(sr) {
        *d = *s;
    }
}

/// Weights `[c_out, c_in, 3, 3]` as blocks of [`CB`] outputs: `[block][input][tap][CB]`, zero
/// for the outputs past `c_out` in the last block. With `transpose`, for the input gradient:
/// the outputs are the conv's inputs, the inputs its outputs, and the taps reversed.
fn pack(weight: &[f32], c_out: usize, c_in: usize, transpose: bool) -> Vec<f32> {
    let (outs, ins) = if transpose {
        (c_in, c_out)
    } else {
        (c_out, c_in)
    };
    let blocks = outs.div_ceil(CB);
    let mut packed = vec![0.0; blocks * ins * 9 * CB];
    for o in 0..outs {
        for i in 0..ins {
            for tap in 0..9 {
                let v = if transpose {
                    weight[(i * c_in + o) * 9 + 8 - tap]
                } else {
                    weight[(o * c_in + i) * 9 + tap]
                };
                packed[(((o / CB) * ins + i) * 9 + tap) * CB + o % CB] = v;
            }
        }
    }
    packed
}

/// `y = conv2d(x, weight) + bias` for a `g` that [`applies`] accepts, on a CPU with `isa`.
pub(super) fn forward(
    g: &ConvGeom,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    isa: Isa,
) -> Vec<f32> {
    let packed = pack(weight, g.c_out, g.c_in, false);
    let per_task = images_per_task(g.batch);
    let m = side_by_side(g.w, per_task);
    par_parts(
        g.batch * g.out_image(),
        per_task * g.out_image(),
        |task, ys| {
            let first = task * per_task;
            let xs = &x[first * g.in_image()..(first + ys.len() / g.out_image()) * g.in_image()];
            for (yg, xg) in ys
                .chunks_mut(m * g.out_image())
                .zip(xs.chunks(m * g.in_image()))
            {
                let f = Flat {
                    h: g.h,
                    w: g.w,
                    m: yg.len() / g.out_image(),
                    isa,
                };
                conv_group(&f, xg, g.c_in, &packed, g.c_out, bias, yg);
            }
        },
    )
}

/// The `m` images of one layout: `outs[m, c_out, h, w] = conv(ins[m, c_in, h, w], packed) +
/// bias`.
fn conv_group(
    f: &Flat,
    ins: &[f32],
    c_in: usize,
    packed: &[f32],
    c_out: usize,
    bias: Option<&[f32]>,
    outs: &mut [f32],
) {
    let (plane, len) = (f.plane(), f.len());
    with_scratch(c_in * plane + CB * len, |buf| {
        let (xp, out) = buf.split_at_mut(c_in * plane);
        f.border(ins, c_in, xp);
        for (b, wblk) in packed.chunks_exact(c_in * 9 * CB).enumerate() {
            block_forward(f, xp, c_in, wblk, out);
            let first = b * CB;
            f.gather(out, first, CB.min(c_out - first), bias, c_out, outs);
        }
    });
}

/// One task's weight and bias gradients.
type Partial = (Vec<f32>, Vec<f32>);

/// Gradients of [`forward`] for a `g` that [`applies`] accepts, on a CPU with `isa`; with
/// `by_winograd`, the input gradient by [`winograd`] (the weight gradient stays direct).
pub(super) fn backward(
    g: &ConvGeom,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    [need_x, need_w, need_b]: [bool; 3],
    isa: Isa,
    by_winograd: bool,
) -> ConvGrads {
    let per_task = images_per_task(g.batch);
    let m = side_by_side(g.w, per_task);
    let full = Flat {
        h: g.h,
        w: g.w,
        m,
        isa,
    };
    let packed_t = (need_x && !by_winograd).then(|| pack(weight, g.c_out, g.c_in, true));
    let filters_t =
        (need_x && by_winograd).then(|| winograd::Filters::new(weight, g.c_out, g.c_in, true));
    let tasks = g.batch.div_ceil(per_task);
    let task_grads = |task: usize, mut dx_chunk: Option<&mut [f32]>| {
        let first = task * per_task;
        let count = per_task.min(g.batch - first);
        let xs = &x[first * g.in_image()..(first + count) * g.in_image()];
        let dys = &dy[first * g.out_image()..(first + count) * g.out_image()];
        let mut dw = vec![0.0; if need_w { g.c_out * g.c_in * 9 } else { 0 }];
        let mut db = vec![0.0; if need_b { g.c_out } else { 0 }];
        if need_b {
            for dyi in dys.chunks_exact(g.out_image()) {
                for (acc, row) in db.iter_mut().zip(dyi.chunks_exact(g.p())) {
                    *acc += lanes::sum(row);
                }
            }
        }
        // Groups of m images, each one layout; all but maybe the last are full.
        let groups = count.div_ceil(m);
        let plane = full.plane();
        let layout = |gi: usize| Flat {
            m: m.min(count - gi * m),
            ..full
        };
        let x_len = if need_w { groups * g.c_in * plane } else { 0 };
        let out_len = if packed_t.is_some() {
            CB * full.len()
        } else {
            0
        };
        with_scratch(groups * g.c_out * plane + x_len + out_len, |buf| {
            let (dyp, rest) = buf.split_at_mut(groups * g.c_out * plane);
            let (xp, out) = rest.split_at_mut(x_len);
            for (gi, (dyg, d)) in dys
                .chunks(m * g.out_image())
                .zip(dyp.chunks_exact_mut(g.c_out * plane))
                .enumerate()
            {
                layout(gi).border(dyg, g.c_out, d);
            }
            if let (Some(dx_chunk), Some(filters_t)) = (dx_chunk.as_deref_mut(), &filters_t) {
                let tail = winograd::Tail::default();
                // SAFETY: `conv_images` writes only computed values into its output.
                let out = unsafe { as_slots(dx_chunk) };
                winograd::conv_images(g.h, g.w, dys, count, filters_t, tail, out);
            }
            if let (Some(dx_chunk), Some(packed_t)) = (dx_chunk.as_deref_mut(), &packed_t) {
                for (gi, (d, dxg)) in dyp
                    .chunks_exact(g.c_out * plane)
                    .zip(dx_chunk.chunks_mut(m * g.in_image()))
                    .enumerate()
                {
                    let f = layout(gi);
                    for (b, wblk) in packed_t.chunks_exact(g.c_out * 9 * CB).enumerate() {
                        block_forward(&f, d, g.c_out, wblk, out);
                        let first = b * CB;
                        f.gather(out, first, CB.min(g.c_in - first), None, g.c_in, dxg);
                    }
                }
            }
            if need_w {
                for (gi, (xg, d)) in xs
                    .chunks(m * g.in_image())
                    .zip(xp.chunks_exact_mut(g.c_in * plane))
                    .enumerate()
                {
                    layout(gi).border(xg, g.c_in, d);
                }
                // The full groups in one pass, then a smaller last one in its own layout.
                let whole = count / m;
                let (x_full, x_last) = xp.split_at(whole * g.c_in * plane);
                let (d_full, d_last) = dyp.split_at(whole * g.c_out * plane);
                weight_grad(&full, x_full, d_full, whole, g.c_in, g.c_out, &mut dw);
                if whole < groups {
                    let f = layout(whole);
                    weight_grad(&f, x_last, d_last, 1, g.c_in, g.c_out, &mut dw);
                }
            }
        });
        (dw, db)
    };
    let (dx, partials): (Option<Vec<f32>>, Vec<Partial>) = if need_x {
        // One slot per task for its weight and bias gradients; every task fills its own.
        let slots: Vec<OnceLock<Partial>> = (0..tasks).map(|_| OnceLock::new()).collect();
        let dx = par_parts(x.len(), per_task * g.in_image(), |task, part| {
            let _ = slots[task].set(task_grads(task, Some(part)));
        });
        let partials: Vec<_> = slots.into_iter().filter_map(OnceLock::into_inner).collect();
        assert_eq!(partials.len(), tasks, "a conv backward task did not run");
        (Some(dx), partials)
    } else {
        let partials = (0..tasks)
            .into_par_iter()
            .map(|task| task_grads(task, None))
            .collect();
        (None, partials)
    };
    ConvGrads {
        x: dx,
        weight: need_w.then(|| sum_parts(partials.iter().map(|p| p.0.as_slice()))),
        bias: need_b.then(|| sum_parts(partials.iter().map(|p| p.1.as_slice()))),
    }
}

/// `out[CB][len]` = the block of [`CB`] outputs whose packed weights are `wblk`
/// (`[c_in][9][CB]`), over the bordered planes `xp` (`c_in * plane` long).
fn block_forward(f: &Flat, xp: &[f32], c_in: usize, wblk: &[f32], out: &mut [f32]) {
    let (plane, len) = (f.plane(), f.len());
    assert!(xp.len() >= c_in * plane, "block_forward: input too short");
    assert!(
        wblk.len() >= c_in * 9 * CB,
        "block_forward: weights too short"
    );
    assert!(out.len() >= CB * len, "block_forward: output too short");
    assert!(cpu::avx2_fma(), "block_forward: no AVX2 + FMA");
    #[cfg(target_arch = "x86_64")]
    {
        let (x, w, y, wp) = (xp.as_ptr(), wblk.as_ptr(), out.as_mut_ptr(), f.wp());
        // SAFETY (both arms): the CPU has the kernel's features (checked above); the slices
        // were checked to hold everything the kernel addresses (see `Flat::plane` for the
        // largest read).
        match f.isa {
            Isa::Avx512 => {
                assert!(cpu::avx512(), "block_forward: no AVX-512F");
                unsafe { avx512::block_forward(x, plane, c_in, wp, w, len, y) }
            }
            Isa::Avx2 => unsafe { avx2::block_forward(x, plane, c_in, wp, w, len, y) },
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("direct conv kernels are x86-64 only");
}

/// Adds the weight gradient of `m` layouts `f` (each `f.m` images) to `dw` (`[c_out, c_in, 3, 3]`), given their
/// bordered inputs `xp` (`m * c_in` planes) and output gradients `dyp` (`m * c_out`
/// planes).
fn weight_grad(
    f: &Flat,
    xp: &[f32],
    dyp: &[f32],
    m: usize,
    c_in: usize,
    c_out: usize,
    dw: &mut [f32],
) {
    let plane = f.plane();
    assert!(xp.len() >= m * c_in * plane, "weight_grad: input too short");
    assert!(
        dyp.len() >= m * c_out * plane,
        "weight_grad: gradient too short"
    );
    assert!(
        dw.len() >= c_out * c_in * 9,
        "weight_grad: output too short"
    );
    assert!(cpu::avx2_fma(), "weight_grad: no AVX2 + FMA");
    // SAFETY: as in `block_forward`: AVX2 and FMA are present, and every read lies inside
    // the slices checked above (the gradient is read at `wp + 1 .. wp + 1 + len` of a plane,
    // the input at `.. len + 2 * wp + 1`, both below `plane`).
    #[cfg(target_arch = "x86_64")]
    unsafe {
        let (x, d, out) = (xp.as_ptr(), dyp.as_ptr(), dw.as_mut_ptr());
        let (wp, len) = (f.wp(), f.len());
        // One width for both: the AVX-512 version of this kernel measured no faster (its
        // loads, not its multiplies, set the pace).
        let mut co = 0;
        while co < c_out {
            // Blocks of CB output channels, then one at a time.
            if co + CB <= c_out {
                avx2::weight_grad::<CB>(x, d, plane, wp, len, m, c_in, c_out, co, out);
                co += CB;
            } else {
                avx2::weight_grad::<1>(x, d, plane, wp, len, m, c_in, c_out, co, out);
                co += 1;
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("direct conv kernels are x86-64 only");
}

/// The forward kernel in one vector width: the AVX2 and AVX-512 versions differ only in their
/// intrinsics and the number of values per vector (`$lanes`); a register block is [`CB`]
/// outputs x three vectors of positions.
///
/// Safety of the generated `block_forward`: the CPU has `$feature`; `xp` valid for
/// `c_in * plane` reads with `plane >= len + 2 * wp + 2`, `wblk` for `c_in * 9 * CB`, `out`
/// for `CB * len` writes; `len` a multiple of `3 * $lanes`.
#[cfg(target_arch = "x86_64")]
macro_rules! block_forward_kernel {
    ($feature:literal, $lanes:literal, $zero:ident, $load:ident, $splat:ident, $fma:ident, $store:ident) => {
        /// See [`super::block_forward`] and `block_forward_kernel`.
        #[target_feature(enable = $feature)]
        pub(super) unsafe fn block_forward(
            xp: *const f32,
            plane: usize,
            c_in: usize,
            wp: usize,
            wblk: *const f32,
            len: usize,
            out: *mut f32,
        ) {
            let taps = [0, 1, 2, wp, wp + 1, wp + 2, 2 * wp, 2 * wp + 1, 2 * wp + 2];
            let mut i0 = 0;
            while i0 < len {
                let mut acc = [[$zero(); 3]; CB];
                for ci in 0..c_in {
                    // SAFETY (whole block): offsets stay below c_in * plane for xp (i0 + tap +
                    // 3 * lanes - 1 <= len + 2 * wp + 1 < plane) and below c_in * 9 * CB for wblk.
                    unsafe {
                        let src = xp.add(ci * plane + i0);
                        let wc = wblk.add(ci * 9 * CB);
                        for (t, &tap) in taps.iter().enumerate() {
                            let p = src.add(tap);
                            let x0 = $load(p);
                            let x1 = $load(p.add($lanes));
                            let x2 = $load(p.add(2 * $lanes));
                            for (c, a) in acc.iter_mut().enumerate() {
                                let wv = $splat(*wc.add(t * CB + c));
                                a[0] = $fma(wv, x0, a[0]);
                                a[1] = $fma(wv, x1, a[1]);
                                a[2] = $fma(wv, x2, a[2]);
                            }
                        }
                    }
                }
                for (c, a) in acc.iter().enumerate() {
                    // SAFETY: c * len + i0 + 3 * lanes - 1 < CB * len.
                    unsafe {
                        let o = out.add(c * len + i0);
                        $store(o, a[0]);
                        $store(o.add($lanes), a[1]);
                        $store(o.add(2 * $lanes), a[2]);
                    }
                }
                i0 += 3 * $lanes;
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::CB;

    block_forward_kernel!(
        "avx2,fma",
        8,
        _mm256_setzero_ps,
        _mm256_loadu_ps,
        _mm256_set1_ps,
        _mm256_fmadd_ps,
        _mm256_storeu_ps
    );

    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// See [`super::weight_grad`]: adds to `dw[co0..co0 + N]`. Safety: AVX2 and FMA
    /// present; `xp` valid for `m * c_in * plane` reads, `dyp` for `m * c_out * plane`,
    /// `dw` for `c_out * c_in * 9` writes; `co0 + N <= c_out`; `plane >= len + 2 * wp + 2`;
    /// `len` a multiple of 8.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn weight_grad<const N: usize>(
        xp: *const f32,
        dyp: *const f32,
        plane: usize,
        wp: usize,
        len: usize,
        m: usize,
        c_in: usize,
        c_out: usize,
        co0: usize,
        dw: *mut f32,
    ) {
        for ci in 0..c_in {
            for ki in 0..3 {
                let mut acc = [[_mm256_setzero_ps(); 3]; N];
                for n in 0..m {
                    // SAFETY (whole block): the gradient is read at plane offsets
                    // wp + 1 + i (i < len), the input at i + ki * wp + kj + 7 <= len + 2 * wp + 1,
                    // both below plane; the image and channel indices are in range.
                    unsafe {
                        let x = xp.add((n * c_in + ci) * plane + ki * wp);
                        let d = dyp.add((n * c_out + co0) * plane + wp + 1);
                        let mut i = 0;
                        while i < len {
                            let x0 = _mm256_loadu_ps(x.add(i));
                            let x1 = _mm256_loadu_ps(x.add(i + 1));
                            let x2 = _mm256_loadu_ps(x.add(i + 2));
                            for (c, a) in acc.iter_mut().enumerate() {
                                let dv = _mm256_loadu_ps(d.add(c * plane + i));
                                a[0] = _mm256_fmadd_ps(dv, x0, a[0]);
                                a[1] = _mm256_fmadd_ps(dv, x1, a[1]);
                                a[2] = _mm256_fmadd_ps(dv, x2, a[2]);
                            }
                            i += 8;
                        }
                    }
                }
                for (c, a) in acc.iter().enumerate() {
                    for (kj, &v) in a.iter().enumerate() {
                        // SAFETY: co0 + c < c_out, so the index is below c_out * c_in * 9.
                        unsafe {
                            *dw.add(((co0 + c) * c_in + ci) * 9 + ki * 3 + kj) += hsum(v);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::CB;

    block_forward_kernel!(
        "avx512f",
        16,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_storeu_ps
    );
}
