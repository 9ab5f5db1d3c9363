//! The one palette an animation's frames share, and the fast map from a pixel's colour to its
//! palette index.
//!
//! Every frame is drawn from the same few colours: white, the class colours and their blends
//! toward white (translucent, stacked and anti-aliased dots), greys (text, axes, rings) and a
//! few mixtures where dots of two classes or a ray and its outline overlap. Quantising each frame
//! from scratch (NeuQuant) took ~50 ms a 640-px frame and gave every frame its own palette; this
//! palette is built once, from the first frame, and each colour's nearest entry is looked up
//! once and remembered.

use std::collections::{HashMap, HashSet};

use crate::canvas::Rgb;
use crate::palette::class_colors;

/// Most colours a palette holds: 256 less one, so that the lookup table can keep 0 for "not
/// looked up yet".
pub(crate) const MAX_COLORS: usize = 255;
/// Colours of the first frame that cover at least this many pixels get an entry of their own,
/// at most [`FREQUENT`] of them: backgrounds, lines, text, single and stacked dots.
const MIN_FREQUENT_PIXELS: u32 = 16;
const FREQUENT: usize = 48;
/// Entries for blends of the class colours toward white, shared among the classes.
const RAMPS: usize = 64;
/// Grey levels 0, 17, ..., 255: every grey (anti-aliased text and lines) is within 8 levels of one.
const GREY_STEP: usize = 17;
/// Levels of the coarse colour cube that bounds the error of colours nothing else is near.
const CUBE: [u8; 3] = [0, 128, 255];

/// The palette for an animation whose first frame is `first` (RGB, 3 bytes a pixel), in order
/// of priority, each colour once, at most [`MAX_COLORS`]:
/// 1. white, the grey ramp and the coarse cube: every colour has an entry within reach;
/// 2. the class colours the first frame shows (legend swatches and rays are opaque), or all of
///    them when it shows none, each with a few blends toward white (translucent and
///    anti-aliased dots);
/// 3. the first frame's most frequent colours, exactly;
/// 4. with the room left, the first frame's colours that the entries so far show worst
///    (mixtures: dots of two classes, a ray's edge over its outline), one at a time.
pub(crate) fn build_palette(first: &[u8]) -> Vec<Rgb> {
    let counts = color_counts(first);
    let mut palette = Entries::default();
    palette.push([255, 255, 255]);
    for g in (0..=255).step_by(GREY_STEP) {
        palette.push([g as u8; 3]);
    }
    for r in CUBE {
        for g in CUBE {
            for b in CUBE {
                palette.push([r, g, b]);
            }
        }
    }
    let shown: Vec<Rgb> = class_colors()
        .iter()
        .copied()
        .filter(|c| counts.contains_key(c))
        .collect();
    let classes = if shown.is_empty() {
        class_colors().to_vec()
    } else {
        shown
    };
    let steps = (RAMPS / classes.len()).max(1) + 1; // the class colour itself is step 0
    for &c in &classes {
        for step in 0..steps {
            palette.push(toward_white(c, step as f32 / steps as f32));
        }
    }
    let mut by_count: Vec<(u32, Rgb)> = counts.iter().map(|(&c, &n)| (n, c)).collect();
    // Most pixels first; the colour breaks ties so the palette does not depend on hash order.
    by_count.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, c) in by_count
        .iter()
        .take_while(|(n, _)| *n >= MIN_FREQUENT_PIXELS)
        .take(FREQUENT)
    {
        palette.push(c);
    }
    palette.fill_worst_shown(&by_count);
    palette.colors
}

/// Palette entries in order, each colour once.
#[derive(Default)]
struct Entries {
    colors: Vec<Rgb>,
    seen: HashSet<Rgb>,
}

impl Entries {
    fn push(&mut self, c: Rgb) {
        if self.colors.len() < MAX_COLORS && self.seen.insert(c) {
            self.colors.push(c);
        }
    }

    /// Adds, while there is room, the colour whose pixels the palette shows worst (count times
    /// squared distance to their nearest entry): a greedy cover of what the frame draws.
    fn fill_worst_shown(&mut self, counts: &[(u32, Rgb)]) {
        let mut left: Vec<(u64, Rgb, u32)> = counts
            .iter()
            .map(|&(n, c)| {
                (
                    u64::from(n),
                    c,
                    self.colors
                        .iter()
                        .map(|&p| distance2(p, c))
                        .min()
                        .unwrap_or(u32::MAX),
                )
            })
            .collect();
        while self.colors.len() < MAX_COLORS {
            // The first of equal ones, in `counts` order: deterministic.
            let Some(&(_, worst, _)) = left
                .iter()
                .filter(|e| e.2 > 0)
                .rev()
                .max_by_key(|&&(n, _, d)| n * u64::from(d))
            else {
                return;
            };
            self.push(worst);
            for e in &mut left {
                e.2 = e.2.min(distance2(e.1, worst));
            }
            left.retain(|e| e.2 > 0);
        }
    }
}

