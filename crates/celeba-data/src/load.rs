use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cache::{CacheInfo, default_cache_dir};
use crate::catalog::{celeba_catalog, folder_catalog};
use crate::config::{DataConfig, HeldOut, OnBadImage};
use crate::error::DataError;
use crate::images::{ImageRequest, Selection, load_images};
use crate::mnist::load_mnist;
use crate::split::SplitDataset;
use crate::store::ImageStore;
use crate::synth::ensure_synthetic;

/// A loaded data set: train and val share one [`crate::ImageStore`]; the held-out identities
/// have their own (backed by the same memory or cache file).
#[derive(Debug, Clone)]
pub struct LoadedData {
    pub train: SplitDataset,
    pub val: SplitDataset,
    /// Class index -> name: the identity id (CelebA, synthetic), the folder name (folder sets)
    /// or the digit (MNIST), as text.
    pub classes: Vec<String>,
    /// `[channels, height, width]` of every image, the model input shape.
    pub shape: [usize; 3],
    /// Images of identities that are in neither train nor val, for open-set evaluation; its
    /// labels index [`Self::held_out_classes`]. Empty when nothing is held out (MNIST,
    /// synthetic without `held_out_identities`, `held_out = "none"`).
    pub held_out: SplitDataset,
    /// Held-out class index -> identity name.
    pub held_out_classes: Vec<String>,
    /// Images left out because they are missing or cannot be decoded (`on_bad_image = "skip"`).
    pub skipped: Vec<SkippedImage>,
    /// Things the user should hear about that did not stop the load (duplicate lines, ignored
    /// files, skipped images, a rebuilt corrupt cache), one sentence each, without a
    /// `warning:` prefix.
    pub warnings: Vec<String>,
    /// The image cache used, if any.
    pub cache: Option<CacheInfo>,
}

/// An image left out of the run, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedImage {
    pub path: PathBuf,
    pub reason: String,
}

/// Which part of the data an image went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Train,
    Val,
    /// Identity-disjoint from train and val (open-set evaluation).
    HeldOut,
}

/// One image of the chosen split, as written to a run's `splits.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitRecord {
    /// The image file relative to the data set's image folder (`000001.jpg`,
    /// `<class>/<file>`), or `train#<n>` / `t10k#<n>` for MNIST.
    pub file: String,
    /// The class (identity) name.
    pub class: String,
    /// Index of `class` in [`LoadedData::classes`] (train, val) or
    /// [`LoadedData::held_out_classes`] (held out).
    pub label: u32,
    pub split: Split,
}

impl LoadedData {
    /// Every image with its class and split: train, then val, then held out, each in
    /// dataset order.
    pub fn split_records(&self) -> Vec<SplitRecord> {
        let mut out = Vec::with_capacity(self.train.len() + self.val.len() + self.held_out.len());
        for (dataset, classes, split) in [
            (&self.train, &self.classes, Split::Train),
            (&self.val, &self.classes, Split::Val),
            (&self.held_out, &self.held_out_classes, Split::HeldOut),
        ] {
            let store = dataset.store();
            for &i in dataset.indices() {
                let label = store.label(i);
                out.push(SplitRecord {
                    file: store.name(i).to_owned(),
                    class: classes
                        .get(label as usize)
                        .cloned()
                        .unwrap_or_else(|| label.to_string()),
                    label,
                    split,
                });
            }
        }
        out
    }

    /// [`Self::split_records`] as pretty JSON (an array of `{file, class, label, split}`).
    pub fn splits_json(&self) -> String {
        // Plain strings and integers: serialising cannot fail.
        serde_json::to_string_pretty(&self.split_records()).unwrap_or_default()
    }

    /// Train and val from `store`, nothing held out, nothing skipped.
    pub(crate) fn closed(
        store: ImageStore,
        train: Vec<usize>,
        val: Vec<usize>,
        classes: Vec<String>,
    ) -> Result<Self, DataError> {
        let shape = store.shape();
        let store = Arc::new(store);
        Ok(Self {
            train: SplitDataset::new(Arc::clone(&store), train)?,
            val: SplitDataset::new(store, val)?,
            classes,
            shape,
            held_out: empty_split(shape)?,
            held_out_classes: Vec::new(),
            skipped: Vec::new(),
            warnings: Vec::new(),
            cache: None,
        })
    }
}

