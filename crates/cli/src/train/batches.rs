use arcface_core::LabelledBatch;
use burn::data::dataloader::batcher::Batcher;
use burn::tensor::Device;
use celeba_data::{ImageBatch, ImageBatcher, ImageItem};

/// celeba-data's batches as the network's input.
#[derive(Clone, Debug, Default)]
pub struct LabelledBatcher(ImageBatcher);

impl LabelledBatcher {
    /// A batcher that augments every item (`[data.augment]`), for the training loader only,
    /// of a run that has trained `epochs_done` epochs so far.
    pub fn augmenting(config: &celeba_data::AugmentConfig, seed: u64, epochs_done: usize) -> Self {
        Self(ImageBatcher::with_augment_after(
            config.clone(),
            seed,
            epochs_done as u64,
        ))
    }
}

impl Batcher<ImageItem, LabelledBatch> for LabelledBatcher {
    fn batch(&self, items: Vec<ImageItem>, device: &Device) -> LabelledBatch {
        let ImageBatch { images, targets } = self.0.batch(items, device);
        LabelledBatch { images, targets }
    }
}
