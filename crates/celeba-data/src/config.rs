use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::DataError;

/// The `[data]` table of a run config: which data set to train on.
///
/// Internally tagged by `kind` (`"synthetic"`, `"celeba"` or `"mnist"`); unknown keys are
/// rejected so that a typo does not silently fall back to a default.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DataConfig {
    Synthetic(SyntheticConfig),
    Celeba(CelebaConfig),
    Mnist(MnistConfig),
}

/// Built-in synthetic faces, generated in CelebA layout under `root` on first use.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyntheticConfig {
    /// Folder holding (or receiving) the generated CelebA-layout set.
    pub root: PathBuf,
    #[serde(default = "default_identities")]
    pub identities: usize,
    #[serde(default = "default_images_per_identity")]
    pub images_per_identity: usize,
    /// Side of the generated square images, which is also the model input side.
    #[serde(default = "default_synthetic_size")]
    pub image_size: usize,
    #[serde(default = "default_generator_seed")]
    pub generator_seed: u64,
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
}

/// The aligned CelebA images: `<root>/img_align_celeba/*.jpg` and `<root>/identity_CelebA.txt`.
///
/// `<root>/list_eval_partition.txt` is not used: its partitions hold disjoint identities,
/// whereas classification needs every class in both train and val.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CelebaConfig {
    pub root: PathBuf,
    /// Use the `k` identities with the most images (ties go to the smaller id).
    #[serde(default)]
    pub top_k: Option<usize>,
    /// Use exactly these identities. Exactly one of `top_k` and `ids` must be given.
    #[serde(default)]
    pub ids: Option<Vec<u32>>,
    /// Model input side: images are centre-cropped to a square, then resized to this.
    #[serde(default = "default_celeba_size")]
    pub image_size: usize,
    #[serde(default)]
    pub grayscale: bool,
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
}

/// MNIST digits from the standard IDX files (raw or `.gz`) in `root`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MnistConfig {
    pub root: PathBuf,
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
    /// Use only the first `limit` digits of the file (quick runs and tests); all of them if
    /// the file holds fewer.
    #[serde(default)]
    pub limit: Option<usize>,
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
fn default_celeba_size() -> usize {
    64
}
fn default_val_fraction() -> f64 {
    0.2
}

impl SyntheticConfig {
    /// The defaults, with the set living in `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            identities: default_identities(),
            images_per_identity: default_images_per_identity(),
            image_size: default_synthetic_size(),
            generator_seed: default_generator_seed(),
            val_fraction: default_val_fraction(),
        }
    }
}

impl CelebaConfig {
    /// The defaults with the `k` largest identities of the set in `root`.
    pub fn top_k(root: impl Into<PathBuf>, k: usize) -> Self {
        Self {
            root: root.into(),
            top_k: Some(k),
            ids: None,
            image_size: default_celeba_size(),
            grayscale: false,
            val_fraction: default_val_fraction(),
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
                // Ids are written as six-digit file names, like CelebA's.
                let images = c.identities.saturating_mul(c.images_per_identity);
                if images > 999_999 {
                    return Err(DataError::config(
                        "identities",
                        format!("x images_per_identity = {images}, more than 999999 files"),
                    ));
                }
                if u32::try_from(c.identities).is_err() {
                    return Err(DataError::config("identities", "does not fit in a u32 id"));
                }
                Ok(())
            }
            Self::Celeba(c) => {
                check_val_fraction(c.val_fraction)?;
                check_image_size(c.image_size)?;
                match (&c.top_k, &c.ids) {
                    (None, None) | (Some(_), Some(_)) => Err(DataError::config(
                        "top_k",
                        "and `ids`: give exactly one of them (top_k = <count> picks the \
                         identities with most images; ids = [..] lists them)",
                    )),
                    (Some(k), None) => check_positive("top_k", *k),
                    (None, Some(ids)) if ids.is_empty() => Err(DataError::config(
                        "ids",
                        "is empty (expected at least one id)",
                    )),
                    (None, Some(_)) => Ok(()),
                }
            }
            Self::Mnist(c) => {
                check_val_fraction(c.val_fraction)?;
                match c.limit {
                    Some(limit) => check_positive("limit", limit),
                    None => Ok(()),
                }
            }
        }
    }

    /// Fraction of each class (CelebA, synthetic) or of all digits (MNIST) held out for val.
    pub fn val_fraction(&self) -> f64 {
        match self {
            Self::Synthetic(c) => c.val_fraction,
            Self::Celeba(c) => c.val_fraction,
            Self::Mnist(c) => c.val_fraction,
        }
    }
}

fn check_val_fraction(value: f64) -> Result<(), DataError> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(DataError::config(
            "val_fraction",
            format!("= {value} is outside [0, 1)"),
        ))
    }
}

fn check_positive(field: &'static str, value: usize) -> Result<(), DataError> {
    if value == 0 {
        Err(DataError::config(field, "must be at least 1"))
    } else {
        Ok(())
    }
}

fn check_image_size(value: usize) -> Result<(), DataError> {
    // Below 8 pixels a face is unrecognisable and the VGG pooling stages run out of pixels;
    // above 1024 one image alone costs megabytes per channel.
    if (8..=1024).contains(&value) {
        Ok(())
    } else {
        Err(DataError::config(
            "image_size",
            format!("= {value} is outside 8..=1024"),
        ))
    }
}

/// One line describing the data a config selects, for logs.
pub fn describe(config: &DataConfig) -> String {
    match config {
        DataConfig::Synthetic(c) => format!(
            "synthetic faces: {} identities x {} images, {}x{} RGB (seed {}, in {})",
            c.identities,
            c.images_per_identity,
            c.image_size,
            c.image_size,
            c.generator_seed,
            c.root.display()
        ),
        DataConfig::Celeba(c) => {
            let selection = match (&c.top_k, &c.ids) {
                (Some(k), _) => format!("top {k} identities"),
                (None, Some(ids)) => format!("{} listed identities", ids.len()),
                (None, None) => "no identities selected".to_owned(),
            };
            let colour = if c.grayscale { "grayscale" } else { "RGB" };
            format!(
                "CelebA: {selection}, {}x{} {colour} (from {})",
                c.image_size,
                c.image_size,
                c.root.display()
            )
        }
        DataConfig::Mnist(c) => {
            let count = match c.limit {
                Some(n) => format!("first {n} digits"),
                None => "all digits".to_owned(),
            };
            format!(
                "MNIST: {count}, 28x28 grayscale (from {})",
                c.root.display()
            )
        }
    }
}
