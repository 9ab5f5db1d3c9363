//! One output row of the 2x2 max-pool's backward in AVX2, eight windows at a time.
//!
//! The scalar loop (`kernels::max_pool2x2_backward`) finds each window's argmax with a chain
//! of selects that does not vectorise across windows (they sit interleaved in the rows), and
//! took ~6 % of a VGG8 step. Here the two input rows are split into even and odd columns, the
//! same select chain runs on eight windows per instruction, and the four masked gradients are
//! interleaved back: the same winner as the scalar rule (the first of equal largest values,
//! the last NaN if there is one).

#![allow(unsafe_code)]

/// Writes the input gradient of output row `dy` (`ow` windows) into `upper` and `lower` (the
/// two input rows, at least `2 * ow` long each) given the input rows `top` and `bottom`.
/// Returns how many windows it did (a multiple of 8; the caller does the rest), 0 without
/// AVX2.
pub(super) fn backward_row(
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
    let done = windows - windows % 8;
    #[cfg(target_arch = "x86_64")]
    if done > 0 && super::cpu::avx2_fma() {
        // SAFETY: AVX2 is present; every slice holds at least `done` windows (2 * done values
        // per row, `done` gradients), which is all the kernel touches.
        unsafe { avx2::backward_row(top, bottom, dy, upper, lower, done) };
        return done;
    }
    0
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// Even and odd columns of 16 values at `p`, each in order.
    #[target_feature(enable = "avx2")]
    unsafe fn split(p: *const f32) -> (__m256, __m256) {
        // SAFETY: the caller passes 16 readable values.
        let (v0, v1) = unsafe { (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))) };
        // Per 128-bit lane: [v0_0, v0_2, v1_0, v1_2 | v0_4, v0_6, v1_4, v1_6]; then the 64-bit
        // pairs are put in order.
        let even = _mm256_shuffle_ps::<0b10_00_10_00>(v0, v1);
        let odd = _mm256_shuffle_ps::<0b11_01_11_01>(v0, v1);
        let order = |v: __m256| {
            _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)))
        };
        (order(even), order(odd))
    }

    /// Stores `even` and `odd` interleaved as 16 values at `p`.
    #[target_feature(enable = "avx2")]
    unsafe fn merge(p: *mut f32, even: __m256, odd: __m256) {
        let lo = _mm256_unpacklo_ps(even, odd);
        let hi = _mm256_unpackhi_ps(even, odd);
        // SAFETY: the caller passes 16 writable values.
        unsafe {
            _mm256_storeu_ps(p, _mm256_permute2f128_ps::<0x20>(lo, hi));
            _mm256_storeu_ps(p.add(8), _mm256_permute2f128_ps::<0x31>(lo, hi));
        }
    }

    /// `v` wins over `best`: larger, or NaN.
    #[target_feature(enable = "avx2")]
    fn takes(v: __m256, best: __m256) -> __m256 {
        _mm256_or_ps(
            _mm256_cmp_ps::<_CMP_GT_OQ>(v, best),
            _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v),
        )
    }

    /// See [`super::backward_row`]; `done` windows, a multiple of 8. Safety: AVX2 present,
    /// the rows hold `2 * done` values and `dy` holds `done`.
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
        while j < done {
            // SAFETY: 2 * j + 16 <= 2 * done values in each row, j + 8 <= done gradients.
            unsafe {
                let (a, b) = split(top.as_ptr().add(2 * j));
                let (c, d) = split(bottom.as_ptr().add(2 * j));
                let g = _mm256_loadu_ps(dy.as_ptr().add(j));
                let tb = takes(b, a);
                let best = _mm256_blendv_ps(a, b, tb);
                let tc = takes(c, best);
                let best = _mm256_blendv_ps(best, c, tc);
                let td = takes(d, best);
                let is_c = _mm256_andnot_ps(td, tc);
                let is_b = _mm256_andnot_ps(_mm256_or_ps(tc, td), tb);
                let is_a = _mm256_andnot_ps(_mm256_or_ps(_mm256_or_ps(tb, tc), td), g);
                merge(upper.as_mut_ptr().add(2 * j), is_a, _mm256_and_ps(is_b, g));
                merge(
                    lower.as_mut_ptr().add(2 * j),
                    _mm256_and_ps(is_c, g),
                    _mm256_and_ps(td, g),
                );
            }
            j += 8;
        }
    }
}
