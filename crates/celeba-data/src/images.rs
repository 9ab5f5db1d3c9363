//! From a [`Catalog`] to a [`LoadedData`]: check the files, pick the held-out and the training
//! identities, decode (through the cache or directly), deal with bad images, split.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::cache::{CacheRequest, open_or_build, stat};
use crate::catalog::{Catalog, Identity, PARTITION_FILE};
use crate::decode::{PROGRESS_FROM, decode_records};
use crate::error::{DataError, with_causes};
use crate::image_set::{HeldOut, OnBadImage};
use crate::loaded::{LoadedData, SkippedImage, Sources};
use crate::split::{SplitDataset, split_per_class};
use crate::store::{Backing, ImageStore};

/// How many bad images an error lists before giving only the count.
const BAD_SHOWN: usize = 5;
/// Keeps the held-out draw independent of the train/val shuffles made from the same seed.
const HELD_OUT_SALT: u64 = 0x4845_4c44_4f55_5431;

/// Which identities become classes (after held-out identities and `min_images` are applied).
#[derive(Debug, Clone)]
pub(crate) enum Selection {
    /// The `k` identities with most images, ties to the one first in class order.
    TopK(usize),
    /// These identity names.
    Ids(Vec<String>),
    All,
}

/// Everything about loading a catalog that the config decides.
#[derive(Debug, Clone)]
pub(crate) struct ImageRequest {
    /// `celeba`, `folder` or `synthetic`: names the cache file.
    pub kind: &'static str,
    pub selection: Selection,
    /// Whether identity names are CelebA's integer ids (for the error naming unknown ones).
    pub numeric_ids: bool,
    pub min_images: usize,
    pub image_size: usize,
    pub grayscale: bool,
    pub val_fraction: f64,
    pub held_out: HeldOut,
    pub held_out_fraction: f64,
    /// Exactly these identities are held out, in place of what `held_out` would pick (the
    /// synthetic set's extra identities).
    pub held_out_ids: Option<Vec<String>>,
    pub on_bad_image: OnBadImage,
    /// `None`: decode straight to memory.
    pub cache_dir: Option<PathBuf>,
    /// Whether `cache_dir` was given by the user: if not (the default folder), a cache that
    /// cannot be written is a warning and the images are decoded to memory instead.
    pub cache_dir_explicit: bool,
}

/// One selected image: which identity it belongs to and where it is.
struct Record {
    rel: String,
    path: PathBuf,
    stat: Option<[u64; 2]>,
}

