use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cache::{CacheInfo, default_cache_dir};
use crate::catalog::{Catalog, celeba_catalog, folder_catalog};
use crate::config::{DataConfig, HeldOut, OnBadImage, SyntheticConfig};
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
        DataConfig::Synthetic(c) => load_synthetic(c, split_seed),
        DataConfig::Celeba(_) | DataConfig::Folder(_) => {
            let (catalog, request, mut warnings) = catalog_request(config)?;
            let mut data = load_images(catalog, &request, split_seed)?;
            warnings.append(&mut data.warnings);
            data.warnings = warnings;
            Ok(data)
        }
        DataConfig::Mnist(c) => load_mnist(c, split_seed),
    }
}

/// Loads exactly the images of `files` (a run's `splits.json`) with the split they had, even
/// if images were added to the data set since: the run's `eval`, `export` or `view` then see
/// the run's data, not today's folder.
///
/// For CelebA and folder sets the catalog is cut down to the listed files, their classes are
/// selected as listed (train/val classes, held-out classes) and split with `split_seed`; the
/// per-class seeded split over the same files gives the same train/val split. The config's
/// `top_k`, `ids`, `held_out` and `min_images_per_identity` are not applied again (the
/// records are what they chose); its image settings, `on_bad_image` and cache are. MNIST and the
/// synthetic set have a fixed file list and are loaded as usual. Either way the result's
/// [`LoadedData::split_records`] must equal `files`, in order.
///
/// Errors, before any image is decoded where possible: a listed file that is missing or no
/// longer listed under its class ([`DataError::ListedFile`], naming it), and a split that
/// comes out different ([`DataError::SplitsDiffer`], naming the first file that differs).
pub fn load_listed(
    config: &DataConfig,
    split_seed: u64,
    files: &[SplitRecord],
) -> Result<LoadedData, DataError> {
    config.validate()?;
    let data = match config {
        DataConfig::Synthetic(c) => load_synthetic(c, split_seed)?,
        DataConfig::Mnist(c) => load_mnist(c, split_seed)?,
        DataConfig::Celeba(_) | DataConfig::Folder(_) => {
            let (catalog, mut request, mut warnings) = catalog_request(config)?;
            let catalog = restrict(catalog, files)?;
            let classes = |wanted: &dyn Fn(Split) -> bool| -> Vec<String> {
                let mut names: Vec<String> = Vec::new();
                for record in files.iter().filter(|r| wanted(r.split)) {
                    if !names.contains(&record.class) {
                        names.push(record.class.clone());
                    }
                }
                names
            };
            request.selection = Selection::Ids(classes(&|s| s != Split::HeldOut));
            request.held_out_ids = Some(classes(&|s| s == Split::HeldOut));
            // The classes are given; how many images they have now must not drop any.
            request.min_images = 1;
            let mut data = load_images(catalog, &request, split_seed)?;
            warnings.append(&mut data.warnings);
            data.warnings = warnings;
            data
        }
    };
    let found = data.split_records();
    let describe = |r: Option<&SplitRecord>| {
        r.map_or_else(
            || "absent".to_owned(),
            |r| {
                format!(
                    "{} of class {:?} (label {}) in {}",
                    r.file,
                    r.class,
                    r.label,
                    split_name(r.split)
                )
            },
        )
    };
    for i in 0..files.len().max(found.len()) {
        let (want, got) = (files.get(i), found.get(i));
        if want != got {
            return Err(DataError::SplitsDiffer {
                file: want.or(got).map(|r| r.file.clone()).unwrap_or_default(),
                position: i,
                expected: describe(want),
                found: describe(got),
            });
        }
    }
    Ok(data)
}

fn split_name(split: Split) -> &'static str {
    match split {
        Split::Train => "train",
        Split::Val => "val",
        Split::HeldOut => "held_out",
    }
}

/// Cuts `catalog` down to the listed files, refusing a listed file that is gone from the
/// folder or from the lists, or that is now listed under another class.
fn restrict(mut catalog: Catalog, files: &[SplitRecord]) -> Result<Catalog, DataError> {
    let mut listed: HashMap<&str, &SplitRecord> = HashMap::with_capacity(files.len());
    for record in files {
        if listed.insert(record.file.as_str(), record).is_some() {
            return Err(DataError::ListedFile {
                path: catalog.base.join(&record.file),
                problem: "is listed twice in the run's splits".to_owned(),
            });
        }
    }
    let mut seen: HashSet<&str> = HashSet::with_capacity(files.len());
    for identity in &mut catalog.identities {
        let mut kept = Vec::new();
        for file in std::mem::take(&mut identity.files) {
            let Some(record) = listed.get(file.as_str()) else {
                continue;
            };
            if record.class != identity.name {
                return Err(DataError::ListedFile {
                    path: catalog.base.join(&file),
                    problem: format!(
                        "is of class {:?} in the run's splits, but {} now puts it in class {:?}",
                        record.class,
                        catalog.source.display(),
                        identity.name
                    ),
                });
            }
            seen.insert(record.file.as_str());
            kept.push(file);
        }
        identity.files = kept;
    }
    if let Some(record) = files.iter().find(|r| !seen.contains(r.file.as_str())) {
        let path = catalog.base.join(&record.file);
        let problem = if path.is_file() {
            format!(
                "is in the run's splits (class {:?}) but no longer listed in {}",
                record.class,
                catalog.source.display()
            )
        } else {
            format!(
                "is in the run's splits (class {:?}) but missing: the run's data cannot be \
                 rebuilt without it",
                record.class
            )
        };
        return Err(DataError::ListedFile { path, problem });
    }
    for record in files {
        let path = catalog.base.join(&record.file);
        if !path.is_file() {
            return Err(DataError::ListedFile {
                path,
                problem: format!(
                    "is in the run's splits (class {:?}) but missing: the run's data cannot \
                     be rebuilt without it",
                    record.class
                ),
            });
        }
    }
    catalog.identities.retain(|i| !i.files.is_empty());
    Ok(catalog)
}

fn load_synthetic(c: &SyntheticConfig, split_seed: u64) -> Result<LoadedData, DataError> {
    let note = ensure_synthetic(c)?;
    // Ids are 1..=identities + held_out_identities, so they fit u32 (checked by validate);
    // the ids past `identities` are the held-out set.
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

/// The catalog and the request of a CelebA or folder config, and the warnings so far.
fn catalog_request(config: &DataConfig) -> Result<(Catalog, ImageRequest, Vec<String>), DataError> {
    let mut warnings = Vec::new();
    let (catalog, request) = match config {
        DataConfig::Celeba(c) => (
            celeba_catalog(&c.root)?,
            ImageRequest {
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
            },
        ),
        DataConfig::Folder(c) => (
            folder_catalog(&c.root)?,
            ImageRequest {
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
            },
        ),
        DataConfig::Synthetic(_) | DataConfig::Mnist(_) => {
            return Err(DataError::config(
                "kind",
                "is not a CelebA or folder set (internal: no catalog)",
            ));
        }
    };
    Ok((catalog, request, warnings))
}
