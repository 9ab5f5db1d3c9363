//! 3x3 convolution with stride 1 and padding 1 by Winograd's minimal filtering F(2x2, 3x3),
//! in AVX2 + FMA: the direct kernels' forward and input gradient with 2.25x fewer
//! multiplications.
//!
//! Why: after the direct kernels, their multiply loop was 43 % of a VGG8 training step and
//! 70 % of the eval-mode forward that validation and the snapshots run (`perf`, AVX2 machine),
//! already near the FMA units' peak. F(2x2, 3x3) computes each 2x2 block of outputs ("tile")
//! from its 4x4 input patch with 16 products per input and output channel instead of 36
//! (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2015):
//!
//! - filters: `U = G g Gᵀ` (4x4 per input and output channel), once per call;
//! - inputs: `V = Bᵀ d B` for every tile `d` and input channel, eight tiles per vector;
//! - products: for each of the 16 positions `k`, `M[k] = Σ_ci V[k][ci] U[k][ci]`, a register
//!   block of 4 output channels x 24 tiles as in the direct kernel;
//! - outputs: `Y = Aᵀ M A` (2x2 per tile and output channel), plus the bias.
//!
//! Layout: `m` images side by side, each `S = 2 * ceil((w + 1) / 2)` columns (its columns, a
//! zero column that is also the next image's left border, and one more where `w` is even), so
//! that the tile grid of every image starts at an even column; each padded row is split into
//! its even and odd columns, so that the element `(i, j)` of eight neighbouring tiles is one
//! contiguous load. Tiles over the border columns and the rounding to whole vectors are
//! computed and dropped. Rounding differs from the direct kernels (the transforms add and
//! subtract inputs before multiplying), within a few units in the last place for these sizes.

#![allow(unsafe_code)]

use std::cell::RefCell;
use std::mem::MaybeUninit;

use super::geom::ConvGeom;
use super::tasks::images_per_task;
use crate::cpu;
use crate::par_vec::par_parts_written;

/// Output channels per register block.
const CB: usize = 4;
/// Tiles per vector (AVX2, f32).
const LANES: usize = 8;
/// Tiles of one row processed together: the transformed inputs of a chunk (`16 * c_in *
/// CHUNK` values, 196 KB at 64 channels) stay in the L2 cache while every block of output
/// channels reads them.
const CHUNK: usize = 48;

thread_local! {
    /// Each thread's planes and transform buffers, kept between calls (as `tasks`'s scratch,
    /// which the direct backward holds while it calls in here).
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Transformed filters `U = G g Gᵀ`, as `[block of CB outputs][k: 16][input][CB]`, zero for the
/// outputs past the last in the last block.
pub(super) struct Filters {
    u: Vec<f32>,
    /// Channels of the image convolved.
    ins: usize,
    /// Channels of the result.
    outs: usize,
}

impl Filters {
    /// The filters of `weight` (`[c_out, c_in, 3, 3]`); with `transpose`, those of the input
    /// gradient (the conv's outputs become inputs, the taps turn by 180 degrees).
    pub(super) fn new(weight: &[f32], c_out: usize, c_in: usize, transpose: bool) -> Self {
        let (outs, ins) = if transpose {
            (c_in, c_out)
        } else {
            (c_out, c_in)
        };
        let block = 16 * ins * CB;
        let mut u = vec![0.0; outs.div_ceil(CB) * block];
        // One output block per task where the filters are many (a 64 x 64 conv's are 4,096):
        // this runs on every call, serially on the caller before the parallel products.
        let fill = |b: usize, ub: &mut [f32]| {
            for o in b * CB..outs.min((b + 1) * CB) {
                for i in 0..ins {
                    let taps: [f32; 9] = if transpose {
                        let at = (i * c_in + o) * 9;
                        std::array::from_fn(|t| weight[at + 8 - t])
                    } else {
                        let at = (o * c_in + i) * 9;
                        std::array::from_fn(|t| weight[at + t])
                    };
                    for (k, v) in transform_filter(&taps).into_iter().enumerate() {
                        ub[(k * ins + i) * CB + o % CB] = v;
                    }
                }
            }
        };
        if outs * ins >= PARALLEL_FILTERS {
            use rayon::prelude::*;
            u.par_chunks_mut(block)
                .enumerate()
                .for_each(|(b, ub)| fill(b, ub));
        } else {
            for (b, ub) in u.chunks_mut(block).enumerate() {
                fill(b, ub);
            }
        }
        Self { u, ins, outs }
    }
}

/// Filters from which [`Filters::new`] transforms on rayon's threads.
const PARALLEL_FILTERS: usize = 1024;

/// `U = G g Gᵀ` of one 3x3 filter `g` (row-major taps), row-major 4x4, with `G = [[1, 0, 0],
/// [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]`; in f64, so that the only rounding is the
/// final one.
fn transform_filter(taps: &[f32; 9]) -> [f32; 16] {
    let g = taps.map(f64::from);
    // G g: 4 rows of 3.
    let mut gg = [[0.0f64; 3]; 4];
    for c in 0..3 {
        let (a, b, d) = (g[c], g[3 + c], g[6 + c]);
        gg[0][c] = a;
        gg[1][c] = 0.5 * (a + b + d);
        gg[2][c] = 0.5 * (a - b + d);
        gg[3][c] = d;
    }
    // (G g) Gᵀ: the same on each row.
    let mut u = [0.0f32; 16];
    for (r, [a, b, d]) in gg.into_iter().enumerate() {
        u[r * 4] = a as f32;
        u[r * 4 + 1] = (0.5 * (a + b + d)) as f32;
        u[r * 4 + 2] = (0.5 * (a - b + d)) as f32;
        u[r * 4 + 3] = d as f32;
    }
    u
}

/// What is applied to the outputs on their way out: `+ bias[channel]`, then `max(0)`, then
/// with `pool` a 2x2 max-pool with stride 2 (each tile is one pooling window; an odd last row
/// or column is dropped, as by the pool).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Tail<'a> {
    pub bias: Option<&'a [f32]>,
    pub relu: bool,
    pub pool: bool,
}

