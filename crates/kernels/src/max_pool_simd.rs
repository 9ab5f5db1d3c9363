//! One output row of the 2x2 max-pool's backward in AVX2, eight windows at a time and the
//! last fewer than eight with masked loads and stores.
//!
//! The scalar loop (`max_pool::max_pool2x2_backward`) finds each window's argmax with a chain
//! of selects that does not vectorise across windows (they sit interleaved in the rows), and
//! took ~6 % of a VGG8 step. Here the two input rows are split into even and odd columns, the
//! same select chain runs on eight windows per instruction, and the four masked gradients are
//! interleaved back: the same winner as the scalar rule (the first of equal largest values,
//! the last NaN if there is one).

#![allow(unsafe_code)]

/// Writes the input gradient of output row `dy` (`ow` windows) into `upper` and `lower` (the
/// two input rows, at least `2 * ow` long each) given the input rows `top` and `bottom`.
/// Returns how many windows it did (all of them: the last fewer than 8 with masked loads and
/// stores, as VGG8's 7- and 3-window rows are), 0 without AVX2.
pub(crate) fn backward_row(
    top: &[f32],
    bottom: &[f32],
    dy: &[f32],
    upper: &mut [f32],
    lower: &mut [f32],
) -> usize {
    let windows = dy
        .len()
        .min(top.len() / 2)
        .min(bottom.len() / 2)
        .min(upper.len() / 2)
        .min(lower.len() / 2);
    #[cfg(target_arch = "x86_64")]
    if windows > 0 && crate::cpu::avx2_fma() {
        // SAFETY: AVX2 is present; every slice holds at least `windows` windows (2 * windows
        // values per row, `windows` gradients), which is all the kernel touches.
        unsafe { avx2::backward_row(top, bottom, dy, upper, lower, windows) };
        return windows;
    }
    0
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// Even and odd columns of the 16 values `[v0, v1]`, each in order.
    #[target_feature(enable = "avx2")]
    fn unzip(v0: __m256, v1: __m256) -> (__m256, __m256) {
        // Per 128-bit lane: [v0_0, v0_2, v1_0, v1_2 | v0_4, v0_6, v1_4, v1_6]; then the 64-bit
        // pairs are put in order.
        let even = _mm256_shuffle_ps::<0b10_00_10_00>(v0, v1);
        let odd = _mm256_shuffle_ps::<0b11_01_11_01>(v0, v1);
        let order = |v: __m256| {
            _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)))
        };
        (order(even), order(odd))
    }

    /// `even` and `odd` interleaved, as 16 values `[v0, v1]`.
    #[target_feature(enable = "avx2")]
    fn zip(even: __m256, odd: __m256) -> (__m256, __m256) {
        let lo = _mm256_unpacklo_ps(even, odd);
        let hi = _mm256_unpackhi_ps(even, odd);
        (
            _mm256_permute2f128_ps::<0x20>(lo, hi),
            _mm256_permute2f128_ps::<0x31>(lo, hi),
        )
    }

    /// `v` wins over `best`: larger, or NaN.
    #[target_feature(enable = "avx2")]
    fn takes(v: __m256, best: __m256) -> __m256 {
        _mm256_or_ps(
            _mm256_cmp_ps::<_CMP_GT_OQ>(v, best),
            _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v),
        )
    }

    /// The gradients `g` of eight windows `[a, b, c, d]` routed to their winners.
    #[target_feature(enable = "avx2")]
    fn window_grads(a: __m256, b: __m256, c: __m256, d: __m256, g: __m256) -> [__m256; 4] {
        let tb = takes(b, a);
        let best = _mm256_blendv_ps(a, b, tb);
        let tc = takes(c, best);
        let best = _mm256_blendv_ps(best, c, tc);
        let td = takes(d, best);
        let is_c = _mm256_andnot_ps(td, tc);
        let is_b = _mm256_andnot_ps(_mm256_or_ps(tc, td), tb);
        [
            _mm256_andnot_ps(_mm256_or_ps(_mm256_or_ps(tb, tc), td), g),
            _mm256_and_ps(is_b, g),
            _mm256_and_ps(is_c, g),
            _mm256_and_ps(td, g),
        ]
    }

    /// See [`super::backward_row`]: `done` windows. Safety: AVX2 present, the rows hold
    /// `2 * done` values and `dy` holds `done`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn backward_row(
        top: &[f32],
        bottom: &[f32],
        dy: &[f32],
        upper: &mut [f32],
        lower: &mut [f32],
        done: usize,
    ) {
        let mut j = 0;
        while j + 8 <= done {
            // SAFETY: 2 * j + 16 <= 2 * done values in each row, j + 8 <= done gradients.
            unsafe {
                let load2 = |p: *const f32| unzip(_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)));
                let (a, b) = load2(top.as_ptr().add(2 * j));
                let (c, d) = load2(bottom.as_ptr().add(2 * j));
                let g = _mm256_loadu_ps(dy.as_ptr().add(j));
                let [ga, gb, gc, gd] = window_grads(a, b, c, d, g);
                let store2 = |p: *mut f32, even: __m256, odd: __m256| {
                    let (v0, v1) = zip(even, odd);
                    _mm256_storeu_ps(p, v0);
                    _mm256_storeu_ps(p.add(8), v1);
                };
                store2(upper.as_mut_ptr().add(2 * j), ga, gb);
                store2(lower.as_mut_ptr().add(2 * j), gc, gd);
            }
            j += 8;
        }
        let rest = done - j;
        if rest > 0 {
            // The last 1..8 windows: masked loads read, and masked stores write, only the
            // lanes of those windows (masked-off lanes are not accessed, so the pointers may
            // run past the slices; they are formed with wrapping arithmetic).
            let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            let below = |n: usize| _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), lanes);
            let (lo, hi, gm) = (
                below(2 * rest),
                below((2 * rest).saturating_sub(8)),
                below(rest),
            );
            // SAFETY: every lane the masks enable lies inside its slice: values 2 * j ..
            // 2 * done of each row, gradients j .. done.
            unsafe {
                let load2 = |p: *const f32| {
                    unzip(
                        _mm256_maskload_ps(p, lo),
                        _mm256_maskload_ps(p.wrapping_add(8), hi),
                    )
                };
                let (a, b) = load2(top.as_ptr().wrapping_add(2 * j));
                let (c, d) = load2(bottom.as_ptr().wrapping_add(2 * j));
                let g = _mm256_maskload_ps(dy.as_ptr().wrapping_add(j), gm);
                let [ga, gb, gc, gd] = window_grads(a, b, c, d, g);
                let store2 = |p: *mut f32, even: __m256, odd: __m256| {
                    let (v0, v1) = zip(even, odd);
                    _mm256_maskstore_ps(p, lo, v0);
                    _mm256_maskstore_ps(p.wrapping_add(8), hi, v1);
                };
                store2(upper.as_mut_ptr().wrapping_add(2 * j), ga, gb);
                store2(lower.as_mut_ptr().wrapping_add(2 * j), gc, gd);
            }
        }
    }
}
