//! Per-item training augmentation: horizontal flip, random crop with zero padding, brightness
//! and contrast jitter, drawn from a seeded stream per (seed, epoch, item).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::fields::AugmentConfig;

/// The random choices for one item in one epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AugmentParams {
    /// Mirror left-right (after the crop).
    pub flip: bool,
    /// Top-left corner of the crop window in the padded image, each in `0..=2 * padding`
    /// (`padding`, `padding` is the unshifted image).
    pub dx: usize,
    pub dy: usize,
    /// Pixel multiplier (1 = unchanged).
    pub brightness: f32,
    /// Multiplier of the distance from the image mean (1 = unchanged).
    pub contrast: f32,
}

impl AugmentParams {
    /// The choices that change nothing, for a given padding.
    pub fn identity(padding: usize) -> Self {
        Self {
            flip: false,
            dx: padding,
            dy: padding,
            brightness: 1.0,
            contrast: 1.0,
        }
    }
}

/// SplitMix64's finaliser: spreads (seed, epoch) over the 64-bit seed space.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl AugmentConfig {
    /// Whether any augmentation is switched on.
    pub fn is_active(&self) -> bool {
        self.horizontal_flip
            || self.crop_padding > 0
            || self.brightness > 0.0
            || self.contrast > 0.0
    }

    /// The choices for item `item` in epoch `epoch`: a function of (seed, epoch, item) only,
    /// so independent of batch composition, order and worker count. Draws for switched-off
    /// parts are made too (and ignored), so switching one part on does not change the others.
    pub fn draw(&self, seed: u64, epoch: u64, item: u64) -> AugmentParams {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(seed ^ mix(epoch.wrapping_add(1))));
        rng.set_stream(item);
        let flip: bool = rng.random();
        let span = 2 * self.crop_padding + 1;
        let dx = rng.random_range(0..span);
        let dy = rng.random_range(0..span);
        let b: f32 = rng.random_range(-1.0..=1.0);
        let c: f32 = rng.random_range(-1.0..=1.0);
        AugmentParams {
            flip: self.horizontal_flip && flip,
            dx,
            dy,
            brightness: 1.0 + b * self.brightness,
            contrast: 1.0 + c * self.contrast,
        }
    }
}

/// Applies `params` to one CHW `u8` image and appends the result (pixel values in 0..=255, as
/// `f32`, same shape) to `out`.
///
/// In order: zero-pad by `padding` and cut the window at (`dx`, `dy`); mirror; multiply by
/// `brightness` and clamp to 0..=255; move every value away from the image mean (over all
/// channels) by `contrast` and clamp again.
pub fn augment_pixels(
    params: &AugmentParams,
    padding: usize,
    shape: [usize; 3],
    pixels: &[u8],
    out: &mut Vec<f32>,
) {
    let [channels, height, width] = shape;
    let start = out.len();
    out.reserve(channels * height * width);
    // Source column of every output column (None: padding), worked out once per image.
    let columns: Vec<Option<usize>> = (0..width)
        .map(|x| {
            let wx = if params.flip { width - 1 - x } else { x };
            (wx + params.dx).checked_sub(padding).filter(|&v| v < width)
        })
        .collect();
    let brightness = params.brightness;
    for c in 0..channels {
        let plane = &pixels[c * height * width..(c + 1) * height * width];
        for y in 0..height {
            match (y + params.dy).checked_sub(padding).filter(|&v| v < height) {
                Some(sy) => {
                    let row = &plane[sy * width..(sy + 1) * width];
                    out.extend(columns.iter().map(|column| match column {
                        Some(sx) => (f32::from(row[*sx]) * brightness).clamp(0.0, 255.0),
                        None => 0.0,
                    }));
                }
                None => out.extend(std::iter::repeat_n(0.0, width)),
            }
        }
    }
    if params.contrast != 1.0 {
        let image = &mut out[start..];
        // Eight running sums: a single one would serialise every add on its latency.
        let mut sums = [0f32; 8];
        let chunks = image.chunks_exact(8);
        let tail: f32 = chunks.remainder().iter().sum();
        for chunk in chunks {
            for (s, v) in sums.iter_mut().zip(chunk) {
                *s += v;
            }
        }
        let mean = (sums.iter().sum::<f32>() + tail) / image.len().max(1) as f32;
        for v in image {
            *v = ((*v - mean) * params.contrast + mean).clamp(0.0, 255.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_is_splitmix64() {
        // SplitMix64 with state 0 advanced once (state += golden gamma), from the reference
        // implementation: first output 0xe220a8397b1dcdaf.
        assert_eq!(mix(0x9e37_79b9_7f4a_7c15), 0xe220_a839_7b1d_cdaf);
    }
}