impl Tail<'_> {
    /// Output values per channel of an `h` x `w` image.
    fn plane(&self, h: usize, w: usize) -> usize {
        if self.pool { (h / 2) * (w / 2) } else { h * w }
    }
}

/// `y = tail(conv2d(x, weight))` for a `g` that `direct::applies` accepts, on a CPU with AVX2
/// and FMA.
pub(super) fn forward(g: &ConvGeom, x: &[f32], weight: &[f32], tail: Tail) -> Vec<f32> {
    let filters = Filters::new(weight, g.c_out, g.c_in, false);
    let per_task = images_per_task(g.batch);
    let out_image = g.c_out * tail.plane(g.h, g.w);
    if out_image == 0 {
        return Vec::new();
    }
    let fill = |task: usize, ys: &mut [MaybeUninit<f32>]| {
        let first = task * per_task;
        let count = ys.len() / out_image;
        let xs = &x[first * g.in_image()..(first + count) * g.in_image()];
        conv_images(g.h, g.w, xs, count, &filters, tail, ys);
    };
    // SAFETY: `conv_images` writes every output value of its images (see there).
    unsafe { par_parts_written(g.batch * out_image, per_task * out_image, fill) }
}

/// `out[count, outs, h, w] = tail(conv(input[count, ins, h, w]))` with `filters`, on this
/// thread: the images in groups laid side by side. Every value of `out[..count * outs *
/// plane]` is written (each group's tiles cover all its rows and columns, and every block of
/// outputs is scattered), whatever `out` held, so it may start uninitialised.
pub(super) fn conv_images(
    h: usize,
    w: usize,
    input: &[f32],
    count: usize,
    filters: &Filters,
    tail: Tail,
    out: &mut [MaybeUninit<f32>],
) {
    assert!(cpu::avx2_fma(), "winograd: no AVX2 + FMA");
    let (in_image, out_image) = (filters.ins * h * w, filters.outs * tail.plane(h, w));
    assert!(input.len() >= count * in_image, "winograd: input too short");
    assert!(out.len() >= count * out_image, "winograd: output too short");
    if let Some(b) = tail.bias {
        assert!(b.len() >= filters.outs, "winograd: bias too short");
    }
    let m = side_by_side(w, count);
    for (xs, ys) in input[..count * in_image]
        .chunks(m * in_image)
        .zip(out[..count * out_image].chunks_mut(m * out_image))
    {
        let layout = Layout::new(h, w, xs.len() / in_image);
        conv_group(&layout, xs, filters, tail, ys);
    }
}

/// Images per group (up to `count`): the fewest tiles computed per tile kept, then the
/// longest row up to two chunks (fewer, longer rows: fewer segments per chunk).
fn side_by_side(w: usize, count: usize) -> usize {
    let ts = tiles_across(w);
    // Computed tiles per 1,000 kept ones.
    let cost = |m: usize| (m * ts).div_ceil(LANES) * LANES * 1000 / (m * ts);
    (1..=count.max(1))
        .take_while(|&m| m == 1 || m * ts <= 2 * CHUNK)
        .min_by_key(|&m| (cost(m), usize::MAX - m))
        .unwrap_or(1)
}

