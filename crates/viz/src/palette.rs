use crate::canvas::Rgb;

/// Qualitative colours that stay readable on white: the Tableau 10 set
/// followed by darker, well-separated hues (the pale members of the usual
/// 20-colour sets vanish on a white background).
const PALETTE: [Rgb; 20] = [
    [31, 119, 180],  // blue
    [214, 39, 40],   // red
    [44, 160, 44],   // green
    [255, 127, 14],  // orange
    [148, 103, 189], // purple
    [140, 86, 75],   // brown
    [227, 119, 194], // pink
    [23, 190, 207],  // cyan
    [188, 189, 34],  // olive
    [127, 127, 127], // grey
    [0, 0, 128],     // navy
    [128, 0, 0],     // maroon
    [0, 128, 128],   // teal
    [199, 21, 133],  // violet red
    [85, 107, 47],   // dark olive
    [184, 134, 11],  // dark goldenrod
    [75, 0, 130],    // indigo
    [50, 205, 50],   // lime
    [30, 144, 255],  // dodger blue
    [0, 100, 0],     // dark green
];

/// Every class colour, in class order.
pub(crate) fn class_colors() -> &'static [Rgb] {
    &PALETTE
}

/// Colour of class `class`; the palette repeats after 20 classes.
pub(crate) fn class_color(class: usize) -> Rgb {
    PALETTE[class % PALETTE.len()]
}

/// `c` moved towards white by `t` (0 = unchanged, 1 = white): for things
/// behind the sphere.
pub(crate) fn faded(c: Rgb, t: f32) -> Rgb {
    c.map(|v| (v as f32 + (255.0 - v as f32) * t).round() as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette_is_distinct_readable_and_cycles() {
        for (i, a) in PALETTE.iter().enumerate() {
            // Relative luminance well below white's, so dots stand out.
            let lum = 0.2126 * a[0] as f32 + 0.7152 * a[1] as f32 + 0.0722 * a[2] as f32;
            assert!(lum < 180.0, "colour {i} {a:?} too pale ({lum})");
            for b in &PALETTE[i + 1..] {
                let d2: i32 = a
                    .iter()
                    .zip(b)
                    .map(|(&x, &y)| (x as i32 - y as i32).pow(2))
                    .sum();
                assert!(d2 > 40 * 40, "{a:?} and {b:?} too similar");
            }
        }
        assert_eq!(class_color(3), class_color(23));
        assert_ne!(class_color(3), class_color(4));
        assert_eq!(faded([0, 100, 255], 0.5), [128, 178, 255]);
    }
}
