use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::DataError;

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

/// Where the identity-disjoint held-out (open-set) identities come from.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum HeldOut {
    /// `partition` when `<root>/list_eval_partition.txt` exists (CelebA), else `fraction`.
    #[default]
    Auto,
    /// The identities of CelebA's official test partition (2 in `list_eval_partition.txt`).
    Partition,
    /// A seeded `held_out_fraction` of the identities.
    Fraction,
    /// Every identity is available for training.
    None,
}

/// What to do with a selected image that is missing or cannot be decoded.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnBadImage {
    /// Refuse to start, listing the first few bad files and the total count.
    #[default]
    Error,
    /// Leave them out, and report them in [`crate::LoadedData::skipped`].
    Skip,
}

/// The aligned CelebA images: `<root>/img_align_celeba/*.jpg` and `<root>/identity_CelebA.txt`
/// (optionally `<root>/list_eval_partition.txt` for the held-out identities).
///
/// Identity selection: `top_k`, `ids`, or neither (all identities), each after
/// `min_images_per_identity`; identities held out for open-set evaluation are never selected.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CelebaConfig {
    pub root: PathBuf,
    /// Use the `k` identities with the most images (ties go to the smaller id).
    #[serde(default)]
    pub top_k: Option<usize>,
    /// Use exactly these identities. At most one of `top_k` and `ids` may be given; with
    /// neither, every (non-held-out) identity is used.
    #[serde(default)]
    pub ids: Option<Vec<u32>>,
    /// Identities with fewer (existing) images are left out, held-out ones included.
    #[serde(default = "default_min_images")]
    pub min_images_per_identity: usize,
    /// Model input side: images are centre-cropped to a square, then resized to this.
    #[serde(default = "default_celeba_size")]
    pub image_size: usize,
    #[serde(default)]
    pub grayscale: bool,
    /// Fraction of each selected identity's images kept for (closed-set) validation.
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
    #[serde(default)]
    pub held_out: HeldOut,
    /// Fraction of the identities held out when `held_out` is `fraction` (or `auto` without a
    /// partition file).
    #[serde(default = "default_held_out_fraction")]
    pub held_out_fraction: f64,
    #[serde(default)]
    pub on_bad_image: OnBadImage,
    /// Decode once into a memory-mapped cache (in `cache_dir`, default
    /// [`crate::default_cache_dir`]).
    #[serde(default = "default_true")]
    pub cache: bool,
    /// Folder for the cache; default `$XDG_CACHE_HOME/arcface-lab/data`, else
    /// `~/.cache/arcface-lab/data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<PathBuf>,
    /// Training-time augmentation (`[data.augment]`); absent = none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment: Option<AugmentConfig>,
}

/// Any one-folder-per-class image set: `<root>/<class name>/*.{jpg,jpeg,png,pgm,bmp}`.
///
/// Same selection, split, cache and bad-image rules as [`CelebaConfig`]; classes are the
/// folder names, ordered by name. Grayscale and colour files and mixed sizes may be mixed.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FolderConfig {
    pub root: PathBuf,
    /// Use the `k` classes with the most images (ties go to the smaller name).
    #[serde(default)]
    pub top_k: Option<usize>,
    /// Use exactly these class folders.
    #[serde(default)]
    pub ids: Option<Vec<String>>,
    #[serde(default = "default_min_images")]
    pub min_images_per_identity: usize,
    #[serde(default = "default_celeba_size")]
    pub image_size: usize,
    #[serde(default)]
    pub grayscale: bool,
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
    /// `auto` is `fraction` here (there is no partition file).
    #[serde(default)]
    pub held_out: HeldOut,
    #[serde(default = "default_held_out_fraction")]
    pub held_out_fraction: f64,
    #[serde(default)]
    pub on_bad_image: OnBadImage,
    #[serde(default = "default_true")]
    pub cache: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<PathBuf>,
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

/// `[data.augment]`: per-item training augmentation, applied on the fly by
/// [`crate::ImageBatcher::with_augment`]. Every field defaults to "off".
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct AugmentConfig {
    /// Mirror left-right with probability 0.5.
    #[serde(default)]
    pub horizontal_flip: bool,
    /// Pad each side with this many zero (black) pixels, then crop a random window of the
    /// original size.
    #[serde(default)]
    pub crop_padding: usize,
    /// Multiply pixels by a factor drawn uniformly from `[1 - b, 1 + b]`.
    #[serde(default)]
    pub brightness: f32,
    /// Scale the distance from the image's mean by a factor from `[1 - c, 1 + c]`.
    #[serde(default)]
    pub contrast: f32,
}

fn default_true() -> bool {
    true
}
fn default_min_images() -> usize {
    1
}
fn default_held_out_fraction() -> f64 {
    0.1
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
            held_out_identities: 0,
            images_per_identity: default_images_per_identity(),
            image_size: default_synthetic_size(),
            generator_seed: default_generator_seed(),
            val_fraction: default_val_fraction(),
            augment: None,
        }
    }
}

