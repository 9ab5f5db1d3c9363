use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use image::GenericImageView;

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
    let (w, h) = image.dimensions();
    let side = w.min(h) as usize;
    let (x0, y0) = (((w as usize) - side) / 2, ((h as usize) - side) / 2);
    let region = Region {
        stride: w as usize,
        x0,
        y0,
        side,
    };
    debug_assert_eq!(height, width);
    if channels == 1 {
        let gray = image.into_luma8();
        resize_square(gray.as_raw(), 1, &region, width, out);
    } else {
        let rgb = image.into_rgb8();
        resize_square(rgb.as_raw(), 3, &region, width, out);
    }
    Ok(())
}

/// The centre square of an interleaved image: `side` x `side` pixels from (`x0`, `y0`) of
/// rows `stride` pixels long.
struct Region {
    stride: usize,
    x0: usize,
    y0: usize,
    side: usize,
}

/// For each output pixel along one axis: the first input pixel and the normalised weights.
///
/// The triangle filter exactly as `image::imageops::resize` (`FilterType::Triangle`) computes
/// it: support widened by the downscaling ratio, centres at pixel middles.
fn taps(src: usize, dst: usize) -> Vec<(usize, Vec<f32>)> {
    let ratio = src as f32 / dst as f32;
    let sratio = ratio.max(1.0);
    let support = sratio; // the triangle's support is 1
    (0..dst)
        .map(|o| {
            let centre = (o as f32 + 0.5) * ratio;
            let left = ((centre - support).floor() as i64).clamp(0, src as i64 - 1) as usize;
            let right =
                ((centre + support).ceil() as i64).clamp(left as i64 + 1, src as i64) as usize;
            let centre = centre - 0.5;
            let mut weights: Vec<f32> = (left..right)
                .map(|i| (1.0 - ((i as f32 - centre) / sratio).abs()).max(0.0))
                .collect();
            let sum: f32 = weights.iter().sum();
            for w in &mut weights {
                *w /= sum;
            }
            (left, weights)
        })
        .collect()
}

/// Resizes the `region` of an interleaved `u8` image with `channels` channels to `out_side`
/// squared and writes it as CHW into `out`: a vertical then a horizontal triangle-filter pass
/// in `f32`, rounded to the nearest value. Matches `image::imageops::resize` with
/// `FilterType::Triangle` on the cropped image (a unit test checks it), at a fraction of its
/// cost, since that function is generic over pixel types and converts through RGBA `f32`.
fn resize_square(src: &[u8], channels: usize, region: &Region, out_side: usize, out: &mut [u8]) {
    let Region {
        stride,
        x0,
        y0,
        side,
    } = *region;
    let plane = out_side * out_side;
    let row_len = side * channels;
    if side == out_side {
        for y in 0..side {
            let row = &src[((y0 + y) * stride + x0) * channels..][..row_len];
            for (x, px) in row.chunks_exact(channels).enumerate() {
                for (c, &v) in px.iter().enumerate() {
                    out[c * plane + y * out_side + x] = v;
                }
            }
        }
        return;
    }
    let taps_y = taps(side, out_side);
    let taps_x = taps(side, out_side);
    // Vertical pass: out_side rows of `side` pixels.
    let mut tmp = vec![0f32; out_side * row_len];
    for (oy, (start, weights)) in taps_y.iter().enumerate() {
        let acc = &mut tmp[oy * row_len..(oy + 1) * row_len];
        for (k, &w) in weights.iter().enumerate() {
            let row = &src[((y0 + start + k) * stride + x0) * channels..][..row_len];
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += w * f32::from(v);
            }
        }
    }
    // Horizontal pass, straight into the CHW output.
    for oy in 0..out_side {
        let row = &tmp[oy * row_len..(oy + 1) * row_len];
        for (ox, (start, weights)) in taps_x.iter().enumerate() {
            for c in 0..channels {
                let mut t = 0.0;
                for (k, &w) in weights.iter().enumerate() {
                    t += w * row[(start + k) * channels + c];
                }
                out[c * plane + oy * out_side + ox] = t.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
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
    use super::{Region, check_jpeg_complete, resize_square};

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
    fn resize_matches_the_image_crate_triangle_filter() {
        use image::imageops::{self, FilterType};
        let mut state = 99u32;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for (w, h, out_side) in [
            (178, 218, 64),
            (40, 30, 16),
            (20, 20, 32),
            (9, 13, 9),
            (50, 50, 7),
        ] {
            let src: Vec<u8> = (0..w * h * 3).map(|_| (next() % 256) as u8).collect();
            let side = w.min(h);
            let (x0, y0) = ((w - side) / 2, (h - side) / 2);
            let region = Region {
                stride: w,
                x0,
                y0,
                side,
            };
            let mut ours = vec![0u8; 3 * out_side * out_side];
            resize_square(&src, 3, &region, out_side, &mut ours);

            let image = image::RgbImage::from_raw(w as u32, h as u32, src).unwrap();
            let crop = imageops::crop_imm(&image, x0 as u32, y0 as u32, side as u32, side as u32)
                .to_image();
            let theirs = if side == out_side {
                crop
            } else {
                imageops::resize(
                    &crop,
                    out_side as u32,
                    out_side as u32,
                    FilterType::Triangle,
                )
            };
            let plane = out_side * out_side;
            let mut worst = 0;
            for (i, px) in theirs.pixels().enumerate() {
                for c in 0..3 {
                    worst = worst.max(px.0[c].abs_diff(ours[c * plane + i]));
                }
            }
            // Same filter and rounding; only the f32 summation order may differ.
            assert!(worst <= 1, "{w}x{h} -> {out_side}: off by {worst}");
        }
    }

    #[test]
    fn other_formats_are_left_to_their_decoders() {
        assert!(check_jpeg_complete(b"\x89PNG\r\n").is_ok());
    }
}