/// Tiles per image row: the image's columns and at least one zero column, rounded up to even.
fn tiles_across(w: usize) -> usize {
    (w + 2) / 2
}

/// The padded, column-split planes of one group of `m` images.
#[derive(Clone, Copy, Debug)]
struct Layout {
    h: usize,
    w: usize,
    m: usize,
    /// Tiles per image row.
    ts: usize,
    /// Tile rows.
    th: usize,
    /// Tiles per row of the group, a multiple of [`LANES`].
    nt: usize,
    /// Values per row of an even- or odd-column plane (the last vector of tiles reads one past
    /// `nt`).
    rw: usize,
}

impl Layout {
    fn new(h: usize, w: usize, m: usize) -> Self {
        let ts = tiles_across(w);
        let nt = (m * ts).div_ceil(LANES) * LANES;
        Self {
            h,
            w,
            m,
            ts,
            th: h.div_ceil(2),
            nt,
            rw: nt + LANES,
        }
    }

    /// Padded rows: a zero row above, the image rows, zero rows below up to the last tile's.
    fn rows(&self) -> usize {
        2 * self.th + 2
    }

    /// One even- or odd-column plane.
    fn plane(&self) -> usize {
        self.rows() * self.rw
    }

    /// Splits channel `c` of the group's images (`[m, channels, h, w]` in `src`) into its even
    /// (`even`) and odd (`odd`) padded columns: padded column `1 + j * 2 * ts + x` holds column
    /// `x` of image `j`; everything else is zero.
    fn split(&self, src: &[f32], channels: usize, c: usize, even: &mut [f32], odd: &mut [f32]) {
        let (h, w, hw, rw, ts, m) = (self.h, self.w, self.h * self.w, self.rw, self.ts, self.m);
        let plane = self.plane();
        // Only what the images do not cover is zeroed: the rows above and below, each row's
        // end, and per image the even column left of it and (for even w) the odd one right.
        for p in [&mut even[..plane], &mut odd[..plane]] {
            p[..rw].fill(0.0);
            p[(h + 1) * rw..].fill(0.0);
        }
        for r in 0..h {
            let (e, o) = (
                &mut even[(r + 1) * rw..(r + 2) * rw],
                &mut odd[(r + 1) * rw..(r + 2) * rw],
            );
            e[m * ts..].fill(0.0);
            o[m * ts..].fill(0.0);
            for j in 0..m {
                let row = &src[(j * channels + c) * hw + r * w..][..w];
                // Padded column 1 + j * 2ts + x is odd for even x (at index j * ts + x / 2)
                // and even for odd x (at j * ts + (x + 1) / 2).
                e[j * ts] = 0.0;
                if w % 2 == 0 {
                    o[j * ts + w / 2] = 0.0;
                }
                deinterleave(row, &mut o[j * ts..], &mut e[j * ts + 1..]);
            }
        }
    }

    /// The group's tiles, row after row, in chunks of [`CHUNK`] (the last may be shorter):
    /// each chunk as its row segments `(tile row, first tile, tiles, offset in the chunk)`.
    /// Why across rows: a chunk of whole register blocks (48 tiles) runs the products at their
    /// best whatever the row length.
    fn chunks(&self) -> Vec<Vec<Segment>> {
        let total = self.th * self.nt;
        let mut out = Vec::with_capacity(total.div_ceil(CHUNK));
        let mut start = 0;
        while start < total {
            let end = (start + CHUNK).min(total);
            let mut segments = Vec::new();
            let mut f = start;
            while f < end {
                let (ty, t0) = (f / self.nt, f % self.nt);
                let n = (self.nt - t0).min(end - f);
                segments.push(Segment {
                    ty,
                    t0,
                    n,
                    at: f - start,
                });
                f += n;
            }
            out.push(segments);
            start = end;
        }
        out
    }
}

/// Tiles `t0..t0 + n` of tile row `ty`, at `at..at + n` in their chunk.
#[derive(Clone, Copy, Debug)]
struct Segment {
    ty: usize,
    t0: usize,
    n: usize,
    at: usize,
}

