//! Dropout's keep mask, drawn from one seed.

/// `len` values, each `1 / keep` with probability `keep` and 0 otherwise, independently: the
/// factor inverted dropout multiplies its input by. Value `i` depends on `seed` and `i` only
/// (two values per SplitMix64 output of `seed + ⌊i / 2⌋ · γ`, 32 bits each), so a mask is
/// reproducible from its seed.
///
/// Why not burn's `Distribution::Bernoulli`: it draws every value from the device's ChaCha
/// stream through a generic sampler, ~20 ns a value on the thread that trains while the
/// other threads wait (VGG8's 576 features x 32 images: ~2 % of an MNIST epoch).
pub fn dropout_mask(len: usize, keep: f64, seed: u64) -> Vec<f32> {
    // keep <= 0 drops everything; keep >= 1 keeps everything (threshold 2^32 > any u32).
    let threshold = (keep.clamp(0.0, 1.0) * 4_294_967_296.0) as u64;
    let scale = if keep > 0.0 { (1.0 / keep) as f32 } else { 0.0 };
    let value = |bits: u32| {
        if u64::from(bits) < threshold {
            scale
        } else {
            0.0
        }
    };
    let mut out = Vec::with_capacity(len);
    for pair in 0..len.div_ceil(2) {
        let r = splitmix64(seed.wrapping_add((pair as u64).wrapping_mul(GAMMA)));
        out.push(value(r as u32));
        if out.len() < len {
            out.push(value((r >> 32) as u32));
        }
    }
    out
}

/// SplitMix64's increment (the golden ratio in 64 bits).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function (Steele, Lea and Flood, "Fast splittable pseudorandom number
/// generators", 2014): a bijection of 64 bits that mixes every input bit into every output bit.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::{dropout_mask, splitmix64};

    /// The first outputs of SplitMix64 seeded with 0, as the reference implementation
    /// (`splitmix64.c`, Vigna) prints them: its state advances by γ before each output.
    #[test]
    fn splitmix_matches_the_reference_sequence() {
        let expected = [
            0xE220_A839_7B1D_CDAF,
            0x6E78_9E6A_A1B9_65F4,
            0x06C4_5D18_8009_454F,
        ];
        for (i, e) in expected.into_iter().enumerate() {
            assert_eq!(
                splitmix64((i as u64).wrapping_mul(super::GAMMA)),
                e,
                "output {i}"
            );
        }
    }

    /// Values are 0 or 1 / keep; the dropped share, and the share of neighbours both kept
    /// (the two halves of one output), are within 6 standard deviations of the binomial's.
    #[test]
    fn mask_has_the_bernoulli_shares() {
        let n = 1_000_000;
        for keep in [0.5, 0.9, 0.2] {
            let mask = dropout_mask(n, keep, 58);
            assert_eq!(mask.len(), n);
            let scale = (1.0 / keep) as f32;
            assert!(mask.iter().all(|&v| v == 0.0 || v == scale));
            let kept = mask.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
            let sd = (keep * (1.0 - keep) / n as f64).sqrt();
            assert!(
                (kept - keep).abs() < 6.0 * sd,
                "keep {keep}: kept share {kept}"
            );
            let pairs = mask
                .chunks_exact(2)
                .filter(|p| p[0] != 0.0 && p[1] != 0.0)
                .count() as f64
                / (n / 2) as f64;
            let both = keep * keep;
            let sd = (both * (1.0 - both) / (n / 2) as f64).sqrt();
            assert!(
                (pairs - both).abs() < 6.0 * sd,
                "keep {keep}: both-kept share {pairs}"
            );
        }
    }

    #[test]
    fn mask_follows_its_seed_and_handles_the_ends() {
        assert_eq!(dropout_mask(101, 0.5, 7), dropout_mask(101, 0.5, 7));
        assert_ne!(dropout_mask(101, 0.5, 7), dropout_mask(101, 0.5, 8));
        // A prefix is the same mask's start: value i depends on (seed, i) only.
        assert_eq!(
            dropout_mask(100, 0.5, 7)[..],
            dropout_mask(101, 0.5, 7)[..100]
        );
        assert!(dropout_mask(9, 1.0, 3).iter().all(|&v| v == 1.0));
        assert!(dropout_mask(9, 0.0, 3).iter().all(|&v| v == 0.0));
        assert!(dropout_mask(0, 0.5, 3).is_empty());
    }
}