/// Pixels per colour; runs (the white background, mostly) are counted in one go.
fn color_counts(rgb: &[u8]) -> HashMap<Rgb, u32> {
    let mut counts = HashMap::new();
    let mut pixels = rgb.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).peekable();
    while let Some(c) = pixels.next() {
        let mut run = 1;
        while pixels.next_if_eq(&c).is_some() {
            run += 1;
        }
        *counts.entry(c).or_insert(0) += run;
    }
    counts
}

fn toward_white(c: Rgb, t: f32) -> Rgb {
    c.map(|v| (v as f32 + (255.0 - v as f32) * t).round() as u8)
}

/// Squared distance between two colours in RGB.
pub(crate) fn distance2(a: Rgb, b: Rgb) -> u32 {
    a.iter()
        .zip(&b)
        .map(|(&x, &y)| (x as i32 - y as i32).pow(2) as u32)
        .sum()
}

/// Index of the entry of `palette` nearest to `c` (the first of equally near ones).
#[cfg(test)]
pub(crate) fn nearest(palette: &[Rgb], c: Rgb) -> u8 {
    let mut best = (u32::MAX, 0);
    for (i, &p) in palette.iter().enumerate() {
        let d = distance2(p, c);
        if d < best.0 {
            best = (d, i);
        }
    }
    best.1 as u8
}

/// Maps pixels to the index of their nearest palette entry; each distinct colour is searched
/// for once, then remembered.
pub(crate) struct Quantizer {
    palette: Vec<Rgb>,
    /// The palette by channel, padded to 256 entries with copies of entry 0: laid out so the
    /// search over all of them vectorises.
    channels: [[f32; 256]; 3],
    /// Nearest index + 1 of every 24-bit colour met so far, 0 for not met yet. 16 MiB, allocated
    /// zeroed, so only the pages holding colours that occur are ever touched.
    memo: Vec<u8>,
}

impl Quantizer {
    pub(crate) fn new(palette: Vec<Rgb>) -> Self {
        debug_assert!(!palette.is_empty() && palette.len() <= MAX_COLORS);
        let first = palette.first().copied().unwrap_or_default();
        let mut channels = [[0.0; 256]; 3];
        for (i, c) in palette
            .iter()
            .chain(std::iter::repeat(&first))
            .take(256)
            .enumerate()
        {
            for k in 0..3 {
                channels[k][i] = f32::from(c[k]);
            }
        }
        Self {
            palette,
            channels,
            memo: vec![0; 1 << 24],
        }
    }

    pub(crate) fn palette(&self) -> &[Rgb] {
        &self.palette
    }

    /// Writes the palette index of each pixel of `rgb` to `out` (one per pixel).
    pub(crate) fn map(&mut self, rgb: &[u8], out: &mut [u8]) {
        // Runs of one colour (background, dot interiors) skip the table.
        let mut last = (u32::MAX, 0u8);
        for (p, o) in rgb.chunks_exact(3).zip(out.iter_mut()) {
            let key = u32::from(p[0]) << 16 | u32::from(p[1]) << 8 | u32::from(p[2]);
            if key != last.0 {
                last = (key, self.lookup(key, [p[0], p[1], p[2]]));
            }
            *o = last.1;
        }
    }

    #[inline]
    fn lookup(&mut self, key: u32, c: Rgb) -> u8 {
        let slot = &mut self.memo[key as usize];
        if *slot == 0 {
            *slot = Self::search(&self.channels, c) + 1;
        }
        *slot - 1
    }