/// `evens[i] = row[2 i]`, `odds[i] = row[2 i + 1]`, eight values at a time where the CPU has
/// AVX2 (the scalar loops do not vectorise: strided stores).
fn deinterleave(row: &[f32], evens: &mut [f32], odds: &mut [f32]) {
    let w = row.len();
    assert!(
        evens.len() >= w.div_ceil(2) && odds.len() >= w / 2,
        "deinterleave: too short"
    );
    #[cfg(target_arch = "x86_64")]
    if cpu::avx2_fma() {
        // SAFETY: AVX2 is present; the kernel reads row[..w] and writes evens[..ceil(w / 2)]
        // and odds[..w / 2], all inside the slices (checked above).
        unsafe { avx2::deinterleave(row.as_ptr(), w, evens.as_mut_ptr(), odds.as_mut_ptr()) };
        return;
    }
    for (i, v) in row.iter().enumerate() {
        if i % 2 == 0 {
            evens[i / 2] = *v;
        } else {
            odds[i / 2] = *v;
        }
    }
}

/// One group: split planes, then per tile row and chunk the input transform, the products
/// and the output transform.
fn conv_group(l: &Layout, xs: &[f32], f: &Filters, tail: Tail, ys: &mut [MaybeUninit<f32>]) {
    let (ins, outs) = (f.ins, f.outs);
    let plane = l.plane();
    let v_len = 16 * ins * CHUNK;
    let m_len = 16 * CB * CHUNK;
    let r_len = CB * 2 * 2 * CHUNK;
    let total = 2 * ins * plane + v_len + m_len + r_len;
    let mut buf = SCRATCH.take();
    if buf.len() < total {
        buf.resize(total, 0.0);
    }
    {
        let (even, rest) = buf.split_at_mut(ins * plane);
        let (odd, rest) = rest.split_at_mut(ins * plane);
        let (v, rest) = rest.split_at_mut(v_len);
        let (mm, rest) = rest.split_at_mut(m_len);
        let r = &mut rest[..r_len];
        for c in 0..ins {
            l.split(xs, ins, c, &mut even[c * plane..], &mut odd[c * plane..]);
        }
        for segments in l.chunks() {
            for seg in &segments {
                // SAFETY: AVX2 and FMA are present (asserted in `conv_images`); the planes hold
                // `ins * plane` values each and the largest read is padded row 2 * ty + 3 <
                // rows(), column t0 + n + 8 <= nt + 8 = rw; `v` holds 16 * ins * CHUNK and the
                // tiles written end at at + n <= CHUNK.
                unsafe {
                    avx2::input_transform(
                        even.as_ptr(),
                        odd.as_ptr(),
                        plane,
                        l.rw,
                        ins,
                        2 * seg.ty,
                        seg.t0,
                        seg.n,
                        v.as_mut_ptr().add(seg.at),
                    );
                }
            }
            let n = segments.last().map_or(0, |s| s.at + s.n);
            for (b, ub) in f.u.chunks_exact(16 * ins * CB).enumerate() {
                // SAFETY: as above; `ub` holds 16 * ins * CB values, `mm` 16 * CB * CHUNK and
                // `r` CB * 4 * CHUNK, and n <= CHUNK is a multiple of LANES.
                unsafe {
                    avx2::products(v.as_ptr(), ub.as_ptr(), ins, n, mm.as_mut_ptr());
                    avx2::output_transform(mm.as_ptr(), n, r.as_mut_ptr(), tail.pool);
                }
                let first = b * CB;
                for seg in &segments {
                    scatter(l, r, seg, first, CB.min(outs - first), outs, tail, ys);
                }
            }
        }
    }
    SCRATCH.set(buf);
}

