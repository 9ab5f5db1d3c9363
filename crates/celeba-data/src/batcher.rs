use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::augment::augment_pixels;
use crate::fields::AugmentConfig;
use crate::split::ImageItem;

/// Per-channel mean subtracted after scaling pixels to [0, 1].
///
/// 0.5 rather than data-set statistics: the same constant serves CelebA, MNIST and the
/// synthetic faces, and maps pixels onto [-1, 1], the range the VGG initialisation expects.
pub const PIXEL_MEAN: f32 = 0.5;
/// Per-channel standard deviation divided out after subtracting [`PIXEL_MEAN`].
pub const PIXEL_STD: f32 = 0.5;

/// The model input for one step: normalised images and their class indices.
#[derive(Clone, Debug)]
pub struct ImageBatch {
    /// `[batch, channels, height, width]`, each pixel `(x / 255 - PIXEL_MEAN) / PIXEL_STD`.
    pub images: Tensor<4>,
    /// `[batch]` class indices.
    pub targets: Tensor<1, Int>,
}

/// Turns [`ImageItem`]s into an [`ImageBatch`]; the only place pixels become `f32`.
///
/// `ImageBatcher::default()` passes pixels through unchanged (validation, evaluation);
/// [`ImageBatcher::with_augment`] augments each item on the fly (training).
#[derive(Clone, Debug, Default)]
pub struct ImageBatcher {
    augment: Option<Arc<Augmenter>>,
}

/// Augmentation state shared by the clones of one batcher (one per loader worker).
#[derive(Debug)]
struct Augmenter {
    config: AugmentConfig,
    seed: u64,
    /// How many times each item (store address, store index) has been batched: with
    /// `skipped`, the epoch of its next augmentation.
    visits: Mutex<HashMap<(usize, usize), u64>>,
    /// Epochs already trained before this batcher's first batch (a resumed run).
    skipped: u64,
}

impl ImageBatcher {
    /// A batcher that augments every item with `config`, seeded: item `i`'s `n`-th
    /// appearance (its epoch `n`, counting from 0) always gets
    /// `config.draw(seed, n, i)`, whatever the batch order or the number of loader workers.
    /// Use it for the training loader only: every batch of an item advances that item's epoch.
    /// A config that switches nothing on gives a plain batcher.
    pub fn with_augment(config: AugmentConfig, seed: u64) -> Self {
        Self::with_augment_after(config, seed, 0)
    }

    /// [`Self::with_augment`] for a run that resumes after `epochs_done` epochs: item `i`'s
    /// first appearance gets `config.draw(seed, epochs_done, i)`, as it would have in an
    /// uninterrupted run.
    pub fn with_augment_after(config: AugmentConfig, seed: u64, epochs_done: u64) -> Self {
        if !config.is_active() {
            return Self::default();
        }
        Self {
            augment: Some(Arc::new(Augmenter {
                config,
                seed,
                visits: Mutex::new(HashMap::new()),
                skipped: epochs_done,
            })),
        }
    }

    /// Whether this batcher augments.
    pub fn augments(&self) -> bool {
        self.augment.is_some()
    }
}

/// The normalised value of a `u8` pixel.
pub fn normalize_pixel(value: u8) -> f32 {
    (f32::from(value) / 255.0 - PIXEL_MEAN) / PIXEL_STD
}

impl Batcher<ImageItem, ImageBatch> for ImageBatcher {
    /// Panics if the items do not all have the same image shape, which cannot happen for
    /// items of one [`crate::SplitDataset`]. An empty `items` gives a `[0, 0, 0, 0]` batch.
    fn batch(&self, items: Vec<ImageItem>, device: &Device) -> ImageBatch {
        let shape = items.first().map_or([0; 3], |item| item.store.shape());
        let [c, h, w] = shape;
        let table: [f32; 256] = std::array::from_fn(|v| normalize_pixel(v as u8));

        let mut pixels = Vec::with_capacity(items.len() * c * h * w);
        let mut targets = Vec::with_capacity(items.len());
        for item in &items {
            assert_eq!(
                item.store.shape(),
                shape,
                "ImageBatcher: items of one batch must share an image shape"
            );
            targets.push(i64::from(item.label));
        }
        match &self.augment {
            None => {
                for item in &items {
                    pixels.extend(item.pixels().iter().map(|&v| table[usize::from(v)]));
                }
            }
            Some(augmenter) => {
                let epochs: Vec<u64> = {
                    // A poisoned lock only means another worker panicked mid-update; the
                    // counts are still usable.
                    let mut visits = augmenter
                        .visits
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    items
                        .iter()
                        .map(|item| {
                            let key = (Arc::as_ptr(&item.store) as usize, item.index);
                            let count = visits.entry(key).or_insert(0);
                            *count += 1;
                            augmenter.skipped + *count - 1
                        })
                        .collect()
                };
                let config = &augmenter.config;
                for (item, epoch) in items.iter().zip(epochs) {
                    let params = config.draw(augmenter.seed, epoch, item.index as u64);
                    let start = pixels.len();
                    augment_pixels(
                        &params,
                        config.crop_padding,
                        shape,
                        item.pixels(),
                        &mut pixels,
                    );
                    for v in &mut pixels[start..] {
                        *v = (*v / 255.0 - PIXEL_MEAN) / PIXEL_STD;
                    }
                }
            }
        }

        let n = items.len();
        ImageBatch {
            images: Tensor::<4>::from_data(TensorData::new(pixels, [n, c, h, w]), device),
            targets: Tensor::<1, Int>::from_data(TensorData::new(targets, [n]), device),
        }
    }
}
