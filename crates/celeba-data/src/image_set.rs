//! One config for the image sets decoded from files with an identity per image: aligned
//! CelebA (identities are integer ids) and any one-folder-per-class set (identities are folder
//! names). The two differ only in the type of an identity's name.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::fields::{
    AugmentConfig, check_augment, check_image_size, check_positive, check_val_fraction,
    default_val_fraction,
};

/// The aligned CelebA images: `<root>/img_align_celeba/*.jpg` and `<root>/identity_CelebA.txt`
/// (optionally `<root>/list_eval_partition.txt` for the held-out identities). Identities are
/// CelebA's integer ids.
pub type CelebaConfig = ImageSetConfig<u32>;

/// Any one-folder-per-class image set: `<root>/<class name>/*.{jpg,jpeg,png,pgm,bmp}`.
/// Classes are the folder names, ordered by name; grayscale and colour files and mixed sizes
/// may be mixed. `held_out = "auto"` is `"fraction"` (there is no partition file).
pub type FolderConfig = ImageSetConfig<String>;

/// An image set with one identity (class) per image, named by `Id`: identity selection, the
/// train/val/held-out split, the image settings, the cache and the bad-image rule.
///
/// Identity selection: `top_k`, `ids`, or neither (all identities), each after
/// `min_images_per_identity`; identities held out for open-set evaluation are never selected.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImageSetConfig<Id> {
    pub root: PathBuf,
    /// Use the `k` identities with the most images (ties go to the one first in class order:
    /// the smaller id, the smaller folder name).
    #[serde(default)]
    pub top_k: Option<usize>,
    /// Use exactly these identities. At most one of `top_k` and `ids` may be given; with
    /// neither, every (non-held-out) identity is used.
    #[serde(default = "none")]
    pub ids: Option<Vec<Id>>,
    /// Identities with fewer (existing) images are left out, held-out ones included.
    #[serde(default = "default_min_images")]
    pub min_images_per_identity: usize,
    /// Model input side: images are centre-cropped to a square, then resized to this.
    #[serde(default = "default_image_size")]
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

// `#[serde(default)]` on `Option<Vec<Id>>` would ask `Id: Default`.
fn none<T>() -> Option<T> {
    None
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
fn default_image_size() -> usize {
    64
}

impl<Id> ImageSetConfig<Id> {
    /// The defaults with every identity of the set in `root` (held-out ones aside).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            top_k: None,
            ids: None,
            min_images_per_identity: default_min_images(),
            image_size: default_image_size(),
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

    /// Checks the values serde cannot; `has_partition` says whether the set can have
    /// CelebA's partition file (`held_out = "partition"` is refused otherwise).
    pub(crate) fn validate(&self, has_partition: bool) -> Result<(), DataError> {
        check_val_fraction(self.val_fraction)?;
        check_image_size(self.image_size)?;
        check_selection(self.top_k, self.ids.as_ref().map(Vec::len))?;
        check_positive("min_images_per_identity", self.min_images_per_identity)?;
        check_held_out_fraction(self.held_out_fraction)?;
        if !has_partition && self.held_out == HeldOut::Partition {
            return Err(DataError::config(
                "held_out",
                "= \"partition\" needs CelebA's list_eval_partition.txt; a folder set \
                 has none (use \"fraction\", \"auto\" or \"none\")",
            ));
        }
        check_augment(self.augment.as_ref(), self.image_size)
    }
}

impl<Id: ToString> ImageSetConfig<Id> {
    /// One line for logs: `"<set>: top 5 <what> with >= 2 images, 64x64 RGB, held out: ..."`.
    pub(crate) fn describe(&self, set: &str, what: &str) -> String {
        let mut selection = match (self.top_k, &self.ids) {
            (Some(k), _) => format!("top {k} {what}"),
            (None, Some(ids)) => format!("{} listed {what}", ids.len()),
            (None, None) => format!("all {what}"),
        };
        if self.min_images_per_identity > 1 {
            selection.push_str(&format!(" with >= {} images", self.min_images_per_identity));
        }
        let colour = if self.grayscale { "grayscale" } else { "RGB" };
        let held_out = match self.held_out {
            HeldOut::Auto => format!(
                "held out: official test partition, else {}",
                self.held_out_fraction
            ),
            HeldOut::Partition => "held out: official test partition".to_owned(),
            HeldOut::Fraction => format!("held out: {} of identities", self.held_out_fraction),
            HeldOut::None => "no held-out identities".to_owned(),
        };
        format!(
            "{set}: {selection}, {}x{} {colour}, {held_out} (from {})",
            self.image_size,
            self.image_size,
            self.root.display()
        )
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