impl CelebaConfig {
    /// The defaults with every identity of the set in `root` (held-out ones aside).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            top_k: None,
            ids: None,
            min_images_per_identity: default_min_images(),
            image_size: default_celeba_size(),
            grayscale: false,
            val_fraction: default_val_fraction(),
            held_out: HeldOut::default(),
            held_out_fraction: default_held_out_fraction(),
            on_bad_image: OnBadImage::default(),
            cache: true,
            cache_dir: None,
            augment: None,
        }
    }

    /// The defaults with the `k` largest identities of the set in `root`.
    pub fn top_k(root: impl Into<PathBuf>, k: usize) -> Self {
        Self {
            top_k: Some(k),
            ..Self::new(root)
        }
    }
}

impl FolderConfig {
    /// The defaults with every class folder of `root` (held-out ones aside).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            top_k: None,
            ids: None,
            min_images_per_identity: default_min_images(),
            image_size: default_celeba_size(),
            grayscale: false,
            val_fraction: default_val_fraction(),
            held_out: HeldOut::default(),
            held_out_fraction: default_held_out_fraction(),
            on_bad_image: OnBadImage::default(),
            cache: true,
            cache_dir: None,
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
            Self::Celeba(c) => {
                check_val_fraction(c.val_fraction)?;
                check_image_size(c.image_size)?;
                check_selection(c.top_k, c.ids.as_ref().map(Vec::len))?;
                check_positive("min_images_per_identity", c.min_images_per_identity)?;
                check_held_out_fraction(c.held_out_fraction)?;
                check_augment(c.augment.as_ref(), c.image_size)
            }
            Self::Folder(c) => {
                check_val_fraction(c.val_fraction)?;
                check_image_size(c.image_size)?;
                check_selection(c.top_k, c.ids.as_ref().map(Vec::len))?;
                check_positive("min_images_per_identity", c.min_images_per_identity)?;
                check_held_out_fraction(c.held_out_fraction)?;
                if c.held_out == HeldOut::Partition {
                    return Err(DataError::config(
                        "held_out",
                        "= \"partition\" needs CelebA's list_eval_partition.txt; a folder set \
                         has none (use \"fraction\", \"auto\" or \"none\")",
                    ));
                }
                check_augment(c.augment.as_ref(), c.image_size)
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

fn check_selection(top_k: Option<usize>, ids: Option<usize>) -> Result<(), DataError> {
    match (top_k, ids) {
        (Some(_), Some(_)) => Err(DataError::config(
            "top_k",
            "and `ids` are both given: give at most one of them (top_k = <count> picks the \
             identities with most images; ids = [..] lists them; neither uses all)",
        )),
        (Some(k), None) => check_positive("top_k", k),
        (None, Some(0)) => Err(DataError::config(
            "ids",
            "is empty (expected at least one id, or leave `ids` out to use all identities)",
        )),
        _ => Ok(()),
    }
}

fn check_held_out_fraction(value: f64) -> Result<(), DataError> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(DataError::config(
            "held_out_fraction",
            format!("= {value} is outside [0, 1)"),
        ))
    }
}

fn check_augment(augment: Option<&AugmentConfig>, image_size: usize) -> Result<(), DataError> {
    let Some(a) = augment else { return Ok(()) };
    for (field, value) in [
        ("augment.brightness", a.brightness),
        ("augment.contrast", a.contrast),
    ] {
        if !(0.0..1.0).contains(&value) {
            return Err(DataError::config(
                field,
                format!("= {value} is outside [0, 1)"),
            ));
        }
    }
    if a.crop_padding > image_size / 2 {
        return Err(DataError::config(
            "augment.crop_padding",
            format!(
                "= {} is more than half the image side ({image_size})",
                a.crop_padding
            ),
        ));
    }
    Ok(())
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

fn selection_text<T: ToString>(top_k: Option<usize>, ids: Option<&Vec<T>>, what: &str) -> String {
    match (top_k, ids) {
        (Some(k), _) => format!("top {k} {what}"),
        (None, Some(ids)) => format!("{} listed {what}", ids.len()),
        (None, None) => format!("all {what}"),
    }
}

fn held_out_text(held_out: HeldOut, fraction: f64) -> String {
    match held_out {
        HeldOut::Auto => format!("held out: official test partition, else {fraction}"),
        HeldOut::Partition => "held out: official test partition".to_owned(),
        HeldOut::Fraction => format!("held out: {fraction} of identities"),
        HeldOut::None => "no held-out identities".to_owned(),
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
        DataConfig::Celeba(c) => {
            let mut selection = selection_text(c.top_k, c.ids.as_ref(), "identities");
            if c.min_images_per_identity > 1 {
                selection.push_str(&format!(" with >= {} images", c.min_images_per_identity));
            }
            let colour = if c.grayscale { "grayscale" } else { "RGB" };
            format!(
                "CelebA: {selection}, {}x{} {colour}, {} (from {})",
                c.image_size,
                c.image_size,
                held_out_text(c.held_out, c.held_out_fraction),
                c.root.display()
            )
        }
        DataConfig::Folder(c) => {
            let mut selection = selection_text(c.top_k, c.ids.as_ref(), "classes");
            if c.min_images_per_identity > 1 {
                selection.push_str(&format!(" with >= {} images", c.min_images_per_identity));
            }
            let colour = if c.grayscale { "grayscale" } else { "RGB" };
            format!(
                "image folders: {selection}, {}x{} {colour}, {} (from {})",
                c.image_size,
                c.image_size,
                held_out_text(c.held_out, c.held_out_fraction),
                c.root.display()
            )
        }
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
