use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::cache::default_cache_dir;
use crate::catalog::{Catalog, celeba_catalog, folder_catalog};
use crate::config::{DataConfig, SyntheticConfig};
use crate::error::DataError;
use crate::image_set::{HeldOut, ImageSetConfig, OnBadImage};
use crate::images::{ImageRequest, Selection, load_images};
use crate::loaded::{LoadedData, Split, SplitRecord, split_name};
use crate::mnist::load_mnist;
use crate::synth::ensure_synthetic;

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
            image_request("celeba", true, c, &mut warnings),
        ),
        DataConfig::Folder(c) => (
            folder_catalog(&c.root)?,
            image_request("folder", false, c, &mut warnings),
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

/// What an image-set config asks of [`load_images`]; `kind` names the cache file and
/// `numeric_ids` says whether identity names are CelebA's integer ids.
fn image_request<Id: ToString>(
    kind: &'static str,
    numeric_ids: bool,
    c: &ImageSetConfig<Id>,
    warnings: &mut Vec<String>,
) -> ImageRequest {
    let selection = match (c.top_k, &c.ids) {
        (Some(k), _) => Selection::TopK(k),
        (None, Some(ids)) => Selection::Ids(ids.iter().map(ToString::to_string).collect()),
        (None, None) => Selection::All,
    };
    ImageRequest {
        kind,
        selection,
        numeric_ids,
        min_images: c.min_images_per_identity,
        image_size: c.image_size,
        grayscale: c.grayscale,
        val_fraction: c.val_fraction,
        held_out: c.held_out,
        held_out_fraction: c.held_out_fraction,
        held_out_ids: None,
        on_bad_image: c.on_bad_image,
        cache_dir: cache_dir(c.cache, c.cache_dir.as_deref(), warnings),
        cache_dir_explicit: c.cache_dir.is_some(),
    }
}
