use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::fields::{
    AugmentConfig, check_augment, check_image_size, check_positive, check_val_fraction,
    default_val_fraction,
};
use crate::image_set::{CelebaConfig, FolderConfig};

/// The `[data]` table of a run config: which data set to train on.
///
/// Internally tagged by `kind` (`"synthetic"`, `"celeba"`, `"folder"` or `"mnist"`); unknown
/// keys are rejected so that a typo does not silently fall back to a default.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DataConfig {
    Synthetic(SyntheticConfig),
    Celeba(CelebaConfig),
    Mnist(MnistConfig),
    Folder(FolderConfig),
}

/// Built-in synthetic faces, generated in CelebA layout under `root` on first use.
///
/// Always decoded directly (no cache): the set is small. Ids `1..=identities` are the classes;
/// ids `identities + 1 ..= identities + held_out_identities` are never trained on and make the
/// held-out (open-set) split.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyntheticConfig {
    /// Folder holding (or receiving) the generated CelebA-layout set.
    pub root: PathBuf,
    #[serde(default = "default_identities")]
    pub identities: usize,
    /// Extra identities generated for open-set evaluation only: all their images go to the
    /// held-out split. 0 (the default) or at least 2 (verification needs two identities).
    #[serde(default)]
    pub held_out_identities: usize,
    #[serde(default = "default_images_per_identity")]
    pub images_per_identity: usize,
    /// Side of the generated square images, which is also the model input side.
    #[serde(default = "default_synthetic_size")]
    pub image_size: usize,
    #[serde(default = "default_generator_seed")]
    pub generator_seed: u64,
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
    /// Training-time augmentation (`[data.augment]`); absent = none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment: Option<AugmentConfig>,
}

/// How MNIST's digits are split into train and val.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum MnistSplit {
    /// `standard` when both the train and the t10k pair are present, else `random`.
    #[default]
    Auto,
    /// Train on the 60,000 training digits, validate on the 10,000 test digits.
    Standard,
    /// One pair (train if present, else t10k) split at random by `val_fraction`.
    Random,
}

/// MNIST digits from the standard IDX files (raw or `.gz`) in `root`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MnistConfig {
    pub root: PathBuf,
    /// Used by the `random` split only.
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
    /// Use only the first `limit` digits of each file read (quick runs and tests); all of
    /// them if a file holds fewer.
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub split: MnistSplit,
}

fn default_identities() -> usize {
    8
}
fn default_images_per_identity() -> usize {
    60
}
fn default_synthetic_size() -> usize {
    32
}
fn default_generator_seed() -> u64 {
    7
}
impl SyntheticConfig {
    /// The defaults, with the set living in `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            identities: default_identities(),
            held_out_identities: 0,
            images_per_identity: default_images_per_identity(),
            image_size: default_synthetic_size(),
            generator_seed: default_generator_seed(),
            val_fraction: default_val_fraction(),
            augment: None,
        }
    }
}

impl MnistConfig {
    /// The defaults, reading the IDX files in `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            val_fraction: default_val_fraction(),
            limit: None,
            split: MnistSplit::default(),
        }
    }
}

impl DataConfig {
    /// Checks the values serde cannot: ranges and mutually exclusive options.
    pub fn validate(&self) -> Result<(), DataError> {
        match self {
            Self::Synthetic(c) => {
                check_val_fraction(c.val_fraction)?;
                check_positive("identities", c.identities)?;
                check_positive("images_per_identity", c.images_per_identity)?;
                check_image_size(c.image_size)?;
                if c.held_out_identities == 1 {
                    return Err(DataError::config(
                        "held_out_identities",
                        "= 1: expected 0 (nothing held out) or at least 2 (open-set \
                         verification compares faces of different held-out identities)",
                    ));
                }
                // Ids are written as six-digit file names, like CelebA's.
                let total = c.identities.saturating_add(c.held_out_identities);
                let images = total.saturating_mul(c.images_per_identity);
                if images > 999_999 {
                    return Err(DataError::config(
                        "identities",
                        format!(
                            "+ held_out_identities ({total}) x images_per_identity = {images}, \
                             more than 999999 files"
                        ),
                    ));
                }
                if u32::try_from(total).is_err() {
                    return Err(DataError::config(
                        "identities",
                        "+ held_out_identities does not fit in a u32 id",
                    ));
                }
                check_augment(c.augment.as_ref(), c.image_size)
            }
            Self::Celeba(c) => c.validate(true),
            Self::Folder(c) => c.validate(false),
            Self::Mnist(c) => {
                check_val_fraction(c.val_fraction)?;
                match c.limit {
                    Some(limit) => check_positive("limit", limit),
                    None => Ok(()),
                }
            }
        }
    }

    /// Fraction of each class (CelebA, folder, synthetic) or of all digits (MNIST, random
    /// split) held out for val.
    pub fn val_fraction(&self) -> f64 {
        match self {
            Self::Synthetic(c) => c.val_fraction,
            Self::Celeba(c) => c.val_fraction,
            Self::Folder(c) => c.val_fraction,
            Self::Mnist(c) => c.val_fraction,
        }
    }

    /// `[channels, height, width]` of the images the config decodes to, known without reading
    /// the data: the model's input shape. MNIST's is that of the standard files, 1x28x28.
    pub fn input_shape(&self) -> [usize; 3] {
        let (side, grayscale) = match self {
            Self::Synthetic(c) => (c.image_size, false),
            Self::Celeba(c) => (c.image_size, c.grayscale),
            Self::Folder(c) => (c.image_size, c.grayscale),
            Self::Mnist(_) => (28, true),
        };
        [if grayscale { 1 } else { 3 }, side, side]
    }

    /// The `[data.augment]` table, if the config has one.
    pub fn augment(&self) -> Option<&AugmentConfig> {
        match self {
            Self::Synthetic(c) => c.augment.as_ref(),
            Self::Celeba(c) => c.augment.as_ref(),
            Self::Folder(c) => c.augment.as_ref(),
            Self::Mnist(_) => None,
        }
    }
}

/// One line describing the data a config selects, for logs.
pub fn describe(config: &DataConfig) -> String {
    match config {
        DataConfig::Synthetic(c) => format!(
            "synthetic faces: {} identities x {} images, {}x{} RGB{} (seed {}, in {})",
            c.identities,
            c.images_per_identity,
            c.image_size,
            c.image_size,
            if c.held_out_identities > 0 {
                format!(", {} more identities held out", c.held_out_identities)
            } else {
                String::new()
            },
            c.generator_seed,
            c.root.display()
        ),
        DataConfig::Celeba(c) => c.describe("CelebA", "identities"),
        DataConfig::Folder(c) => c.describe("image folders", "classes"),
        DataConfig::Mnist(c) => {
            let count = match c.limit {
                Some(n) => format!("first {n} digits"),
                None => "all digits".to_owned(),
            };
            let split = match c.split {
                MnistSplit::Auto => "standard split if both files are present",
                MnistSplit::Standard => "standard 60k/10k split",
                MnistSplit::Random => "random split",
            };
            format!(
                "MNIST: {count}, {split}, 28x28 grayscale (from {})",
                c.root.display()
            )
        }
    }
}
