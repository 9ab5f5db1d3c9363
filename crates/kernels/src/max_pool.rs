//! The VGG blocks' 2x2 max-pool with stride 2 on plain `f32` NCHW planes, forward and backward.

use crate::max_pool_simd;
use crate::par_vec::par_parts;

/// `[planes, h, w]` (planes = batch * channels) of a 2x2 max-pool with stride 2 and no
/// padding; a last odd row or column is dropped, as burn's floor mode does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeom {
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
pub fn max_pool2x2_forward(g: &PoolGeom, x: &[f32]) -> Vec<f32> {
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
pub fn max_pool2x2_backward(g: &PoolGeom, x: &[f32], dy: &[f32]) -> Vec<f32> {
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
                let done = max_pool_simd::backward_row(top, bottom, dyrow, upper, lower);
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
