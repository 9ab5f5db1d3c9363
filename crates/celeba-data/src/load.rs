use crate::celeba::{CelebaRequest, Selection, load_celeba};
use crate::config::DataConfig;
use crate::error::DataError;
use crate::mnist::load_mnist;
use crate::split::SplitDataset;
use crate::synth::ensure_synthetic;

/// A loaded data set: both splits share one [`crate::ImageStore`].
#[derive(Debug, Clone)]
pub struct LoadedData {
    pub train: SplitDataset,
    pub val: SplitDataset,
    /// Class index -> name: the identity id (CelebA, synthetic) or the digit (MNIST), as text.
    pub classes: Vec<String>,
    /// `[channels, height, width]` of every image, the model input shape.
    pub shape: [usize; 3],
}

/// Reads (and for the synthetic set, first generates if needed) the data a config selects,
/// decodes it once and splits it into train and val with `split_seed`.
pub fn load(config: &DataConfig, split_seed: u64) -> Result<LoadedData, DataError> {
    config.validate()?;
    match config {
        DataConfig::Synthetic(c) => {
            ensure_synthetic(c)?;
            // Ids are 1..=identities, so the range fits u32 (checked by validate).
            let ids = (1..=c.identities as u32).collect();
            let request = CelebaRequest {
                root: &c.root,
                selection: Selection::Ids(ids),
                image_size: c.image_size,
                grayscale: false,
                val_fraction: c.val_fraction,
            };
            load_celeba(&request, split_seed)
        }
        DataConfig::Celeba(c) => {
            let selection = match (&c.top_k, &c.ids) {
                (Some(k), _) => Selection::TopK(*k),
                (None, Some(ids)) => Selection::Ids(ids.clone()),
                (None, None) => {
                    return Err(DataError::config("top_k", "and `ids` are both missing"));
                }
            };
            let request = CelebaRequest {
                root: &c.root,
                selection,
                image_size: c.image_size,
                grayscale: c.grayscale,
                val_fraction: c.val_fraction,
            };
            load_celeba(&request, split_seed)
        }
        DataConfig::Mnist(c) => load_mnist(c, split_seed),
    }
}
