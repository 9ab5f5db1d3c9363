use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::decode::decode_all;
use crate::error::DataError;
use crate::load::LoadedData;
use crate::split::{SplitDataset, split_per_class};
use crate::store::ImageStore;

pub(crate) const IMAGE_DIR: &str = "img_align_celeba";
pub(crate) const IDENTITY_FILE: &str = "identity_CelebA.txt";
const IDENTITY_LINE: &str = "`<image file> <integer id>`, e.g. `000001.jpg 2880`";
/// How many missing images an error lists before giving only the count.
const MISSING_SHOWN: usize = 5;

/// Which identities become classes.
#[derive(Debug, Clone)]
pub(crate) enum Selection {
    /// The `k` identities with most images, ties to the smaller id.
    TopK(usize),
    Ids(Vec<u32>),
}

/// What to load from a CelebA-layout folder.
#[derive(Debug, Clone)]
pub(crate) struct CelebaRequest<'a> {
    pub root: &'a Path,
    pub selection: Selection,
    pub image_size: usize,
    pub grayscale: bool,
    pub val_fraction: f64,
}

/// Loads the selected identities, one class per identity in ascending id order, each split
/// into train and val on its own (see [`split_per_class`]).
pub(crate) fn load_celeba(
    request: &CelebaRequest<'_>,
    split_seed: u64,
) -> Result<LoadedData, DataError> {
    let root = request.root;
    require_dir(
        root,
        "CelebA root folder",
        format!("a folder holding {IMAGE_DIR}/ and {IDENTITY_FILE}"),
    )?;
    let identity_path = root.join(IDENTITY_FILE);
    if !identity_path.is_file() {
        return Err(DataError::Missing {
            what: "identity file",
            path: identity_path,
            expected: format!("lines {IDENTITY_LINE}"),
        });
    }
    let image_dir = root.join(IMAGE_DIR);
    require_dir(
        &image_dir,
        "image folder",
        "the aligned face images named in the identity file".to_owned(),
    )?;

    let by_id = read_identity_file(&identity_path)?;
    let ids = select_ids(&by_id, &request.selection, &identity_path)?;

    let mut files = Vec::new();
    let mut labels = Vec::new();
    let mut classes = Vec::with_capacity(ids.len());
    for (class, &id) in ids.iter().enumerate() {
        classes.push(id.to_string());
        let class = u32::try_from(class)
            .map_err(|_| DataError::config("ids", "more than u32::MAX classes"))?;
        for name in &by_id[&id] {
            files.push(name.clone());
            labels.push(class);
        }
    }
    check_images_exist(&files, &image_dir, &identity_path)?;

    let paths: Vec<PathBuf> = files.iter().map(|name| image_dir.join(name)).collect();
    let channels = if request.grayscale { 1 } else { 3 };
    let shape = [channels, request.image_size, request.image_size];
    let data = decode_all(&paths, shape)?;
    let store = Arc::new(ImageStore::from_parts(shape, data, labels, files)?);

    let mut members: Vec<(u32, Vec<usize>)> = ids.iter().map(|&id| (id, Vec::new())).collect();
    for i in 0..store.len() {
        members[store.label(i) as usize].1.push(i);
    }
    let (train, val) = split_per_class(&members, request.val_fraction, split_seed);
    Ok(LoadedData {
        train: SplitDataset::new(Arc::clone(&store), train)?,
        val: SplitDataset::new(store, val)?,
        classes,
        shape,
    })
}

fn require_dir(path: &Path, what: &'static str, expected: String) -> Result<(), DataError> {
    if path.is_dir() {
        Ok(())
    } else {
        Err(DataError::Missing {
            what,
            path: path.to_owned(),
            expected,
        })
    }
}

/// Image file names per identity id, each list sorted by name.
fn read_identity_file(path: &Path) -> Result<BTreeMap<u32, Vec<String>>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io("read", path, e))?;
    let mut by_id: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    let mut seen = HashSet::new();
    for (number, line) in text.lines().enumerate() {
        let malformed = |expected| DataError::MalformedLine {
            path: path.to_owned(),
            line: number + 1,
            content: line.to_owned(),
            expected,
        };
        let mut fields = line.split_whitespace();
        let (name, id) = match (fields.next(), fields.next(), fields.next()) {
            (None, _, _) => continue,
            (Some(name), Some(id), None) => (name, id),
            _ => return Err(malformed(IDENTITY_LINE)),
        };
        let id: u32 = id.parse().map_err(|_| malformed(IDENTITY_LINE))?;
        // A path separator would let the list reach outside the image folder.
        if name.contains(['/', '\\']) || name == ".." {
            return Err(malformed("a plain file name inside img_align_celeba/"));
        }
        if !seen.insert(name.to_owned()) {
            return Err(malformed("each image listed once"));
        }
        by_id.entry(id).or_default().push(name.to_owned());
    }
    for names in by_id.values_mut() {
        names.sort_unstable();
    }
    Ok(by_id)
}

/// The selected ids, ascending.
fn select_ids(
    by_id: &BTreeMap<u32, Vec<String>>,
    selection: &Selection,
    identity_path: &Path,
) -> Result<Vec<u32>, DataError> {
    let mut ids = match selection {
        Selection::TopK(k) => {
            if *k > by_id.len() {
                return Err(DataError::TopKTooLarge {
                    requested: *k,
                    available: by_id.len(),
                    path: identity_path.to_owned(),
                });
            }
            let mut ranked: Vec<(usize, u32)> =
                by_id.iter().map(|(&id, names)| (names.len(), id)).collect();
            // Most images first; among equals the smaller id, so the choice is reproducible.
            ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            ranked
                .into_iter()
                .take(*k)
                .map(|(_, id)| id)
                .collect::<Vec<_>>()
        }
        Selection::Ids(ids) => {
            let unknown: Vec<u32> = ids
                .iter()
                .copied()
                .filter(|id| !by_id.contains_key(id))
                .collect();
            if !unknown.is_empty() {
                return Err(DataError::UnknownIds {
                    ids: unknown,
                    path: identity_path.to_owned(),
                });
            }
            ids.clone()
        }
    };
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

fn check_images_exist(
    files: &[String],
    image_dir: &Path,
    identity_path: &Path,
) -> Result<(), DataError> {
    let missing: Vec<&String> = files
        .iter()
        .filter(|name| !image_dir.join(name).is_file())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(DataError::MissingImages {
        list: identity_path.to_owned(),
        dir: image_dir.to_owned(),
        count: missing.len(),
        first: missing.into_iter().take(MISSING_SHOWN).cloned().collect(),
    })
}
