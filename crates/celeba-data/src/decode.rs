use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use image::imageops::{self, FilterType};
use image::{DynamicImage, GenericImageView};

/// Records handed to a thread at a time: small enough to balance the load, large enough that
/// the queue's lock is not contended.
const CHUNK: usize = 16;
/// Sets at least this large get a progress line even without a cache build.
pub(crate) const PROGRESS_FROM: usize = 2000;

/// How the crop and resize are done; recorded in the cache header, so changing this changes
/// the cache key.
pub(crate) const CROP: &str = "centre-square, triangle filter";

/// Decodes every image into its record of `out` (`paths.len()` records of `shape`, CHW), in
/// parallel on all cores. Never stops at a bad file: returns, per record, why it could not be
/// used (and leaves that record zeroed). `progress` labels a progress line on stderr.
pub(crate) fn decode_records(
    paths: &[PathBuf],
    shape: [usize; 3],
    out: &mut [u8],
    progress: Option<&str>,
) -> Vec<Option<String>> {
    let per_image = shape.iter().product::<usize>();
    debug_assert_eq!(out.len(), paths.len() * per_image);
    let mut failures = vec![None; paths.len()];
    if paths.is_empty() {
        return failures;
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(paths.len().div_ceil(CHUNK));
    let queue = Mutex::new(out.chunks_mut(CHUNK * per_image).enumerate());
    let done = AtomicUsize::new(0);
    let reporter = progress.map(|label| Reporter::new(label, paths.len(), threads));

    let found: Vec<Vec<(usize, String)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut bad = Vec::new();
                    loop {
                        // A poisoned lock means another worker panicked; its panic is
                        // re-raised at the join below, so this one just stops.
                        let next = match queue.lock() {
                            Ok(mut q) => q.next(),
                            Err(_) => None,
                        };
                        let Some((chunk, records)) = next else { break };
                        let first = chunk * CHUNK;
                        for (k, record) in records.chunks_mut(per_image).enumerate() {
                            if let Err(reason) = decode_into(&paths[first + k], shape, record) {
                                record.fill(0);
                                bad.push((first + k, reason));
                            }
                        }
                        let now = done.fetch_add(records.len() / per_image, Ordering::Relaxed)
                            + records.len() / per_image;
                        if let Some(r) = &reporter {
                            r.tick(now);
                        }
                    }
                    bad
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    if let Some(r) = &reporter {
        r.finish();
    }
    for (index, reason) in found.into_iter().flatten() {
        failures[index] = Some(reason);
    }
    failures
}

/// A progress line on stderr: rewritten in place on a terminal, else one line per ~10%.
struct Reporter {
    label: String,
    total: usize,
    start: Instant,
    terminal: bool,
    /// Milliseconds since `start` of the last line, and the last tenth printed.
    last: Mutex<(u128, usize)>,
}

impl Reporter {
    fn new(label: &str, total: usize, threads: usize) -> Self {
        eprintln!("{label}: decoding {total} images on {threads} thread(s)");
        Self {
            label: label.to_owned(),
            total,
            start: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
            last: Mutex::new((0, 0)),
        }
    }

    fn tick(&self, done: usize) {
        let elapsed = self.start.elapsed();
        let Ok(mut last) = self.last.try_lock() else {
            return;
        };
        let tenth = done * 10 / self.total;
        let due = if self.terminal {
            elapsed.as_millis() >= last.0 + 250
        } else {
            tenth > last.1 && done < self.total
        };
        if !due {
            return;
        }
        *last = (elapsed.as_millis(), tenth);
        let rate = done as f64 / elapsed.as_secs_f64().max(1e-3);
        let left = Duration::from_secs_f64((self.total - done) as f64 / rate.max(1e-3));
        let line = format!(
            "{}: {done}/{} images ({}%), {rate:.0} images/s, about {}s left",
            self.label,
            self.total,
            done * 100 / self.total,
            left.as_secs()
        );
        let mut err = std::io::stderr().lock();
        // Progress is best effort: a closed stderr must not fail the load.
        let _ = if self.terminal {
            write!(err, "\r{line}\x1b[K")
        } else {
            writeln!(err, "{line}")
        };
    }

    fn finish(&self) {
        let secs = self.start.elapsed().as_secs_f64();
        let (start, end) = if self.terminal {
            ("\r", "\x1b[K")
        } else {
            ("", "")
        };
        eprintln!(
            "{start}{}: {} images in {secs:.1}s ({:.0} images/s){end}",
            self.label,
            self.total,
            self.total as f64 / secs.max(1e-3)
        );
    }
}

/// Decodes one image file exactly as the loaders do: centre-cropped to a square, resized to
/// `image_size` (triangle filter), as CHW `u8` with 1 (luma) or 3 (RGB) channels.
pub fn decode_image(
    path: &Path,
    image_size: usize,
    grayscale: bool,
) -> Result<Vec<u8>, crate::DataError> {
    let shape = [if grayscale { 1 } else { 3 }, image_size, image_size];
    let mut out = vec![0u8; shape.iter().product()];
    decode_into(path, shape, &mut out).map_err(|reason| crate::DataError::Decode {
        path: path.to_owned(),
        reason,
    })?;
    Ok(out)
}

/// Reads one image, centre-crops it to a square, resizes it to `shape`'s side and writes it
/// as CHW (1 channel: luma, 3: RGB) into `out`. The error is the reason, for a message that
/// also names the path.
pub(crate) fn decode_into(path: &Path, shape: [usize; 3], out: &mut [u8]) -> Result<(), String> {
    let [channels, height, width] = shape;
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "file not found".to_owned(),
        _ => format!("cannot read: {e}"),
    })?;
    check_jpeg_complete(&bytes).map_err(|reason| format!("cannot decode: {reason}"))?;
    let image = image::load_from_memory(&bytes).map_err(|e| format!("cannot decode: {e}"))?;
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
