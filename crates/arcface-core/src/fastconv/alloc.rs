//! glibc malloc settings for the kernels' activation-sized buffers.
//!
//! Every kernel returns a fresh `Vec` (burn's tensors own their buffers), 0.1-2 MB each for a
//! VGG8 step at batch 32. glibc serves such blocks with `mmap` or trims them off the heap
//! when freed, so each step pays for its buffers again in page faults and page clearing (a
//! profile of the step showed ~8 % of its samples there; ~1,000-2,000 faults per step).
//! Raising the mmap and trim thresholds once lets freed blocks be reused from the heap: the
//! resident size grows by at most the largest buffers still held by malloc.
//!
//! `ARCFACE_MALLOC_TUNE=0` (read once per process) leaves malloc alone; so do settings made
//! through `GLIBC_TUNABLES` or `MALLOC_*_` variables, which this respects.

#![allow(unsafe_code)]

/// Applies the settings once per process (later calls do nothing).
pub(super) fn tune_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let off = matches!(
            std::env::var("ARCFACE_MALLOC_TUNE")
                .as_deref()
                .map(str::trim),
            Ok("0" | "false" | "off" | "no")
        );
        let user_set = std::env::var_os("GLIBC_TUNABLES").is_some()
            || std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some()
            || std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_some();
        if !off && !user_set {
            imp::tune();
        }
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    use std::os::raw::c_int;

    // From glibc's <malloc.h>.
    const M_TRIM_THRESHOLD: c_int = -1;
    const M_MMAP_THRESHOLD: c_int = -3;

    unsafe extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
    }

    pub(super) fn tune() {
        // 32 MiB is the largest mmap threshold glibc accepts on 64-bit targets; blocks above
        // it (rare here) are still mapped and unmapped each time.
        const MMAP_THRESHOLD: c_int = 32 << 20;
        const TRIM_THRESHOLD: c_int = 128 << 20;
        // SAFETY: `mallopt` is glibc's documented interface for these two parameters; it takes
        // plain integers, touches only malloc's own settings (under malloc's lock), and
        // returns 0 for a value it rejects, which leaves the setting as it was.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    pub(super) fn tune() {}
}

/// A vector of `len` values built in parts of `part` values (the last may be shorter) by
/// `fill(index, values)` on rayon's threads; each part is zeroed by the task that fills it,
/// just before `fill`, rather than the whole vector by the calling thread.
///
/// Why: `vec![0.0; len]` of a reused heap block is a `memset` on the caller while rayon's
/// threads wait; for the activation-sized outputs of a VGG8 step that was ~20 % of the
/// calling thread's time. Zeroing a part inside its own task spreads it over the threads and
/// leaves it in cache for `fill`.
pub(super) fn par_parts(
    len: usize,
    part: usize,
    fill: impl Fn(usize, &mut [f32]) + Sync + Send,
) -> Vec<f32> {
    use rayon::prelude::*;
    use std::mem::MaybeUninit;

    let mut v: Vec<f32> = Vec::with_capacity(len);
    v.spare_capacity_mut()[..len]
        .par_chunks_mut(part.max(1))
        .enumerate()
        .for_each(|(i, values)| {
            values.fill(MaybeUninit::new(0.0));
            // SAFETY: every element of `values` was just initialised, and `MaybeUninit<f32>`
            // has the size, alignment and layout of `f32`.
            let values = unsafe { &mut *(std::ptr::from_mut(values) as *mut [f32]) };
            fill(i, values);
        });
    // SAFETY: the parts of `par_chunks_mut` cover `0..len` of the spare capacity (which holds
    // at least `len` values), and each part was initialised in its task above; a panic in a
    // task propagates out of `for_each` before this line.
    unsafe { v.set_len(len) };
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn par_parts_zeroes_then_fills_each_part_once() {
        // Adding (not writing) the part number + 1 shows each value started at zero and was
        // visited by exactly one part, the last one shorter.
        let v = super::par_parts(10, 3, |i, part| {
            for x in part.iter_mut() {
                *x += i as f32 + 1.0;
            }
        });
        assert_eq!(v, [1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0]);
        assert!(super::par_parts(0, 4, |_, _| panic!("no parts for no values")).is_empty());
    }
}
