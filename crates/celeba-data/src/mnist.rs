use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::config::{MnistConfig, MnistSplit};
use crate::error::DataError;
use crate::loaded::LoadedData;
use crate::split::split_all;
use crate::store::ImageStore;

const IMAGES_MAGIC: u32 = 2051;
const LABELS_MAGIC: u32 = 2049;
const IMAGES_HEADER: usize = 16;
const LABELS_HEADER: usize = 8;
/// Preferred first: the 60,000-digit training files, then the 10,000-digit test files.
const PREFIXES: [&str; 2] = ["train", "t10k"];

/// Loads MNIST: with the standard split, the training pair for train and the t10k pair for
/// val; with the random split, one pair (train if present, else t10k) split at random.
pub(crate) fn load_mnist(config: &MnistConfig, split_seed: u64) -> Result<LoadedData, DataError> {
    let dir = &config.root;
    if !dir.is_dir() {
        return Err(DataError::Missing {
            what: "MNIST folder",
            path: dir.clone(),
            expected: "a folder holding the IDX files, e.g. t10k-images-idx3-ubyte.gz".to_owned(),
        });
    }
    let pair = |prefix: &str| {
        let images = find_idx(dir, &format!("{prefix}-images-idx3-ubyte"))?;
        let labels = find_idx(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
        Some((images, labels))
    };
    let (train_pair, test_pair) = (pair(PREFIXES[0]), pair(PREFIXES[1]));
    let classes: Vec<String> = (0..10).map(|d: u32| d.to_string()).collect();
    let standard = match config.split {
        MnistSplit::Standard => match (&train_pair, &test_pair) {
            (Some(_), Some(_)) => true,
            _ => {
                return Err(DataError::config(
                    "split",
                    format!(
                        "= \"standard\" needs both the train and the t10k IDX pair in {}",
                        dir.display()
                    ),
                ));
            }
        },
        MnistSplit::Auto => train_pair.is_some() && test_pair.is_some(),
        MnistSplit::Random => false,
    };

    if let (true, Some((train_images, train_labels)), Some((test_images, test_labels))) =
        (standard, &train_pair, &test_pair)
    {
        let (rows, cols, mut pixels, count) = read_images(train_images, config.limit)?;
        let mut labels = read_labels(train_labels, count, config.limit)?;
        let (t_rows, t_cols, t_pixels, t_count) = read_images(test_images, config.limit)?;
        if (t_rows, t_cols) != (rows, cols) {
            return Err(idx_error(
                test_images,
                format!(
                    "images are {t_rows}x{t_cols}, but {} holds {rows}x{cols}",
                    train_images.display()
                ),
            ));
        }
        let t_labels = read_labels(test_labels, t_count, config.limit)?;
        let n_train = labels.len();
        let mut names: Vec<String> = (0..n_train).map(|i| format!("train#{i}")).collect();
        names.extend((0..t_labels.len()).map(|i| format!("t10k#{i}")));
        pixels.extend_from_slice(&t_pixels);
        labels.extend_from_slice(&t_labels);
        let total = labels.len();
        let store = ImageStore::from_parts([1, rows, cols], pixels, labels, names)?;
        return LoadedData::closed(
            store,
            (0..n_train).collect(),
            (n_train..total).collect(),
            classes,
            vec![
                train_images.clone(),
                train_labels.clone(),
                test_images.clone(),
                test_labels.clone(),
            ],
        );
    }

    let (prefix, (images_path, labels_path)) = match (train_pair, test_pair) {
        (Some(p), _) => (PREFIXES[0], p),
        (None, Some(p)) => (PREFIXES[1], p),
        (None, None) => return Err(DataError::NoMnistPair { dir: dir.clone() }),
    };
    let (rows, cols, pixels, count) = read_images(&images_path, config.limit)?;
    let labels = read_labels(&labels_path, count, config.limit)?;
    let kept = labels.len();
    let names = (0..kept).map(|i| format!("{prefix}#{i}")).collect();
    let store = ImageStore::from_parts([1, rows, cols], pixels, labels, names)?;
    let (train, val) = split_all(kept, config.val_fraction, split_seed);
    LoadedData::closed(store, train, val, classes, vec![images_path, labels_path])
}

/// The raw file if present, else its `.gz`.
fn find_idx(dir: &Path, name: &str) -> Option<PathBuf> {
    let raw = dir.join(name);
    if raw.is_file() {
        return Some(raw);
    }
    let gz = dir.join(format!("{name}.gz"));
    gz.is_file().then_some(gz)
}

fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io("read", path, e))?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| DataError::io("decompress (gzip)", path, e))?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn idx_error(path: &Path, problem: String) -> DataError {
    DataError::Idx {
        path: path.to_owned(),
        problem,
    }
}

