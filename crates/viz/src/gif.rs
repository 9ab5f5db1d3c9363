//! Animated GIFs through plotters' GIF backend.
//!
//! plotters gives every frame the same delay. Rather than repeating the last
//! frame (each copy is quantised and compressed again, and fattens the file),
//! the finished file's last Graphic Control Extension gets the longer delay.

use std::path::{Path, PathBuf};

use plotters::backend::{BitMapBackend, DrawingBackend};
use run_folder::{IoContext, PendingFile};

use crate::canvas::Canvas;
use crate::error::VizError;

/// An animated GIF written frame by frame into a temp file, moved into place by
/// [`GifWriter::finish`].
pub struct GifWriter {
    // Declared first so it is dropped (and the file closed) before `file`.
    backend: Option<BitMapBackend<'static>>,
    file: PendingFile,
    size: (u32, u32),
    frames: usize,
}

impl GifWriter {
    pub(crate) fn create(path: &Path, size: u32, frame_ms: u32) -> Result<Self, VizError> {
        Self::create_rect(path, (size, size), frame_ms)
    }

    /// A GIF of `size` = (width, height) pixels at `path`, each frame shown `frame_ms`.
    pub fn create_rect(path: &Path, size: (u32, u32), frame_ms: u32) -> Result<Self, VizError> {
        let file = PendingFile::new(path)?;
        let backend =
            BitMapBackend::gif(file.path(), size, frame_ms).map_err(|e| VizError::draw(path, e))?;
        Ok(Self {
            backend: Some(backend),
            file,
            size,
            frames: 0,
        })
    }

    /// Appends `canvas` (same size as the GIF) as the next frame.
    pub(crate) fn push(&mut self, canvas: &Canvas) -> Result<(), VizError> {
        self.push_rgb(&canvas.buf, (canvas.size, canvas.size))
    }

    /// Appends an RGB buffer of `size` = (width, height) as the next frame.
    pub fn push_rgb(&mut self, rgb: &[u8], size: (u32, u32)) -> Result<(), VizError> {
        let path = self.file.target().to_path_buf();
        if size != self.size || rgb.len() != size.0 as usize * size.1 as usize * 3 {
            return Err(VizError::frame(
                &path,
                format!(
                    "frame of {}x{} px in a {}x{} px GIF",
                    size.0, size.1, self.size.0, self.size.1
                ),
            ));
        }
        let backend = self
            .backend
            .as_mut()
            .ok_or_else(|| VizError::frame(&path, "GIF already finished"))?;
        backend
            .blit_bitmap((0, 0), size, rgb)
            .map_err(|e| VizError::draw(&path, e))?;
        backend.present().map_err(|e| VizError::draw(&path, e))?;
        self.frames += 1;
        Ok(())
    }

    /// Closes the file, gives the last frame `last_frame_ms` and moves the GIF
    /// into place.
    pub fn finish(mut self, last_frame_ms: u32) -> Result<PathBuf, VizError> {
        let target = self.file.target().to_path_buf();
        if self.frames == 0 {
            return Err(VizError::frame(&target, "a GIF needs at least one frame"));
        }
        // Dropping the encoder writes the trailer and closes the file.
        drop(self.backend.take());
        let tmp = self.file.path();
        let mut bytes = std::fs::read(tmp).io_context("read back", tmp)?;
        let delay = u16::try_from(last_frame_ms.div_ceil(10)).unwrap_or(u16::MAX);
        let frames = set_last_delay(&mut bytes, delay)
            .map_err(|why| VizError::format(&target, "a complete GIF from the encoder", why))?;
        if frames != self.frames {
            return Err(VizError::format(
                &target,
                format!("{} frames", self.frames),
                format!("{frames}"),
            ));
        }
        std::fs::write(tmp, &bytes).io_context("write", tmp)?;
        self.file.commit()?;
        Ok(target)
    }
}