pub(crate) fn load_images(
    catalog: Catalog,
    request: &ImageRequest,
    seed: u64,
) -> Result<LoadedData, DataError> {
    let mut warnings = catalog.warnings.clone();
    let identities = &catalog.identities;

    // Which listed files exist (size and mtime also key the cache).
    let all_paths: Vec<PathBuf> = identities
        .iter()
        .flat_map(|id| id.files.iter().map(|f| catalog.base.join(f)))
        .collect();
    let all_stats = parallel_stat(&all_paths);
    let mut stats_of = Vec::with_capacity(identities.len());
    let mut at = 0;
    for identity in identities {
        stats_of.push(&all_stats[at..at + identity.files.len()]);
        at += identity.files.len();
    }
    // With `skip`, a missing file does not count towards an identity's size.
    let counts: Vec<usize> = stats_of
        .iter()
        .map(|stats| match request.on_bad_image {
            OnBadImage::Skip => stats.iter().filter(|s| s.is_some()).count(),
            OnBadImage::Error => stats.len(),
        })
        .collect();
    let eligible: Vec<bool> = counts.iter().map(|&n| n >= request.min_images).collect();

    let index_of: HashMap<&str, usize> = identities
        .iter()
        .enumerate()
        .map(|(i, id)| (id.name.as_str(), i))
        .collect();
    // Catalog positions of identity names; every unknown name is reported at once.
    let indices_of = |names: &[String]| -> Result<Vec<usize>, DataError> {
        let unknown: Vec<&String> = names
            .iter()
            .filter(|n| !index_of.contains_key(n.as_str()))
            .collect();
        if !unknown.is_empty() {
            return Err(unknown_ids(&catalog, request, &unknown));
        }
        Ok(names.iter().map(|n| index_of[n.as_str()]).collect())
    };
    let requested: Vec<usize> = match &request.selection {
        Selection::Ids(names) => {
            let mut ids = indices_of(names)?;
            ids.sort_unstable();
            ids.dedup();
            ids
        }
        _ => Vec::new(),
    };

    // Held-out identities, and those barred from training (held out or, with the partition,
    // in the test partition but too small to be held out).
    let mode = match request.held_out {
        HeldOut::Auto if catalog.has_partition => HeldOut::Partition,
        HeldOut::Auto => HeldOut::Fraction,
        other => other,
    };
    if mode == HeldOut::Partition
        && request.held_out_ids.is_none()
        && let Some(warning) = &catalog.partition_warning
    {
        warnings.push(warning.clone());
    }
    let n = identities.len();
    let (held, barred): (Vec<bool>, Vec<bool>) = match (&request.held_out_ids, mode) {
        (Some(names), _) => {
            let mut listed = vec![false; n];
            for i in indices_of(names)? {
                listed[i] = true;
            }
            refuse_held_out_ids(&requested, &listed, identities, || {
                "listed as held out".to_owned()
            })?;
            let held = (0..n).map(|i| listed[i] && eligible[i]).collect();
            (held, listed)
        }
        (None, mode) => match mode {
            HeldOut::Partition => {
                if !catalog.has_partition {
                    return Err(DataError::Missing {
                        what: "partition file",
                        path: catalog.source.with_file_name(PARTITION_FILE),
                        expected:
                            "CelebA's `<image file> <0|1|2>` lines (held_out = \"partition\")"
                                .to_owned(),
                    });
                }
                let test: Vec<bool> = identities.iter().map(|i| i.in_test_partition).collect();
                refuse_held_out_ids(&requested, &test, identities, || {
                    format!("in the test partition (2) of {PARTITION_FILE}")
                })?;
                let held = (0..n).map(|i| test[i] && eligible[i]).collect();
                (held, test)
            }
            HeldOut::Fraction => {
                let is_requested: HashSet<usize> = requested.iter().copied().collect();
                let mut pool: Vec<usize> = (0..n)
                    .filter(|&i| eligible[i] && !is_requested.contains(&i))
                    .collect();
                pool.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ HELD_OUT_SALT));
                // pool.len() is far below 2^52, so the f64 round trip is exact.
                let count = (request.held_out_fraction * pool.len() as f64).round() as usize;
                let mut held = vec![false; n];
                for &i in &pool[..count.min(pool.len())] {
                    held[i] = true;
                }
                (held.clone(), held)
            }
            HeldOut::None | HeldOut::Auto => (vec![false; n], vec![false; n]),
        },
    };

    // The training identities, in class order.
    let pool: Vec<usize> = (0..n).filter(|&i| eligible[i] && !barred[i]).collect();
    let selected: Vec<usize> = match &request.selection {
        Selection::Ids(_) => {
            let small: Vec<String> = requested
                .iter()
                .filter(|&&i| !eligible[i])
                .map(|&i| format!("{} ({} images)", identities[i].name, counts[i]))
                .collect();
            if !small.is_empty() {
                return Err(DataError::config(
                    "ids",
                    format!(
                        "lists identities with fewer than min_images_per_identity = {} images: {}",
                        request.min_images,
                        small.join(", ")
                    ),
                ));
            }
            requested
        }
        Selection::TopK(k) => {
            if *k > pool.len() {
                let held_count = held.iter().filter(|&&h| h).count();
                let small = eligible.iter().filter(|&&e| !e).count();
                let mut reasons = Vec::new();
                if held_count > 0 {
                    reasons.push(format!("{held_count} held out"));
                }
                if small > 0 {
                    reasons.push(format!(
                        "{small} with fewer than min_images_per_identity = {} images",
                        request.min_images
                    ));
                }
                let detail = if reasons.is_empty() {
                    String::new()
                } else {
                    format!(" (of {n}: {})", reasons.join(", "))
                };
                return Err(DataError::TopKTooLarge {
                    requested: *k,
                    available: pool.len(),
                    path: catalog.source.clone(),
                    detail,
                });
            }
            let mut ranked = pool.clone();
            // Most images first; among equals the one first in class order (the smaller id),
            // so the choice is reproducible. The sort is stable.
            ranked.sort_by(|&a, &b| counts[b].cmp(&counts[a]));
            ranked.truncate(*k);
            ranked.sort_unstable();
            ranked
        }
        Selection::All => pool,
    };
    if selected.is_empty() {
        return Err(DataError::NothingSelected {
            path: catalog.source.clone(),
            why: format!(
                "of {n} identities, {} are held out and {} have fewer than \
                 min_images_per_identity = {} images",
                held.iter().filter(|&&h| h).count(),
                eligible.iter().filter(|&&e| !e).count(),
                request.min_images
            ),
        });
    }
    let held_ids: Vec<usize> = (0..n).filter(|&i| held[i]).collect();

    // The records to decode: training identities first, then the held-out ones.
    let mut records = Vec::new();
    let mut ranges = HashMap::new();
    for &i in selected.iter().chain(&held_ids) {
        let first = records.len();
        for (file, stat) in identities[i].files.iter().zip(stats_of[i]) {
            records.push(Record {
                rel: file.clone(),
                path: catalog.base.join(file),
                stat: *stat,
            });
        }
        ranges.insert(i, first..records.len());
    }
    // Fail fast on missing files: no need to decode anything to know the run cannot start.
    if request.on_bad_image == OnBadImage::Error {
        let missing: Vec<(PathBuf, String)> = records
            .iter()
            .filter(|r| r.stat.is_none())
            .map(|r| (r.path.clone(), "file not found".to_owned()))
            .collect();
        if !missing.is_empty() {
            return Err(bad_images(&missing, records.len()));
        }
    }

    let channels = if request.grayscale { 1 } else { 3 };
    let shape = [channels, request.image_size, request.image_size];
    let paths: Vec<PathBuf> = records.iter().map(|r| r.path.clone()).collect();
    let cached = match &request.cache_dir {
        Some(dir) => {
            let base = std::fs::canonicalize(&catalog.base).unwrap_or(catalog.base.clone());
            let result = open_or_build(
                CacheRequest {
                    dir,
                    kind: request.kind,
                    base: &base,
                    files: records.iter().map(|r| (r.rel.clone(), r.stat)).collect(),
                    paths: &paths,
                    shape,
                },
                &mut warnings,
            );
            match result {
                Ok(cached) => Some(cached),
                Err(e) if !request.cache_dir_explicit => {
                    warnings.push(format!(
                        "no image cache ({}); decoding to memory instead (set data.cache_dir \
                         to a writable folder, or data.cache = false)",
                        with_causes(&e)
                    ));
                    None
                }
                Err(e) => return Err(e),
            }
        }
        None => None,
    };
    let (backing, failures, cache) = match cached {
        Some(cached) => (cached.backing, cached.failures, Some(cached.info)),
        None => {
            let mut data = vec![0u8; records.len() * shape.iter().product::<usize>()];
            let progress = (records.len() >= PROGRESS_FROM).then_some("decode");
            let failures = decode_records(&paths, shape, &mut data, progress);
            (Backing::Heap(data), failures, None)
        }
    };

    let bad: Vec<(PathBuf, String)> = failures
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.clone().map(|reason| (records[i].path.clone(), reason)))
        .collect();
    if !bad.is_empty() && request.on_bad_image == OnBadImage::Error {
        return Err(bad_images(&bad, records.len()));
    }
    let skipped: Vec<SkippedImage> = bad
        .into_iter()
        .map(|(path, reason)| SkippedImage { path, reason })
        .collect();
    if !skipped.is_empty() {
        warnings.push(format!(
            "skipped {} of {} selected images that are missing or cannot be decoded \
             (on_bad_image = \"skip\"), first: {}",
            skipped.len(),
            records.len(),
            skipped
                .iter()
                .take(BAD_SHOWN)
                .map(|s| s.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }

    // Stores of the usable records: one for the classes, one for the held-out identities.
    let backing = Arc::new(backing);
    let usable = |wanted: &[usize], what: &str, warnings: &mut Vec<String>| {
        let mut slots = Vec::new();
        let mut labels = Vec::new();
        let mut names = Vec::new();
        let mut classes = Vec::new();
        let mut members = Vec::new();
        let mut emptied = Vec::new();
        for &i in wanted {
            let good: Vec<usize> = ranges[&i]
                .clone()
                .filter(|&r| failures[r].is_none())
                .collect();
            if good.is_empty() {
                emptied.push(identities[i].name.clone());
                continue;
            }
            let class = classes.len() as u32;
            classes.push(identities[i].name.clone());
            let mut indices = Vec::with_capacity(good.len());
            for r in good {
                indices.push(slots.len());
                slots.push(r);
                labels.push(class);
                names.push(records[r].rel.clone());
            }
            members.push((identities[i].stream, indices));
        }
        if !emptied.is_empty() {
            warnings.push(format!(
                "{} {what} identities have no usable image left and are left out: {}",
                emptied.len(),
                emptied.join(", ")
            ));
        }
        let store = ImageStore::from_records(shape, Arc::clone(&backing), slots, labels, names);
        (Arc::new(store), classes, members)
    };
    let (store, classes, members) = usable(&selected, "training", &mut warnings);
    if classes.is_empty() {
        return Err(DataError::NothingSelected {
            path: catalog.source.clone(),
            why: "every image of the selected identities was skipped".to_owned(),
        });
    }
    let (held_store, held_out_classes, _) = usable(&held_ids, "held-out", &mut warnings);

    let (train, val) = split_per_class(&members, request.val_fraction, seed);
    let held_len = held_store.len();
    Ok(LoadedData {
        train: SplitDataset::new(Arc::clone(&store), train)?,
        val: SplitDataset::new(store, val)?,
        classes,
        shape,
        held_out: SplitDataset::new(held_store, (0..held_len).collect())?,
        held_out_classes,
        skipped,
        warnings,
        cache,
        sources: Sources {
            image_dir: Some(catalog.base.clone()),
            lists: catalog.list_files.clone(),
        },
    })
}

/// Refuses a selection that asks for identities `held` marks as held out; `why` says how they
/// are held out.
fn refuse_held_out_ids(
    requested: &[usize],
    held: &[bool],
    identities: &[Identity],
    why: impl FnOnce() -> String,
) -> Result<(), DataError> {
    let names: Vec<String> = requested
        .iter()
        .filter(|&&i| held[i])
        .map(|&i| identities[i].name.clone())
        .collect();
    if names.is_empty() {
        Ok(())
    } else {
        Err(DataError::IdsHeldOut { names, why: why() })
    }
}

fn unknown_ids(catalog: &Catalog, request: &ImageRequest, unknown: &[&String]) -> DataError {
    if request.numeric_ids {
        DataError::UnknownIds {
            ids: unknown.iter().filter_map(|n| n.parse().ok()).collect(),
            path: catalog.source.clone(),
        }
    } else {
        DataError::UnknownClasses {
            names: unknown.iter().map(|n| (*n).clone()).collect(),
            root: catalog.source.clone(),
        }
    }
}

fn bad_images(bad: &[(PathBuf, String)], total: usize) -> DataError {
    DataError::BadImages {
        count: bad.len(),
        total,
        first: bad
            .iter()
            .take(BAD_SHOWN)
            .map(|(path, reason)| format!("{}: {reason}", path.display()))
            .collect(),
    }
}

/// `stat` of every path, on all cores (a full CelebA lists 202,599 files).
fn parallel_stat(paths: &[PathBuf]) -> Vec<Option<[u64; 2]>> {
    if paths.len() < 1024 {
        return paths.iter().map(|p| stat(p)).collect();
    }
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let per = paths.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(per)
            .map(|chunk| scope.spawn(move || chunk.iter().map(|p| stat(p)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::folder_catalog;

    fn request(cache_dir: PathBuf, explicit: bool) -> ImageRequest {
        ImageRequest {
            kind: "folder",
            selection: Selection::All,
            numeric_ids: false,
            min_images: 1,
            image_size: 8,
            grayscale: false,
            val_fraction: 0.0,
            held_out: HeldOut::None,
            held_out_fraction: 0.0,
            held_out_ids: None,
            on_bad_image: OnBadImage::Error,
            cache_dir: Some(cache_dir),
            cache_dir_explicit: explicit,
        }
    }

    #[test]
    fn an_unwritable_default_cache_folder_falls_back_to_memory_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("set");
        std::fs::create_dir_all(root.join("a")).unwrap();
        image::RgbImage::from_pixel(8, 8, image::Rgb([5, 6, 7]))
            .save(root.join("a/x.png"))
            .unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "x").unwrap();
        let blocked = blocker.join("cache");

        let data = load_images(
            folder_catalog(&root).unwrap(),
            &request(blocked.clone(), false),
            0,
        )
        .unwrap();
        assert!(data.cache.is_none());
        assert!(!data.train.store().is_memory_mapped());
        assert_eq!(data.train.item(0).pixels()[..64], [5; 64]);
        assert!(
            data.warnings.iter().any(|w| w.contains("no image cache")),
            "{:?}",
            data.warnings
        );

        let err = load_images(folder_catalog(&root).unwrap(), &request(blocked, true), 0);
        assert!(err.is_err());
    }
}
