use std::fmt;
use std::sync::Arc;

use crate::error::DataError;

/// Where a store's pixels live: decoded onto the heap, or a memory-mapped cache file.
pub(crate) enum Backing {
    Heap(Vec<u8>),
    /// The whole cache file, with the records starting at `offset`.
    Mapped {
        map: memmap2::Mmap,
        offset: usize,
    },
}

impl Backing {
    /// The records, one after another.
    pub(crate) fn records(&self) -> &[u8] {
        match self {
            Self::Heap(data) => data,
            Self::Mapped { map, offset } => &map[*offset..],
        }
    }
}

/// Every decoded image of the selected set, held once, as `u8` in CHW order: on the heap, or
/// in a memory-mapped cache file (never copied to the heap).
///
/// Splits and batch items refer to images by index, so neither decoding nor splitting ever
/// copies pixels; only the batcher converts the few images of one batch to `f32`.
pub struct ImageStore {
    channels: usize,
    height: usize,
    width: usize,
    backing: Arc<Backing>,
    /// Store index -> record of `backing`; `None` means the identity.
    slots: Option<Vec<usize>>,
    labels: Vec<u32>,
    names: Vec<String>,
}

impl ImageStore {
    /// Builds a store from already decoded pixels (`labels.len()` images of `shape` = `[c, h, w]`,
    /// each CHW, one after another).
    pub fn from_parts(
        shape: [usize; 3],
        data: Vec<u8>,
        labels: Vec<u32>,
        names: Vec<String>,
    ) -> Result<Self, DataError> {
        let [channels, height, width] = shape;
        let per_image = channels * height * width;
        if per_image == 0 {
            return Err(DataError::config(
                "image shape",
                format!("{shape:?} is empty"),
            ));
        }
        if data.len() != labels.len() * per_image || names.len() != labels.len() {
            return Err(DataError::config(
                "image store",
                format!(
                    "has {} bytes, {} labels and {} names (expected {} bytes per labelled, named image)",
                    data.len(),
                    labels.len(),
                    names.len(),
                    per_image
                ),
            ));
        }
        Ok(Self {
            channels,
            height,
            width,
            backing: Arc::new(Backing::Heap(data)),
            slots: None,
            labels,
            names,
        })
    }

    /// A store of some records of a shared backing: image `i` is record `slots[i]`.
    pub(crate) fn from_records(
        shape: [usize; 3],
        backing: Arc<Backing>,
        slots: Vec<usize>,
        labels: Vec<u32>,
        names: Vec<String>,
    ) -> Self {
        let [channels, height, width] = shape;
        debug_assert_eq!(slots.len(), labels.len());
        debug_assert_eq!(slots.len(), names.len());
        Self {
            channels,
            height,
            width,
            backing,
            slots: Some(slots),
            labels,
            names,
        }
    }

    /// Whether the pixels are a memory-mapped cache file (rather than heap memory).
    pub fn is_memory_mapped(&self) -> bool {
        matches!(*self.backing, Backing::Mapped { .. })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// `[channels, height, width]` of every image.
    pub fn shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    /// Class index of image `i`. Panics if `i >= len()`.
    pub fn label(&self, i: usize) -> u32 {
        self.labels[i]
    }

    /// File name (CelebA, synthetic) or `"<file prefix>#<index>"` (MNIST) of image `i`.
    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// The CHW pixels of image `i`. Panics if `i >= len()`.
    pub fn pixels(&self, i: usize) -> &[u8] {
        let per_image = self.channels * self.height * self.width;
        let record = match &self.slots {
            Some(slots) => slots[i],
            None => i,
        };
        &self.backing.records()[record * per_image..(record + 1) * per_image]
    }
}

impl fmt::Debug for ImageStore {
    // The pixel buffer is megabytes; printing it would drown every log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageStore")
            .field("len", &self.len())
            .field("shape", &self.shape())
            .field("memory_mapped", &self.is_memory_mapped())
            .finish_non_exhaustive()
    }
}
