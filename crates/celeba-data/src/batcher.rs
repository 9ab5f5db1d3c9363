use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{Device, Int, Tensor, TensorData};

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
#[derive(Clone, Debug, Default)]
pub struct ImageBatcher;

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
            pixels.extend(item.pixels().iter().map(|&v| table[usize::from(v)]));
            targets.push(i64::from(item.label));
        }

        let n = items.len();
        ImageBatch {
            images: Tensor::<4>::from_data(TensorData::new(pixels, [n, c, h, w]), device),
            targets: Tensor::<1, Int>::from_data(TensorData::new(targets, [n]), device),
        }
    }
}