/// Returns (rows, cols, pixels of the first `limit` images, count in the file).
fn read_images(
    path: &Path,
    limit: Option<usize>,
) -> Result<(usize, usize, Vec<u8>, usize), DataError> {
    let mut bytes = read_maybe_gz(path)?;
    if bytes.len() < IMAGES_HEADER {
        return Err(idx_error(
            path,
            format!(
                "{} bytes is shorter than the 16-byte IDX image header",
                bytes.len()
            ),
        ));
    }
    let magic = be_u32(&bytes, 0);
    if magic != IMAGES_MAGIC {
        return Err(idx_error(
            path,
            format!("magic number {magic}, expected {IMAGES_MAGIC} (IDX unsigned-byte images)"),
        ));
    }
    let [count, rows, cols] = [4, 8, 12].map(|at| be_u32(&bytes, at) as usize);
    let expected = count
        .checked_mul(rows)
        .and_then(|v| v.checked_mul(cols))
        .and_then(|v| v.checked_add(IMAGES_HEADER));
    if expected != Some(bytes.len()) || rows == 0 || cols == 0 {
        return Err(idx_error(
            path,
            format!(
                "header says {count} images of {rows}x{cols}, so {} bytes, but the data has {} bytes",
                expected.map_or_else(|| "too many".to_owned(), |v| v.to_string()),
                bytes.len()
            ),
        ));
    }
    if count == 0 {
        return Err(idx_error(
            path,
            "header says 0 images (expected at least one)".to_owned(),
        ));
    }
    let kept = limit.map_or(count, |l| l.min(count));
    // Strip the header and the unused tail in place rather than copying the pixels out.
    bytes.truncate(IMAGES_HEADER + kept * rows * cols);
    bytes.drain(..IMAGES_HEADER);
    bytes.shrink_to_fit();
    Ok((rows, cols, bytes, count))
}

fn read_labels(
    path: &Path,
    image_count: usize,
    limit: Option<usize>,
) -> Result<Vec<u32>, DataError> {
    let bytes = read_maybe_gz(path)?;
    if bytes.len() < LABELS_HEADER {
        return Err(idx_error(
            path,
            format!(
                "{} bytes is shorter than the 8-byte IDX label header",
                bytes.len()
            ),
        ));
    }
    let magic = be_u32(&bytes, 0);
    if magic != LABELS_MAGIC {
        return Err(idx_error(
            path,
            format!("magic number {magic}, expected {LABELS_MAGIC} (IDX unsigned-byte labels)"),
        ));
    }
    let count = be_u32(&bytes, 4) as usize;
    if count != image_count {
        return Err(idx_error(
            path,
            format!("header says {count} labels, but the image file holds {image_count} images"),
        ));
    }
    if bytes.len() != LABELS_HEADER + count {
        return Err(idx_error(
            path,
            format!(
                "header says {count} labels, so {} bytes, but the data has {} bytes",
                LABELS_HEADER + count,
                bytes.len()
            ),
        ));
    }
    let kept = limit.map_or(count, |l| l.min(count));
    let labels = &bytes[LABELS_HEADER..LABELS_HEADER + kept];
    if let Some(pos) = labels.iter().position(|&d| d > 9) {
        return Err(idx_error(
            path,
            format!("label #{pos} is {}, expected a digit 0-9", labels[pos]),
        ));
    }
    Ok(labels.iter().map(|&d| u32::from(d)).collect())
}
