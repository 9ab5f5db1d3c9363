//! Animated GIFs, encoded on a thread of their own (see `gif_encoder`) while the caller draws
//! the next frame: the encoding (palette lookup, LZW) then costs the caller a copy of the
//! pixels, where the machine has a core to spare.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use gif::EncodingError;
use run_folder::{IoContext, PendingFile, RunFolderError};

#[cfg(test)]
use crate::canvas::Canvas;
use crate::error::VizError;
use crate::gif_encoder::Animation;

/// Frames waiting for the encoder at most: a caller that draws faster waits rather than
/// piling frames up in memory.
const QUEUE: usize = 2;

/// An animated GIF written frame by frame into a temp file, moved into place by
/// [`GifWriter::finish`]; dropped before that, it leaves nothing behind.
pub struct GifWriter {
    // Declared before `file`: dropping it stops the thread and closes the temp file before
    // `file` removes it.
    encoder: Encoding,
    width: u32,
    height: u32,
    frames: usize,
    file: PendingFile,
}

enum Message {
    Frame(Vec<u8>),
    Finish { last_delay_cs: u16 },
}

/// What the encoding thread hands back: the file when finished, `None` when told to stop early.
type Outcome = Result<Option<BufWriter<File>>, EncodingError>;

/// The encoding thread and the way to it.
struct Encoding {
    to: Option<SyncSender<Message>>,
    thread: Option<JoinHandle<Outcome>>,
}

impl Drop for Encoding {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop; waiting for it means the temp file is
        // closed when the writer is gone.
        self.to.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn encode(mut anim: Animation<BufWriter<File>>, from: Receiver<Message>) -> Outcome {
    for message in from {
        match message {
            Message::Frame(rgb) => anim.push(&rgb)?,
            Message::Finish { last_delay_cs } => return anim.finish(last_delay_cs),
        }
    }
    Ok(None) // abandoned: the writer was dropped unfinished
}

impl GifWriter {
    /// A square GIF (the tests' shorthand; frames with the sphere's map are 2:1).
    #[cfg(test)]
    pub(crate) fn create(path: &Path, size: u32, frame_ms: u32) -> Result<Self, VizError> {
        Self::create_rect(path, (size, size), frame_ms)
    }

    /// A GIF of `size` = (width, height) pixels at `path`, each frame shown `frame_ms`.
    pub fn create_rect(path: &Path, size: (u32, u32), frame_ms: u32) -> Result<Self, VizError> {
        let (Ok(width), Ok(height)) = (u16::try_from(size.0), u16::try_from(size.1)) else {
            return Err(VizError::frame(
                path,
                format!(
                    "a GIF is at most 65535 px a side, not {}x{}",
                    size.0, size.1
                ),
            ));
        };
        if width == 0 || height == 0 {
            return Err(VizError::frame(path, "a GIF needs at least one pixel"));
        }
        let file = PendingFile::new(path)?;
        let out = File::create(file.path()).io_context("create", file.path())?;
        // Rounded to GIF's 10 ms ticks as plotters, which wrote these files before, did.
        let delay_cs = centiseconds(frame_ms.saturating_add(5) / 10);
        let anim = Animation::new(BufWriter::new(out), width, height, delay_cs);
        let (to, from) = sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("gif-encoder".into())
            .spawn(move || encode(anim, from))
            .io_context("start the encoding thread of", path)?;
        Ok(Self {
            encoder: Encoding {
                to: Some(to),
                thread: Some(thread),
            },
            width: size.0,
            height: size.1,
            frames: 0,
            file,
        })
    }

    /// Appends `canvas` (same size as the GIF) as the next frame.
    #[cfg(test)]
    pub(crate) fn push(&mut self, canvas: &Canvas) -> Result<(), VizError> {
        self.push_rgb(&canvas.buf, canvas.dims())
    }

    /// Appends an RGB buffer of `size` = (width, height) as the next frame.
    pub fn push_rgb(&mut self, rgb: &[u8], size: (u32, u32)) -> Result<(), VizError> {
        let (w, h) = (self.width, self.height);
        if size != (w, h) || rgb.len() != w as usize * h as usize * 3 {
            return Err(VizError::frame(
                self.file.target(),
                format!(
                    "frame of {}x{} px ({} bytes) in a {w}x{h} px GIF",
                    size.0,
                    size.1,
                    rgb.len()
                ),
            ));
        }
        self.send(Message::Frame(rgb.to_vec()))?;
        self.frames += 1;
        Ok(())
    }

    /// Writes the last frame with `last_frame_ms`, closes the file and moves the GIF into place.
    pub fn finish(mut self, last_frame_ms: u32) -> Result<PathBuf, VizError> {
        let target = self.file.target().to_path_buf();
        if self.frames == 0 {
            return Err(VizError::frame(&target, "a GIF needs at least one frame"));
        }
        let last_delay_cs = centiseconds(last_frame_ms.div_ceil(10));
        self.send(Message::Finish { last_delay_cs })?;
        let Some(out) = self.join()? else {
            return Err(VizError::frame(&target, "the GIF encoder stopped early"));
        };
        let tmp = self.file.path();
        out.into_inner()
            .map_err(|e| e.into_error())
            .io_context("write", tmp)?;
        self.file.commit()?;
        Ok(target)
    }

    /// Hands `message` to the encoding thread; if it has stopped, the error it stopped on.
    fn send(&mut self, message: Message) -> Result<(), VizError> {
        let sent = match &self.encoder.to {
            Some(to) => to.send(message).is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        Err(match self.join() {
            Err(e) => e,
            Ok(_) => VizError::frame(self.file.target(), "the GIF encoder stopped early"),
        })
    }

    /// Waits for the encoding thread to end (the channel closed or `Finish` sent).
    fn join(&mut self) -> Result<Option<BufWriter<File>>, VizError> {
        self.encoder.to.take();
        let target = self.file.target();
        let Some(thread) = self.encoder.thread.take() else {
            return Err(VizError::frame(target, "the GIF encoder already stopped"));
        };
        match thread.join() {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(EncodingError::Io(source))) => Err(RunFolderError::Io {
                action: "write",
                path: self.file.path().to_path_buf(),
                source,
            }
            .into()),
            Ok(Err(e)) => Err(VizError::draw(target, e)),
            Err(_) => Err(VizError::frame(target, "the GIF encoder thread panicked")),
        }
    }
}

/// A delay in 10 ms ticks, as GIF stores it.
fn centiseconds(ticks: u32) -> u16 {
    u16::try_from(ticks).unwrap_or(u16::MAX)
}

#[cfg(test)]
#[path = "gif_tests.rs"]
mod tests;
