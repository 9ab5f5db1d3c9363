//! Thumbnails of the images behind the points, packed into one JPEG sprite sheet for the page.
//!
//! JPEG, not PNG: photos of faces compress about five times better, and a thumbnail is only
//! looked at, never measured.

use std::collections::BTreeMap;

use image::codecs::jpeg::JpegEncoder;

use crate::error::VizError;

/// Small RGB copies (`size` x `size`, row-major, 3 bytes a pixel) of the images of each split,
/// in the order of the split's rows; `None` where a row gets no thumbnail.
#[derive(Debug, Clone, Default)]
pub struct Thumbnails {
    pub size: u32,
    pub splits: BTreeMap<String, Vec<Option<Vec<u8>>>>,
}

/// `pixels` (`u8`, channels x height x width, 1 or 3 channels) shrunk to `size` x `size` RGB by
/// averaging the source pixels under each target pixel (sizes above the source's repeat
/// pixels instead).
pub fn downscale_chw(pixels: &[u8], shape: [usize; 3], size: usize) -> Vec<u8> {
    let [c, h, w] = shape;
    let mut out = vec![0u8; size * size * 3];
    if c == 0 || h == 0 || w == 0 || size == 0 || pixels.len() < c * h * w {
        return out;
    }
    // Source rows (or columns) [start, end) under target row i of `n`.
    let span = |i: usize, n: usize, src: usize| {
        let start = i * src / n;
        let end = ((i + 1) * src).div_ceil(n).max(start + 1).min(src);
        start..end
    };
    for oy in 0..size {
        let rows = span(oy, size, h);
        for ox in 0..size {
            let cols = span(ox, size, w);
            let count = (rows.len() * cols.len()) as u32;
            for ch in 0..3 {
                let plane = &pixels[ch.min(c - 1) * h * w..][..h * w];
                let mut sum = 0u32;
                for y in rows.clone() {
                    for x in cols.clone() {
                        sum += u32::from(plane[y * w + x]);
                    }
                }
                out[(oy * size + ox) * 3 + ch] = ((sum + count / 2) / count) as u8;
            }
        }
    }
    out
}

/// JPEG quality of the sheet.
const QUALITY: u8 = 85;

/// The sprite sheet (JPEG): tiles left to right, top to bottom, `cols` a row.
pub(crate) struct Atlas {
    pub jpeg: Vec<u8>,
    pub cols: u32,
    pub tiles: usize,
}

/// Widest sheet: browsers decode far larger images; a squarer sheet compresses as well.
const MAX_SHEET_SIDE: u32 = 8192;

pub(crate) fn pack(tiles: &[&[u8]], size: u32) -> Result<Atlas, VizError> {
    let n = tiles.len().max(1) as u32;
    let cols = (f64::from(n).sqrt().ceil() as u32).clamp(1, (MAX_SHEET_SIDE / size.max(1)).max(1));
    let rows = n.div_ceil(cols);
    let (width, height) = (cols * size, rows * size);
    let tile_bytes = (size * size * 3) as usize;
    let mut sheet = vec![255u8; (width * height * 3) as usize];
    for (i, tile) in tiles.iter().enumerate() {
        if tile.len() != tile_bytes {
            return Err(VizError::frame(
                std::path::Path::new("report.html"),
                format!(
                    "thumbnail {i} has {} bytes, expected {tile_bytes} ({size}x{size} RGB)",
                    tile.len()
                ),
            ));
        }
        let (tx, ty) = ((i as u32 % cols) * size, (i as u32 / cols) * size);
        for y in 0..size {
            let src = &tile[(y * size * 3) as usize..][..(size * 3) as usize];
            let at = (((ty + y) * width + tx) * 3) as usize;
            sheet[at..at + src.len()].copy_from_slice(src);
        }
    }
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, QUALITY)
        .encode(&sheet, width, height, image::ExtendedColorType::Rgb8)
        .map_err(|e| VizError::draw(std::path::Path::new("report.html"), e))?;
    Ok(Atlas {
        jpeg,
        cols,
        tiles: tiles.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_averages_each_two_by_two_block() {
        // One grey channel, 4x4, rows 0..16; each output pixel is the mean of a 2x2 block.
        let pixels: Vec<u8> = (0..16).map(|v| v * 10).collect();
        let out = downscale_chw(&pixels, [1, 4, 4], 2);
        // Block (0,0): 0, 10, 40, 50 -> 25; (0,1): 20, 30, 60, 70 -> 45;
        // (1,0): 80, 90, 120, 130 -> 105; (1,1): 100, 110, 140, 150 -> 125. Grey -> r = g = b.
        assert_eq!(out, [25, 25, 25, 45, 45, 45, 105, 105, 105, 125, 125, 125]);
    }

    #[test]
    fn colour_planes_stay_apart_and_upscaling_repeats_pixels() {
        // 3 channels of 1x1: red 200, green 100, blue 0, shown 2x2.
        let out = downscale_chw(&[200, 100, 0], [3, 1, 1], 2);
        assert_eq!(out, [200, 100, 0].repeat(4));
    }

    #[test]
    fn the_sheet_decodes_back_to_its_tiles() {
        // 16-px tiles fill whole JPEG blocks, so each tile's middle decodes to its colour
        // within the lossy coding's few levels.
        let red = [255u8, 0, 0].repeat(256);
        let blue = [0u8, 0, 255].repeat(256);
        let green = [0u8, 255, 0].repeat(256);
        let atlas = pack(&[&red, &blue, &green], 16).unwrap();
        assert_eq!((atlas.cols, atlas.tiles), (2, 3));
        let img = image::load_from_memory(&atlas.jpeg).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (32, 32));
        let near = |x: u32, y: u32, want: [u8; 3]| {
            let got = img.get_pixel(x, y).0;
            assert!(
                got.iter().zip(want).all(|(&g, w)| g.abs_diff(w) <= 12),
                "pixel ({x}, {y}): {got:?}, expected about {want:?}"
            );
        };
        near(8, 8, [255, 0, 0]);
        near(24, 8, [0, 0, 255]);
        near(8, 24, [0, 255, 0]);
        near(24, 24, [255, 255, 255]);
        assert!(pack(&[&red[..3]], 16).is_err());
    }
}