/// Copies the outputs of the tiles of `seg` for channels `first..first + count` from `r` into
/// the images of `ys` (`[m, outs, h, w]`, or `[m, outs, h / 2, w / 2]` for a pooling `tail`),
/// through `tail`. `r` holds per channel the tiles' two output rows, two columns a tile
/// (`[CB][2][2 * CHUNK]`, the segment's from `2 at`), or with pooling one value a tile (row 0,
/// from `at`).
#[allow(clippy::too_many_arguments)]
fn scatter(
    l: &Layout,
    r: &[f32],
    &Segment { ty, t0, n, at }: &Segment,
    first: usize,
    count: usize,
    outs: usize,
    tail: Tail,
    ys: &mut [MaybeUninit<f32>],
) {
    // Output rows and columns a tile gives, and the output plane.
    let (per_tile, oh, ow) = if tail.pool {
        (1, l.h / 2, l.w / 2)
    } else {
        (2, l.h, l.w)
    };
    // Image j's columns start at j * s of the group's output columns.
    let s = per_tile * l.ts;
    let (lo, hi) = (per_tile * t0, per_tile * (t0 + n));
    for j in lo / s..l.m.min(hi.div_ceil(s)) {
        let start = lo.max(j * s);
        let end = hi.min(j * s + ow);
        if start >= end {
            continue;
        }
        for c in 0..count {
            let add = tail.bias.map_or(0.0, |b| b[first + c]);
            for a in 0..per_tile {
                let oy = per_tile * ty + a;
                if oy >= oh {
                    continue;
                }
                let src = &r[(c * 2 + a) * 2 * CHUNK + per_tile * at + start - lo..][..end - start];
                let dst = ((j * outs + first + c) * oh + oy) * ow + start - j * s;
                let dst = &mut ys[dst..dst + end - start];
                // SAFETY: AVX2 is present (asserted in `conv_images`); both slices hold `end -
                // start` values, and `MaybeUninit<f32>` has the layout of `f32` (the kernel
                // only writes `dst`).
                unsafe {
                    avx2::copy_add(
                        dst.as_mut_ptr().cast::<f32>(),
                        src.as_ptr(),
                        dst.len(),
                        add,
                        tail.relu,
                    )
                };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{CB, CHUNK, LANES};

    /// `v[k][ci][0..n]` = the transformed tiles `t0..t0 + n` of tile row `y0 / 2` (padded rows
    /// `y0..y0 + 4`) of every input channel. Safety: AVX2 and FMA present; `even` and `odd`
    /// valid for `ins * plane` reads with every `(y0 + 3) * rw + t0 + n + 8` below `plane`;
    /// `v` valid for `16 * ins * CHUNK` writes; `n` a multiple of 8, at most `CHUNK`.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn input_transform(
        even: *const f32,
        odd: *const f32,
        plane: usize,
        rw: usize,
        ins: usize,
        y0: usize,
        t0: usize,
        n: usize,
        v: *mut f32,
    ) {
        for ci in 0..ins {
            let mut q = 0;
            while q < n {
                // SAFETY (whole block): see the function's contract.
                unsafe {
                    let at = ci * plane + y0 * rw + t0 + q;
                    let mut d = [[_mm256_setzero_ps(); 4]; 4];
                    for (i, di) in d.iter_mut().enumerate() {
                        let (e, o) = (even.add(at + i * rw), odd.add(at + i * rw));
                        *di = [
                            _mm256_loadu_ps(e),
                            _mm256_loadu_ps(o),
                            _mm256_loadu_ps(e.add(1)),
                            _mm256_loadu_ps(o.add(1)),
                        ];
                    }
                    // Bᵀ d: rows (d0 - d2, d1 + d2, d2 - d1, d1 - d3).
                    let t: [[__m256; 4]; 4] = [
                        std::array::from_fn(|j| _mm256_sub_ps(d[0][j], d[2][j])),
                        std::array::from_fn(|j| _mm256_add_ps(d[1][j], d[2][j])),
                        std::array::from_fn(|j| _mm256_sub_ps(d[2][j], d[1][j])),
                        std::array::from_fn(|j| _mm256_sub_ps(d[1][j], d[3][j])),
                    ];
                    // (Bᵀ d) B: the same on the columns.
                    for (i, ti) in t.iter().enumerate() {
                        let row = [
                            _mm256_sub_ps(ti[0], ti[2]),
                            _mm256_add_ps(ti[1], ti[2]),
                            _mm256_sub_ps(ti[2], ti[1]),
                            _mm256_sub_ps(ti[1], ti[3]),
                        ];
                        for (j, x) in row.into_iter().enumerate() {
                            let k = i * 4 + j;
                            _mm256_storeu_ps(v.add((k * ins + ci) * CHUNK + q), x);
                        }
                    }
                }
                q += LANES;
            }
        }
    }

    /// [`super::deinterleave`]: eight values per step, the rest one by one (masked stores
    /// are slow on AMD's Zen, where a store of 8 values took ~20x a plain one). Safety: AVX2
    /// present; `row` valid for `w` reads, `evens` for `ceil(w / 2)` writes and `odds` for `w /
    /// 2`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn deinterleave(row: *const f32, w: usize, evens: *mut f32, odds: *mut f32) {
        let order = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
        let mut x = 0;
        while x + LANES <= w {
            // SAFETY: see the function's contract (x + 8 <= w).
            unsafe {
                let v = _mm256_permutevar8x32_ps(_mm256_loadu_ps(row.add(x)), order);
                _mm_storeu_ps(evens.add(x / 2), _mm256_castps256_ps128(v));
                _mm_storeu_ps(odds.add(x / 2), _mm256_extractf128_ps(v, 1));
            }
            x += LANES;
        }
        while x < w {
            // SAFETY: x < w; x / 2 < ceil(w / 2), and for odd x, x / 2 < w / 2.
            unsafe {
                let dst = if x % 2 == 0 { evens } else { odds };
                *dst.add(x / 2) = *row.add(x);
            }
            x += 1;
        }
    }

    /// `dst[..n] = src[..n] + add`, with `relu` then `max(0)` (NaN to 0, as `f32::max` and
    /// the batch norm kernels): eight values per step, the last step overlapping the one
    /// before (it rewrites the same values) where `n >= 8`, else one by one. Safety: AVX2
    /// present; `src` valid for `n` reads, `dst` for `n` writes, not overlapping.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn copy_add(dst: *mut f32, src: *const f32, n: usize, add: f32, relu: bool) {
        if n < LANES {
            for x in 0..n {
                // SAFETY: x < n.
                unsafe {
                    let v = *src.add(x) + add;
                    *dst.add(x) = if relu { v.max(0.0) } else { v };
                }
            }
            return;
        }
        let b = _mm256_set1_ps(add);
        // max_ps(v, 0) returns its second operand, 0, where v is NaN.
        let zero = _mm256_setzero_ps();
        let mut x = 0;
        loop {
            // SAFETY: x + 8 <= n throughout.
            unsafe {
                let v = _mm256_add_ps(_mm256_loadu_ps(src.add(x)), b);
                let v = if relu { _mm256_max_ps(v, zero) } else { v };
                _mm256_storeu_ps(dst.add(x), v);
            }
            if x + LANES == n {
                break;
            }
            x = (x + LANES).min(n - LANES);
        }
    }

    /// `mm[k][c][0..n] = Σ_ci v[k][ci][0..n] * u[k][ci][c]` for the CB outputs of one block.
    /// Safety: AVX2 and FMA present; `v` valid for `16 * ins * CHUNK` reads, `u` for `16 * ins *
    /// CB`, `mm` for `16 * CB * CHUNK` writes; `n` a multiple of 8, at most `CHUNK`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn products(
        v: *const f32,
        u: *const f32,
        ins: usize,
        n: usize,
        mm: *mut f32,
    ) {
        for k in 0..16 {
            let mut q = 0;
            while q < n {
                // SAFETY: see the function's contract.
                let step = match (n - q) / LANES {
                    1 => 1,
                    2..=5 => 2,
                    _ => 6,
                };
                // SAFETY: see the function's contract; each block ends at q + step * 8 <= n.
                unsafe {
                    match step {
                        1 => block::<CB, 1>(v, u, ins, k, q, mm, 0),
                        2 => block::<CB, 2>(v, u, ins, k, q, mm, 0),
                        _ => {
                            block::<2, 6>(v, u, ins, k, q, mm, 0);
                            block::<2, 6>(v, u, ins, k, q, mm, 2);
                        }
                    }
                }
                q += LANES * step;
            }
        }
    }

    /// One register block: outputs `c0..c0 + NC` x `NV` vectors of tiles from `q`, position
    /// `k`. The weights are held and one input vector is loaded at a time, so the
    /// accumulators (`NC * NV`), the weights (`NC`) and the input must fit AVX2's 16
    /// registers. 2 x 6 (48 tiles) is the full block; 4 outputs x 3 vectors, as the direct
    /// kernel, needed one register more and spilled an accumulator to the stack every step.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn block<const NC: usize, const NV: usize>(
        v: *const f32,
        u: *const f32,
        ins: usize,
        k: usize,
        q: usize,
        mm: *mut f32,
        c0: usize,
    ) {
        // SAFETY (whole body): the caller's contract (q + NV * 8 <= n <= CHUNK, c0 + NC <= CB).
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); NV]; NC];
            let mut src = v.add(k * ins * CHUNK + q);
            let mut uc = u.add(k * ins * CB + c0);
            for _ in 0..ins {
                let w: [__m256; NC] = std::array::from_fn(|c| _mm256_set1_ps(*uc.add(c)));
                for p in 0..NV {
                    let x = _mm256_loadu_ps(src.add(p * LANES));
                    for (a, wc) in acc.iter_mut().zip(&w) {
                        a[p] = _mm256_fmadd_ps(*wc, x, a[p]);
                    }
                }
                src = src.add(CHUNK);
                uc = uc.add(CB);
            }
            for (c, a) in acc.iter().enumerate() {
                for (p, x) in a.iter().enumerate() {
                    _mm256_storeu_ps(mm.add((k * CB + c0 + c) * CHUNK + q + p * LANES), *x);
                }
            }
        }
    }

    /// `r[c][a][0..2n]` = output row `a` of the tiles in `mm` (`Aᵀ M A`, with `Aᵀ = [[1, 1, 1,
    /// 0], [0, 1, -1, -1]]`), the two columns of each tile side by side; with `pool`,
    /// `r[c][0][0..n]` = each tile's largest output instead. Safety: AVX2 present; `mm` valid
    /// for `16 * CB * CHUNK` reads, `r` for `CB * 4 * CHUNK` writes; `n` a multiple of 8, at
    /// most `CHUNK`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn output_transform(mm: *const f32, n: usize, r: *mut f32, pool: bool) {
        for c in 0..CB {
            let mut q = 0;
            while q < n {
                // SAFETY (whole block): see the function's contract.
                unsafe {
                    let m: [__m256; 16] =
                        std::array::from_fn(|k| _mm256_loadu_ps(mm.add((k * CB + c) * CHUNK + q)));
                    // Aᵀ M: rows (m0 + m1 + m2, m1 - m2 - m3) of the 4x4 tile.
                    let s0: [__m256; 4] = std::array::from_fn(|j| {
                        _mm256_add_ps(_mm256_add_ps(m[j], m[4 + j]), m[8 + j])
                    });
                    let s1: [__m256; 4] = std::array::from_fn(|j| {
                        _mm256_sub_ps(_mm256_sub_ps(m[4 + j], m[8 + j]), m[12 + j])
                    });
                    // (Aᵀ M) A: the tile's two output rows, two columns each.
                    let ys = [s0, s1].map(|s| {
                        [
                            _mm256_add_ps(_mm256_add_ps(s[0], s[1]), s[2]),
                            _mm256_sub_ps(_mm256_sub_ps(s[1], s[2]), s[3]),
                        ]
                    });
                    if pool {
                        let top = _mm256_max_ps(ys[0][0], ys[0][1]);
                        let bottom = _mm256_max_ps(ys[1][0], ys[1][1]);
                        let dst = r.add(c * 2 * 2 * CHUNK + q);
                        _mm256_storeu_ps(dst, _mm256_max_ps(top, bottom));
                    } else {
                        for (a, [y0, y1]) in ys.into_iter().enumerate() {
                            // Interleave: tile t's two columns at 2t, 2t + 1.
                            let lo = _mm256_unpacklo_ps(y0, y1);
                            let hi = _mm256_unpackhi_ps(y0, y1);
                            let dst = r.add((c * 2 + a) * 2 * CHUNK + 2 * q);
                            _mm256_storeu_ps(dst, _mm256_permute2f128_ps(lo, hi, 0x20));
                            _mm256_storeu_ps(dst.add(LANES), _mm256_permute2f128_ps(lo, hi, 0x31));
                        }
                    }
                }
                q += LANES;
            }
        }
    }
}

