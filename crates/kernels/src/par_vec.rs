//! Vectors filled in parallel on rayon's threads.

#![allow(unsafe_code)]

/// A vector of `len` values built in parts of `part` values (the last may be shorter) by
/// `fill(index, values)` on rayon's threads; each part is zeroed by the task that fills it,
/// just before `fill`, rather than the whole vector by the calling thread.
///
/// Why: `vec![0.0; len]` of a reused heap block is a `memset` on the caller while rayon's
/// threads wait; for the activation-sized outputs of a VGG8 step that was ~20 % of the
/// calling thread's time. Zeroing a part inside its own task spreads it over the threads and
/// leaves it in cache for `fill`.
pub(crate) fn par_parts(
    len: usize,
    part: usize,
    fill: impl Fn(usize, &mut [f32]) + Sync + Send,
) -> Vec<f32> {
    // SAFETY: `zeroed` writes every value of the part before `fill` gets it.
    unsafe { par_parts_written(len, part, |i, values| fill(i, zeroed(values))) }
}

/// [`par_parts`] without the zeroing, for a `fill` that writes every value of its part
/// itself: the zeroing is a `memset` of the whole output (4 % of an eval-mode forward).
///
/// In this crate's tests each part starts as NaN instead, so that a value `fill` misses shows
/// up in the comparisons with the references.
///
/// # Safety
/// `fill(index, values)` must write every element of `values` (or panic).
pub(crate) unsafe fn par_parts_written(
    len: usize,
    part: usize,
    fill: impl Fn(usize, &mut [std::mem::MaybeUninit<f32>]) + Sync + Send,
) -> Vec<f32> {
    use rayon::prelude::*;

    let mut v: Vec<f32> = Vec::with_capacity(len);
    v.spare_capacity_mut()[..len]
        .par_chunks_mut(part.max(1))
        .enumerate()
        .for_each(|(i, values)| {
            #[cfg(test)]
            values.fill(std::mem::MaybeUninit::new(f32::NAN));
            fill(i, values);
        });
    // SAFETY: the parts of `par_chunks_mut` cover `0..len` of the spare capacity (which holds
    // at least `len` values), and the caller's `fill` wrote every value of each; a panic in a
    // task propagates out of `for_each` before this line.
    unsafe { v.set_len(len) };
    v
}

/// `values` as slots that may be written, not read: for a kernel that writes either into a
/// fresh part of [`par_parts_written`] or into a vector that is already initialised.
///
/// # Safety
/// Only initialised `f32`s may be written through the result (never `MaybeUninit::uninit()`),
/// so that `values` stays initialised.
pub(crate) unsafe fn as_slots(values: &mut [f32]) -> &mut [std::mem::MaybeUninit<f32>] {
    // SAFETY: `MaybeUninit<f32>` has the layout of `f32`; the caller writes only initialised
    // values (see the contract).
    unsafe { &mut *(std::ptr::from_mut(values) as *mut [std::mem::MaybeUninit<f32>]) }
}

/// `values` set to zero, as the `f32`s they now are: for a task that fills its own part of a
/// vector allocated without zeroing (zeroed there, in parallel and into the task's cache,
/// rather than by a `vec![0.0; len]` on the calling thread).
pub(crate) fn zeroed(values: &mut [std::mem::MaybeUninit<f32>]) -> &mut [f32] {
    values.fill(std::mem::MaybeUninit::new(0.0));
    // SAFETY: every element of `values` was just initialised, and `MaybeUninit<f32>` has the
    // size, alignment and layout of `f32`.
    unsafe { &mut *(std::ptr::from_mut(values) as *mut [f32]) }
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