pub(crate) fn empty_split(shape: [usize; 3]) -> Result<SplitDataset, DataError> {
    let store = ImageStore::from_parts(shape, Vec::new(), Vec::new(), Vec::new())?;
    SplitDataset::new(Arc::new(store), Vec::new())
}

/// The folder a config's cache goes to, or `None` for no cache (with a warning when a cache
/// was asked for but no folder can be found).
fn cache_dir(cache: bool, dir: Option<&Path>, warnings: &mut Vec<String>) -> Option<PathBuf> {
    if !cache {
        return None;
    }
    let dir = dir.map(Path::to_owned).or_else(default_cache_dir);
    if dir.is_none() {
        warnings.push(
            "no cache folder: neither XDG_CACHE_HOME nor HOME is set; decoding without a cache \
             (set data.cache_dir)"
                .to_owned(),
        );
    }
    dir
}

fn selection<T: ToString>(top_k: Option<usize>, ids: Option<&Vec<T>>) -> Selection {
    match (top_k, ids) {
        (Some(k), _) => Selection::TopK(k),
        (None, Some(ids)) => Selection::Ids(ids.iter().map(ToString::to_string).collect()),
        (None, None) => Selection::All,
    }
}

/// Reads (and for the synthetic set, first generates if needed) the data a config selects,
/// decodes it once (or maps its cache) and splits it into train, val and held out with
/// `split_seed`.
///
/// Progress of a long decode goes to stderr; warnings are returned in
/// [`LoadedData::warnings`], not printed.
pub fn load(config: &DataConfig, split_seed: u64) -> Result<LoadedData, DataError> {
    config.validate()?;
    match config {
        DataConfig::Synthetic(c) => {
            let note = ensure_synthetic(c)?;
            // Ids are 1..=identities + held_out_identities, so they fit u32 (checked by
            // validate); the ids past `identities` are the held-out set.
            let total = c.identities + c.held_out_identities;
            let names = |range: std::ops::RangeInclusive<usize>| -> Vec<String> {
                range.map(|i| i.to_string()).collect()
            };
            let request = ImageRequest {
                kind: "synthetic",
                selection: Selection::Ids(names(1..=c.identities)),
                numeric_ids: true,
                min_images: 1,
                image_size: c.image_size,
                grayscale: false,
                val_fraction: c.val_fraction,
                held_out: HeldOut::None,
                held_out_fraction: 0.0,
                held_out_ids: Some(names(c.identities + 1..=total)),
                on_bad_image: OnBadImage::Error,
                cache_dir: None,
                cache_dir_explicit: false,
            };
            let mut data = load_images(celeba_catalog(&c.root)?, &request, split_seed)?;
            data.warnings.extend(note);
            Ok(data)
        }
        DataConfig::Celeba(c) => {
            let mut warnings = Vec::new();
            let request = ImageRequest {
                kind: "celeba",
                selection: selection(c.top_k, c.ids.as_ref()),
                numeric_ids: true,
                min_images: c.min_images_per_identity,
                image_size: c.image_size,
                grayscale: c.grayscale,
                val_fraction: c.val_fraction,
                held_out: c.held_out,
                held_out_fraction: c.held_out_fraction,
                held_out_ids: None,
                on_bad_image: c.on_bad_image,
                cache_dir: cache_dir(c.cache, c.cache_dir.as_deref(), &mut warnings),
                cache_dir_explicit: c.cache_dir.is_some(),
            };
            let mut data = load_images(celeba_catalog(&c.root)?, &request, split_seed)?;
            warnings.append(&mut data.warnings);
            data.warnings = warnings;
            Ok(data)
        }
        DataConfig::Folder(c) => {
            let mut warnings = Vec::new();
            let request = ImageRequest {
                kind: "folder",
                selection: selection(c.top_k, c.ids.as_ref()),
                numeric_ids: false,
                min_images: c.min_images_per_identity,
                image_size: c.image_size,
                grayscale: c.grayscale,
                val_fraction: c.val_fraction,
                held_out: c.held_out,
                held_out_fraction: c.held_out_fraction,
                held_out_ids: None,
                on_bad_image: c.on_bad_image,
                cache_dir: cache_dir(c.cache, c.cache_dir.as_deref(), &mut warnings),
                cache_dir_explicit: c.cache_dir.is_some(),
            };
            let mut data = load_images(folder_catalog(&c.root)?, &request, split_seed)?;
            warnings.append(&mut data.warnings);
            data.warnings = warnings;
            Ok(data)
        }
        DataConfig::Mnist(c) => load_mnist(c, split_seed),
    }
}
