//! glibc malloc settings for the kernels' activation-sized buffers.
//!
//! Every kernel returns a fresh `Vec` (burn's tensors own their buffers), 0.1-2 MB each for a
//! VGG8 step at batch 32. glibc serves such blocks with `mmap` or trims them off the heap
//! when freed, so each step pays for its buffers again in page faults and page clearing (a
//! profile of the step showed ~8 % of its samples there; ~1,000-2,000 faults per step).
//! Raising the mmap and trim thresholds once lets freed blocks be reused from the heap: the
//! resident size grows by at most the largest buffers still held by malloc.
//!
//! Tuning the process is the program's decision, not the library's: the binary calls
//! [`tune_malloc`] at start (unless told not to), and so do the kernels' benchmarks.

#![allow(unsafe_code)]

/// Raises glibc's mmap and trim thresholds (nothing on other C libraries). Setting them again
/// is harmless.
pub fn tune_malloc() {
    imp::tune();
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
