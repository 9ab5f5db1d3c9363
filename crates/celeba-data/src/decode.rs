use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use image::{DynamicImage, GenericImageView};

use crate::error::DataError;

/// Decodes every image straight into its slot of one preallocated CHW buffer, so the set is
/// never held twice (no per-image `Vec`s gathered and then concatenated). The work is spread
/// over all cores in contiguous chunks.
pub(crate) fn decode_all(paths: &[PathBuf], shape: [usize; 3]) -> Result<Vec<u8>, DataError> {
    let per_image = shape.iter().product::<usize>();
    let mut data = vec![0u8; paths.len() * per_image];
    if paths.is_empty() {
        return Ok(data);
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(paths.len());
    let per_thread = paths.len().div_ceil(threads);

    std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(per_thread)
            .zip(data.chunks_mut(per_thread * per_image))
            .map(|(chunk_paths, chunk_data)| {
                scope.spawn(move || {
                    for (path, out) in chunk_paths.iter().zip(chunk_data.chunks_mut(per_image)) {
                        decode_into(path, shape, out)?;
                    }
                    Ok(())
                })
            })
            .collect();
        // Join every thread before reporting, and report the first failure in file order.
        let results: Vec<Result<(), DataError>> = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect();
        results.into_iter().collect::<Result<(), DataError>>()
    })?;
    Ok(data)
}

/// Reads one image, centre-crops it to a square, resizes it to `shape`'s side and writes it
/// as CHW (1 channel: luma, 3: RGB) into `out`.
fn decode_into(path: &Path, shape: [usize; 3], out: &mut [u8]) -> Result<(), DataError> {
    let [channels, height, width] = shape;
    let bytes = std::fs::read(path).map_err(|e| DataError::io("read image", path, e))?;
    let decode_error = |reason: String| DataError::Decode {
        path: path.to_owned(),
        reason,
    };
    check_jpeg_complete(&bytes).map_err(|reason| decode_error(reason.to_owned()))?;
    let image = image::load_from_memory(&bytes).map_err(|e| decode_error(e.to_string()))?;
    let image = centre_square(image);
    let (w, h) = (width as u32, height as u32);

    if channels == 1 {
        let mut gray = image.into_luma8();
        if gray.dimensions() != (w, h) {
            gray = imageops::resize(&gray, w, h, FilterType::Triangle);
        }
        out.copy_from_slice(gray.as_raw());
    } else {
        let mut rgb = image.into_rgb8();
        if rgb.dimensions() != (w, h) {
            rgb = imageops::resize(&rgb, w, h, FilterType::Triangle);
        }
        let plane = width * height;
        for (i, pixel) in rgb.pixels().enumerate() {
            for c in 0..3 {
                out[c * plane + i] = pixel.0[c];
            }
        }
    }
    Ok(())
}

fn centre_square(image: DynamicImage) -> DynamicImage {
    let (w, h) = image.dimensions();
    if w == h {
        return image;
    }
    let side = w.min(h);
    image.crop_imm((w - side) / 2, (h - side) / 2, side, side)
}

/// The JPEG decoder fills a cut-off scan with grey instead of failing, which would quietly
/// train on half-blank faces; a JPEG must end with its end-of-image marker (FF D9), allowing
/// for the zero padding some writers append.
fn check_jpeg_complete(bytes: &[u8]) -> Result<(), &'static str> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Ok(());
    }
    let end = bytes.len() - bytes.iter().rev().take_while(|&&b| b == 0).count();
    if bytes[..end].ends_with(&[0xFF, 0xD9]) {
        Ok(())
    } else {
        Err("JPEG data ends before its end-of-image marker (the file is truncated)")
    }
}

#[cfg(test)]
mod tests {
    use super::check_jpeg_complete;

    fn jpeg() -> Vec<u8> {
        let img = image::RgbImage::from_fn(32, 32, |x, y| {
            image::Rgb([(x * 8) as u8, (y * 8) as u8, 90])
        });
        let mut bytes = Vec::new();
        img.write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
        bytes
    }

    #[test]
    fn a_jpeg_cut_inside_its_scan_is_rejected_although_it_decodes() {
        let whole = jpeg();
        assert!(check_jpeg_complete(&whole).is_ok());
        let mut padded = whole.clone();
        padded.extend_from_slice(&[0, 0, 0]);
        assert!(check_jpeg_complete(&padded).is_ok());

        let cut = &whole[..whole.len() * 9 / 10];
        // The reason for the check: the decoder itself accepts the cut file.
        assert!(image::load_from_memory(cut).is_ok());
        assert!(check_jpeg_complete(cut).is_err());
    }

    #[test]
    fn other_formats_are_left_to_their_decoders() {
        assert!(check_jpeg_complete(b"\x89PNG\r\n").is_ok());
    }
}