/// Walks the GIF block structure, sets the delay (centiseconds) of the last
/// image, and returns the number of images. Errors say what is malformed.
pub(crate) fn set_last_delay(bytes: &mut Vec<u8>, delay_cs: u16) -> Result<usize, String> {
    let get = |b: &[u8], i: usize| {
        b.get(i)
            .copied()
            .ok_or_else(|| format!("file ends at byte {i}"))
    };
    if !(bytes.starts_with(b"GIF89a") || bytes.starts_with(b"GIF87a")) {
        return Err("no GIF signature".into());
    }
    let flags = get(bytes, 10)?;
    let mut pos = 13
        + if flags & 0x80 != 0 {
            3 << ((flags & 7) + 1)
        } else {
            0
        };
    let skip_sub_blocks = |b: &[u8], mut p: usize| -> Result<usize, String> {
        loop {
            let n = get(b, p)? as usize;
            p += 1 + n;
            if n == 0 {
                return Ok(p);
            }
        }
    };
    let mut frames = 0;
    let mut gce = None; // control extension waiting for its image
    let mut last = None; // (image start, its control extension)
    loop {
        match get(bytes, pos)? {
            0x21 => {
                if get(bytes, pos + 1)? == 0xF9 {
                    gce = Some(pos);
                }
                pos = skip_sub_blocks(bytes, pos + 2)?;
            }
            0x2C => {
                last = Some((pos, gce.take()));
                let flags = get(bytes, pos + 9)?;
                pos += 10
                    + if flags & 0x80 != 0 {
                        3 << ((flags & 7) + 1)
                    } else {
                        0
                    };
                pos = skip_sub_blocks(bytes, pos + 1)?; // after the LZW code size
                frames += 1;
            }
            0x3B => break,
            other => return Err(format!("unknown block 0x{other:02X} at byte {pos}")),
        }
    }
    let [lo, hi] = delay_cs.to_le_bytes();
    match last {
        Some((_, Some(g))) if get(bytes, g + 2)? == 4 => {
            bytes[g + 4] = lo;
            bytes[g + 5] = hi;
        }
        Some((image, _)) => {
            bytes.splice(image..image, [0x21, 0xF9, 0x04, 0x00, lo, hi, 0x00, 0x00]);
        }
        None => return Err("no image in the file".into()),
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-assembled two-frame 1x1 GIF (no global palette): the delay is
    /// patched in place when the frame has a control extension, inserted when not.
    #[test]
    fn last_delay_is_patched_or_inserted() {
        let image = [
            0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0x80, 1, 2, 3, 4, 5, 6, 0x02, 0x02, 0x44, 0x01, 0x00,
        ];
        let gce = |d: u8| [0x21, 0xF9, 0x04, 0x00, d, 0x00, 0x00, 0x00];
        let mut head = b"GIF89a".to_vec();
        head.extend_from_slice(&[1, 0, 1, 0, 0x00, 0, 0]);

        let mut with = head.clone();
        for _ in 0..2 {
            with.extend_from_slice(&gce(13));
            with.extend_from_slice(&image);
        }
        with.push(0x3B);
        let len = with.len();
        assert_eq!(set_last_delay(&mut with, 300), Ok(2));
        assert_eq!(with.len(), len);
        let second_gce = 13 + 8 + image.len();
        assert_eq!(&with[second_gce + 4..second_gce + 6], &[0x2C, 0x01]);
        assert_eq!(with[13 + 4], 13, "first frame untouched");

        let mut without = head.clone();
        without.extend_from_slice(&image);
        without.push(0x3B);
        assert_eq!(set_last_delay(&mut without, 300), Ok(1));
        assert_eq!(
            &without[13..21],
            &[0x21, 0xF9, 0x04, 0x00, 0x2C, 0x01, 0x00, 0x00]
        );

        let mut cut = head.clone();
        cut.extend_from_slice(&image[..12]);
        assert!(set_last_delay(&mut cut, 300).unwrap_err().contains("ends"));
        assert!(set_last_delay(&mut b"PNG".to_vec(), 1).is_err());
    }
}