    /// [`nearest`], in two passes that vectorise (even on baseline x86-64, which lacks a
    /// 32-bit integer multiply): every squared distance, in `f32` (exact: below 2^18), then the
    /// first entry at the smallest.
    fn search(channels: &[[f32; 256]; 3], c: Rgb) -> u8 {
        let [r, g, b] = c.map(f32::from);
        let mut d = [0f32; 256];
        for (i, d) in d.iter_mut().enumerate() {
            let (dr, dg, db) = (channels[0][i] - r, channels[1][i] - g, channels[2][i] - b);
            *d = dr * dr + dg * dg + db * db;
        }
        // Eight running minima, each a plain comparison (`f32::min`'s NaN rules stop the
        // compiler from vectorising it).
        let mut lanes = [f32::MAX; 8];
        for chunk in d.chunks_exact(8) {
            for (m, &x) in lanes.iter_mut().zip(chunk) {
                *m = if x < *m { x } else { *m };
            }
        }
        let min = lanes
            .iter()
            .fold(f32::MAX, |m, &x| if x < m { x } else { m });
        d.iter().position(|&x| x == min).unwrap_or(0) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette_holds_the_frames_colours_within_bounds() {
        // A first frame showing classes 0 and 2, and two colours of no class.
        let mut frame = Vec::new();
        for (c, n) in [
            ([255, 255, 255], 500),
            (class_colors()[0], 40),
            (class_colors()[2], 40),
            ([123, 45, 67], 30),
            ([1, 2, 3], 3),
        ] {
            for _ in 0..n {
                frame.extend_from_slice(&c);
            }
        }
        let palette = build_palette(&frame);
        assert_eq!(palette[0], [255, 255, 255]);
        assert_eq!(palette.iter().collect::<HashSet<_>>().len(), palette.len());
        // With room to spare, every colour of the frame is in, rare ones too.
        for c in [
            class_colors()[0],
            class_colors()[2],
            [123, 45, 67],
            [1, 2, 3],
        ] {
            assert!(palette.contains(&c), "{c:?}");
        }
        // Classes the frame does not show get no ramp of their own.
        assert!(!palette.contains(&class_colors()[1]));
        assert_eq!(ramp_len(&palette, class_colors()[1]), 0);
        // The two ramps toward white share the entries for ramps: 32 steps each.
        assert_eq!(ramp_len(&palette, class_colors()[0]), RAMPS / 2);
        assert!(palette.len() < MAX_COLORS, "{}", palette.len());

        // Without a class colour in sight, every class gets its colour and a few blends.
        let palette = build_palette(&[200; 3 * 10]);
        for &c in class_colors() {
            assert!(palette.contains(&c));
            assert!(ramp_len(&palette, c) >= 3, "{c:?}");
        }
    }

    #[test]
    fn a_full_palette_keeps_the_frequent_colours_and_covers_the_rest() {
        // 4,096 distinct colours, one pixel each, over a frame mostly of two colours.
        let mut frame = [[250, 250, 250], [10, 90, 160]].repeat(300).concat();
        for k in 0..4096u32 {
            frame.extend_from_slice(&[(k >> 4) as u8, (k * 16) as u8, (k * 7) as u8]);
        }
        let palette = build_palette(&frame);
        assert_eq!(palette.len(), MAX_COLORS);
        assert!(palette.contains(&[250, 250, 250]) && palette.contains(&[10, 90, 160]));
        // The greedy cover leaves no colour of the frame far from an entry.
        let worst = frame
            .chunks_exact(3)
            .map(|p| {
                let c = [p[0], p[1], p[2]];
                distance2(c, palette[nearest(&palette, c) as usize])
            })
            .max()
            .unwrap();
        assert!(worst < 40 * 40, "{worst}");
    }

    /// Whether `p` lies (to rounding) on the segment from `c` to white.
    fn is_blend(c: Rgb, p: Rgb) -> bool {
        // t from the channel with the longest way to white.
        let k = (0..3).min_by_key(|&k| c[k]).unwrap_or(0);
        let t = (p[k] as f32 - c[k] as f32) / (255.0 - c[k] as f32).max(1.0);
        (0.0..1.0).contains(&t)
            && toward_white(c, t)
                .iter()
                .zip(&p)
                .all(|(a, b)| a.abs_diff(*b) <= 1)
    }

    fn ramp_len(palette: &[Rgb], c: Rgb) -> usize {
        palette
            .iter()
            .filter(|&&p| p != c && is_blend(c, p))
            .count()
    }

    #[test]
    fn quantizer_finds_the_nearest_entry_and_keeps_exact_ones() {
        let palette = vec![[255, 255, 255], [0, 0, 0], [200, 10, 10], [10, 200, 10]];
        let mut q = Quantizer::new(palette.clone());
        let rgb = [
            255, 255, 255, 255, 255, 255, // a run
            200, 10, 10, // exact
            190, 30, 0, // near red
            60, 60, 60, // nearer black (d² 10800) than red (24600)
            20, 180, 40, // near green
            0, 0, 0,
        ];
        let mut out = [9; 7];
        q.map(&rgb, &mut out);
        assert_eq!(out, [0, 0, 2, 2, 1, 3, 1]);
        // Remembered answers are the same answers.
        let mut again = [9; 7];
        q.map(&rgb, &mut again);
        assert_eq!(again, out);
        for (i, p) in rgb.chunks_exact(3).enumerate() {
            assert_eq!(out[i], nearest(&palette, [p[0], p[1], p[2]]));
        }
    }

    proptest::proptest! {
        /// The vectorised search agrees with the plain one, ties included (a palette with
        /// repeated colours and colours equally far from two entries).
        #[test]
        fn fast_search_is_the_plain_one(
            palette in proptest::collection::vec(proptest::array::uniform3(0u8..=255), 1..=MAX_COLORS),
            probes in proptest::collection::vec(proptest::array::uniform3(0u8..=255), 64),
        ) {
            let q = Quantizer::new(palette.clone());
            for c in probes.iter().chain(&palette) {
                proptest::prop_assert_eq!(Quantizer::search(&q.channels, *c), nearest(&palette, *c));
            }
            let ties = [[0, 0, 0], [10, 0, 0], [5, 0, 0], [5, 9, 9]];
            let q = Quantizer::new(ties.to_vec());
            proptest::prop_assert_eq!(Quantizer::search(&q.channels, [5, 0, 0]), 2);
        }
    }
}
