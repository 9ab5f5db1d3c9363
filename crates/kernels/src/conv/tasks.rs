//! How the conv kernels split a batch over rayon's threads, and each thread's scratch buffer.

use std::cell::RefCell;

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

/// Images per rayon task: a few tasks per thread, so that work stealing can even out a thread
/// slowed by other processes.
pub(super) fn images_per_task(batch: usize) -> usize {
    batch
        .div_ceil(4 * rayon::current_num_threads().max(1))
        .max(1)
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
