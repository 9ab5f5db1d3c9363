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

/// Set while [`keep_pool_warm`]'s spinners run.
static SPINNING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Keeps rayon's other threads looking for work, rather than asleep, until none has come for
/// `idle`; returns at once. Call it from a pool thread (see [`join_cpu_pool`]) before a burst
/// of short parallel sections, such as a training step; a call while the spinners run does
/// nothing.
///
/// Why: a VGG8 step on 28x28 digits is ~40 parallel sections of a few hundred microseconds,
/// separated by the serial work of the autodiff graph, the head and the optimizer, which is
/// long enough for rayon's idle threads to go to sleep. Each section then starts on the
/// caller alone while the futex wakes the other thread (`perf`: the calling thread ran ~25 %
/// more of the conv kernels than the other). A spinning thread takes its share at once, as
/// OpenMP's spinning threads do in PyTorch; the cost is a core kept busy for `idle` after the
/// last section.
pub fn keep_pool_warm(idle: std::time::Duration) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let (Some(caller), threads) = (rayon::current_thread_index(), rayon::current_num_threads())
    else {
        return;
    };
    // At most one spinner per CPU besides the caller: a pool larger than the machine (say
    // RAYON_NUM_THREADS=16 on 2 cores) would otherwise crowd the caller off its own core.
    // Asked once: the call reads the affinity mask and the cgroup's quota files, and this
    // runs before every training step.
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cpus = *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let spinners = threads.min(cpus).saturating_sub(1);
    if spinners == 0 || SPINNING.swap(true, Ordering::AcqRel) {
        return;
    }
    // Every thread but the caller runs the broadcast once; the last one out clears the flag.
    let left = Arc::new(AtomicUsize::new(threads - 1));
    let started = AtomicUsize::new(0);
    rayon::spawn_broadcast(move |ctx| {
        // The caller has work of its own; it runs this only when it waits for other threads.
        if ctx.index() == caller {
            return;
        }
        if started.fetch_add(1, Ordering::AcqRel) < spinners {
            let mut last = std::time::Instant::now();
            loop {
                match rayon::yield_now() {
                    Some(rayon::Yield::Executed) => last = std::time::Instant::now(),
                    _ if last.elapsed() >= idle => break,
                    // Not a busy loop: other runnable threads (a data loader's) get the core.
                    _ => std::thread::yield_now(),
                }
            }
        }
        if left.fetch_sub(1, Ordering::AcqRel) == 1 {
            SPINNING.store(false, Ordering::Release);
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    use rayon::prelude::*;

    use super::{SPINNING, keep_pool_warm};

    /// In a pool of two, the spinner takes its share of the sections that follow (they give
    /// the right sums and finish), and stops once no work has come for its idle time.
    #[test]
    fn spinning_threads_run_sections_and_then_stop() {
        if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
            eprintln!("skipped: one CPU, where keep_pool_warm starts no spinner");
            return;
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(|| {
            keep_pool_warm(Duration::from_millis(20));
            assert!(SPINNING.load(Ordering::Acquire), "no spinner was started");
            // A second call while it spins starts nothing more (and must not deadlock).
            keep_pool_warm(Duration::from_millis(20));
            for n in [10u64, 1_000, 100_000] {
                let sum: u64 = (1..=n).into_par_iter().sum();
                assert_eq!(sum, n * (n + 1) / 2);
            }
        });
        let started = Instant::now();
        while SPINNING.load(Ordering::Acquire) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the spinner did not stop after its idle time"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // Outside any pool it does nothing.
        keep_pool_warm(Duration::from_millis(20));
        assert!(!SPINNING.load(Ordering::Acquire));
    }
}