/// Other CPUs never reach the kernels ([`super::direct`]'s `Isa::allowed` needs AVX2 + FMA);
/// these stand-ins let the crate build there.
#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
mod avx2 {
    pub(super) unsafe fn input_transform(
        _: *const f32,
        _: *const f32,
        _: usize,
        _: usize,
        _: usize,
        _: usize,
        _: usize,
        _: usize,
        _: *mut f32,
    ) {
        unreachable!("winograd kernels are x86-64 only")
    }
    pub(super) unsafe fn products(_: *const f32, _: *const f32, _: usize, _: usize, _: *mut f32) {
        unreachable!("winograd kernels are x86-64 only")
    }
    pub(super) unsafe fn output_transform(_: *const f32, _: usize, _: *mut f32, _: bool) {
        unreachable!("winograd kernels are x86-64 only")
    }
    pub(super) unsafe fn copy_add(_: *mut f32, _: *const f32, _: usize, _: f32, _: bool) {
        unreachable!("winograd kernels are x86-64 only")
    }
}

#[cfg(test)]
mod tests {
    use super::{Tail, forward, transform_filter};
    use crate::conv::geom::ConvGeom;

    /// Deterministic values in [-1, 1).
    fn noise(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f64 / (1u64 << 24) as f64 * 2.0 - 1.0) as f32
            })
            .collect()
    }

    /// Every output of the forward pass (whose output vector starts as NaN in these tests, not
    /// zeroed) against a naive f64 3x3 convolution with padding 1, plus bias, ReLU and the 2x2
    /// max-pool: odd and even sizes, single images and groups side by side, rows longer than a
    /// chunk, output channels not a multiple of the register block. (Measured to fail when the
    /// scatter drops one column of the second image of a group.)
    #[test]
    fn forward_writes_every_output_as_the_naive_convolution() {
        if !crate::cpu::avx2_fma() {
            eprintln!("skipped: this CPU has no AVX2 + FMA, which the Winograd kernels need");
            return;
        }
        // In a pool of two threads, batches of 9 or more give tasks of several images (8
        // tasks), laid side by side.
        let threads = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let cases = [
            (1, 4, 5, 1, 1),
            (17, 4, 4, 7, 7),
            (24, 5, 6, 14, 14),
            (9, 8, 3, 9, 6),
            (32, 4, 8, 28, 28),
            (3, 6, 5, 2, 120),
        ];
        for (i, &(batch, c_in, c_out, h, w)) in cases.iter().enumerate() {
            let x = noise(batch * c_in * h * w, 3 * i as u64 + 1);
            let weight = noise(c_out * c_in * 9, 3 * i as u64 + 2);
            let bias = noise(c_out, 3 * i as u64 + 3);
            let g = ConvGeom::new([batch, c_in, h, w], [c_out, 3, 3], [1, 1], [(1, 1), (1, 1)])
                .unwrap();
            let conv = |n: usize, o: usize, y: usize, xx: usize| -> f64 {
                let mut acc = f64::from(bias[o]);
                for c in 0..c_in {
                    for dy in 0..3 {
                        for dx in 0..3 {
                            let (sy, sx) = (y + dy, xx + dx);
                            if sy == 0 || sx == 0 || sy > h || sx > w {
                                continue;
                            }
                            let v = x[((n * c_in + c) * h + sy - 1) * w + sx - 1];
                            let k = weight[((o * c_in + c) * 3 + dy) * 3 + dx];
                            acc += f64::from(v) * f64::from(k);
                        }
                    }
                }
                acc
            };
            for (relu, pool) in [(false, false), (true, false), (true, true)] {
                let tail = Tail {
                    bias: Some(&bias),
                    relu,
                    pool,
                };
                let got = threads.install(|| forward(&g, &x, &weight, tail));
                let (oh, ow) = if pool { (h / 2, w / 2) } else { (h, w) };
                assert_eq!(got.len(), batch * c_out * oh * ow);
                for n in 0..batch {
                    for o in 0..c_out {
                        for y in 0..oh {
                            for xx in 0..ow {
                                let mut want = if pool {
                                    let at = |a: usize, b: usize| conv(n, o, 2 * y + a, 2 * xx + b);
                                    at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1))
                                } else {
                                    conv(n, o, y, xx)
                                };
                                if relu {
                                    want = want.max(0.0);
                                }
                                let v = got[((n * c_out + o) * oh + y) * ow + xx];
                                assert!(
                                    (f64::from(v) - want).abs() <= 1e-4,
                                    "case {i} relu {relu} pool {pool} [{n}, {o}, {y}, {xx}]: \
                                     got {v}, want {want}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// `U = G g Gᵀ` worked by hand: for a filter of ones, `G g` has the rows 1, 3/2, 1/2 and
    /// 1 (G's row sums) in every column, and `Gᵀ` does the same to the columns; for a centre
    /// tap alone only G's middle rows see it, with signs `+ +`, `+ -`, `- +`, `- -`.
    #[test]
    fn filter_transform_matches_hand_worked_cases() {
        let ones = transform_filter(&[1.0; 9]);
        let rows = [1.0, 1.5, 0.5, 1.0];
        let expected: Vec<f32> = rows
            .iter()
            .flat_map(|r| rows.iter().map(move |c| r * c))
            .collect();
        assert_eq!(ones.to_vec(), expected);

        let mut centre = [0.0; 9];
        centre[4] = 1.0;
        #[rustfmt::skip]
        let expected = [
            0.0, 0.0, 0.0, 0.0,
            0.0, 0.25, -0.25, 0.0,
            0.0, -0.25, 0.25, 0.0,
            0.0, 0.0, 0.0, 0.0,
        ];
        assert_eq!(transform_filter(&centre), expected);

        // A corner tap reaches U only through G's rows and columns 0..=2 with a 1 or 1/2.
        let mut corner = [0.0; 9];
        corner[0] = 2.0;
        #[rustfmt::skip]
        let expected = [
            2.0, 1.0, 1.0, 0.0,
            1.0, 0.5, 0.5, 0.0,
            1.0, 0.5, 0.5, 0.0,
            0.0, 0.0, 0.0, 0.0,
        ];
        assert_eq!(transform_filter(&corner), expected);
    }
}
