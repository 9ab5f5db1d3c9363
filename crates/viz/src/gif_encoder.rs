//! Turning RGB frames into GIF frames: one palette for all of them (see `gif_palette`), each
//! frame reduced to the rectangle that changed since the one before, LZW-encoded and written
//! by the `gif` crate.
//!
//! Marking the unchanged pixels inside the rectangle transparent was tried: on demo-like frames
//! (`benches/gif.rs`) the file came out 2% larger, transparent runs breaking up the white ones.
//!
//! Each frame is held back until the next one (or the end) arrives, so the last one can be
//! written with its longer delay.

use std::borrow::Cow;
use std::io::Write;

use gif::{DisposalMethod, Encoder, EncodingError, Frame, Repeat};

use crate::gif_palette::{Quantizer, build_palette};

pub(crate) struct Animation<W: Write> {
    width: u16,
    height: u16,
    delay_cs: u16,
    state: State<W>,
}

enum State<W: Write> {
    /// No frame yet: the palette comes from the first one.
    Opened(W),
    Writing(Box<Frames<W>>),
    /// Only while a call moves from one state to the next, or after a write failed.
    Gone,
}

struct Frames<W: Write> {
    encoder: Encoder<W>,
    quantizer: Quantizer,
    /// Palette index of every pixel as shown after the frames so far.
    shown: Vec<u8>,
    /// The newest frame's indices.
    next: Vec<u8>,
    /// The newest frame, not written until its delay is known.
    held: Option<Frame<'static>>,
}

impl<W: Write> Animation<W> {
    /// An animation of `width` x `height` px (both above 0) written to `out`, each frame but the
    /// last shown `delay_cs` hundredths of a second.
    pub(crate) fn new(out: W, width: u16, height: u16, delay_cs: u16) -> Self {
        Self {
            width,
            height,
            delay_cs,
            state: State::Opened(out),
        }
    }

    /// Appends `rgb` (3 bytes a pixel, `width` x `height`, checked by the caller) as the next frame.
    pub(crate) fn push(&mut self, rgb: &[u8]) -> Result<(), EncodingError> {
        let pixels = self.width as usize * self.height as usize;
        if rgb.len() != pixels * 3 {
            return Err(EncodingError::FrameBufferTooSmallForDimensions);
        }
        let mut frames = match std::mem::replace(&mut self.state, State::Gone) {
            State::Writing(frames) => frames,
            State::Opened(out) => Box::new(self.start(out, rgb)?),
            State::Gone => return Err(EncodingError::WriterNotFound),
        };
        frames.quantizer.map(rgb, &mut frames.next);
        let frame = if frames.shown.is_empty() {
            frames.shown = vec![0; pixels]; // swapped into `next` below, for the next frame
            self.whole(frames.next.clone())
        } else {
            self.changes(&frames)
        };
        std::mem::swap(&mut frames.shown, &mut frames.next);
        if let Some(held) = frames.held.replace(frame) {
            frames.encoder.write_frame(&held)?;
        }
        self.state = State::Writing(frames);
        Ok(())
    }

    /// Writes the last frame, shown `last_delay_cs`, and the trailer; returns the output, or
    /// `None` when no frame was pushed.
    pub(crate) fn finish(mut self, last_delay_cs: u16) -> Result<Option<W>, EncodingError> {
        match std::mem::replace(&mut self.state, State::Gone) {
            State::Writing(mut frames) => {
                if let Some(mut last) = frames.held.take() {
                    last.delay = last_delay_cs;
                    frames.encoder.write_frame(&last)?;
                }
                frames.encoder.into_inner().map(Some)
            }
            State::Opened(_) => Ok(None),
            State::Gone => Err(EncodingError::WriterNotFound),
        }
    }

    /// The encoder, with the palette of the first frame as the GIF's global one.
    fn start(&self, out: W, first: &[u8]) -> Result<Frames<W>, EncodingError> {
        let quantizer = Quantizer::new(build_palette(first));
        let table: Vec<u8> = quantizer.palette().concat();
        let mut encoder = Encoder::new(out, self.width, self.height, &table)?;
        encoder.set_repeat(Repeat::Infinite)?;
        Ok(Frames {
            encoder,
            quantizer,
            shown: Vec::new(),
            next: vec![0; self.width as usize * self.height as usize],
            held: None,
        })
    }

    fn whole(&self, indices: Vec<u8>) -> Frame<'static> {
        Frame {
            delay: self.delay_cs,
            dispose: DisposalMethod::Keep,
            width: self.width,
            height: self.height,
            buffer: Cow::Owned(indices),
            ..Frame::default()
        }
    }

    /// The rectangle of `f.next` that differs from `f.shown`. A frame identical to the last is
    /// its top-left pixel again (it still has to be there, for its time on screen).
    fn changes(&self, f: &Frames<W>) -> Frame<'static> {
        let w = self.width as usize;
        let (mut top, mut bottom, mut left, mut right) = (usize::MAX, 0, usize::MAX, 0);
        for (y, (new, old)) in f
            .next
            .chunks_exact(w)
            .zip(f.shown.chunks_exact(w))
            .enumerate()
        {
            if new == old {
                continue;
            }
            let differs = |(a, b): (&u8, &u8)| a != b;
            let first = new.iter().zip(old).position(differs).unwrap_or(0);
            let last = w - 1 - new.iter().zip(old).rev().position(differs).unwrap_or(0);
            (top, bottom) = (top.min(y), y);
            (left, right) = (left.min(first), right.max(last));
        }
        if top == usize::MAX {
            (top, bottom, left, right) = (0, 0, 0, 0);
        }
        let (width, height) = (right - left + 1, bottom - top + 1);
        let mut buffer = Vec::with_capacity(width * height);
        for y in top..=bottom {
            buffer.extend_from_slice(&f.next[y * w + left..y * w + right + 1]);
        }
        // The rectangle lies within the frame, whose sides fit in u16.
        Frame {
            delay: self.delay_cs,
            dispose: DisposalMethod::Keep,
            left: left as u16,
            top: top as u16,
            width: width as u16,
            height: height as u16,
            buffer: Cow::Owned(buffer),
            ..Frame::default()
        }
    }
}
