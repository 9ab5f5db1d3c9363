//! What loading gives: the splits of a data set over their image stores, the classes, and
//! the records a run keeps of them. Shared by every loader (image sets, MNIST), so it depends
//! on none of them.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cache::CacheInfo;
use crate::error::DataError;
use crate::split::SplitDataset;
use crate::store::ImageStore;

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
    /// Where the data came from, for [`Self::source_files`].
    pub(crate) sources: Sources,
}

/// The files a [`LoadedData`] was read from, short of the image names its stores hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sources {
    /// The folder the stores' image names are relative to; `None` when the names are not
    /// files (MNIST's `train#<n>`).
    pub image_dir: Option<PathBuf>,
    /// Every other file read: identity and partition lists, IDX files.
    pub lists: Vec<PathBuf>,
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

    /// Every file the data came from: the list files (CelebA's identity file and partition
    /// file if present; MNIST's IDX files) first, then the image of every record of train,
    /// val and held out, in [`Self::split_records`] order. Paths are the data root joined
    /// with the file's name (absolute when the config's root is). Nothing is read or
    /// checked: the caller records what it needs (size, mtime) to notice later changes.
    pub fn source_files(&self) -> Vec<PathBuf> {
        let mut out = self.sources.lists.clone();
        if let Some(dir) = &self.sources.image_dir {
            for dataset in [&self.train, &self.val, &self.held_out] {
                let store = dataset.store();
                out.extend(dataset.indices().iter().map(|&i| dir.join(store.name(i))));
            }
        }
        out
    }

    /// [`Self::split_records`] as pretty JSON (an array of `{file, class, label, split}`).
    pub fn splits_json(&self) -> String {
        // Plain strings and integers: serialising cannot fail.
        serde_json::to_string_pretty(&self.split_records()).unwrap_or_default()
    }

    /// Train and val from `store`, nothing held out, nothing skipped; `files` are the files
    /// read (the store's names are not files).
    pub(crate) fn closed(
        store: ImageStore,
        train: Vec<usize>,
        val: Vec<usize>,
        classes: Vec<String>,
        files: Vec<PathBuf>,
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
            sources: Sources {
                image_dir: None,
                lists: files,
            },
        })
    }
}

pub(crate) fn empty_split(shape: [usize; 3]) -> Result<SplitDataset, DataError> {
    let store = ImageStore::from_parts(shape, Vec::new(), Vec::new(), Vec::new())?;
    SplitDataset::new(Arc::new(store), Vec::new())
}

pub(crate) fn split_name(split: Split) -> &'static str {
    match split {
        Split::Train => "train",
        Split::Val => "val",
        Split::HeldOut => "held_out",
    }
}
