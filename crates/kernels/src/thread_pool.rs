//! Makes the calling thread one of the threads of rayon's global pool.
//!
//! A parallel section started from a thread outside the pool is injected into it, and the
//! caller sleeps until a pool thread finishes it: a VGG8 step has ~40 such sections, each
//! paying for the caller's sleep and wake-up while it could have computed a share itself.
//! Called once, early, on the thread that will train, it turns every kernel's section into a
//! `join` on that thread: the caller works, one other thread steals.

/// Builds rayon's global pool of `threads` threads (`None` or zero: one per CPU), the calling
/// thread one of them. Does nothing, and returns false, with fewer than two threads (a pool of
/// the caller alone would never run work other threads hand it) or when the global pool
/// already exists.
pub fn join_cpu_pool(threads: Option<usize>) -> bool {
    let threads = threads
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    threads >= 2
        && rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .use_current_thread()
            .build_global()
            .is_ok()
}
