use std::sync::Arc;

use burn::data::dataset::{Dataset, DatasetError};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::DataError;
use crate::store::ImageStore;

/// One image of a split: a handle into the shared store, so producing it copies no pixels.
#[derive(Clone, Debug)]
pub struct ImageItem {
    pub store: Arc<ImageStore>,
    /// Index into `store`, not into the split.
    pub index: usize,
    pub label: u32,
}

impl ImageItem {
    pub fn pixels(&self) -> &[u8] {
        self.store.pixels(self.index)
    }
}

/// The train or the val part of a data set: indices into a store shared with the other part.
#[derive(Clone, Debug)]
pub struct SplitDataset {
    store: Arc<ImageStore>,
    indices: Vec<usize>,
}

impl SplitDataset {
    /// A split made of the given store indices, in that order.
    pub fn new(store: Arc<ImageStore>, indices: Vec<usize>) -> Result<Self, DataError> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= store.len()) {
            return Err(DataError::config(
                "split",
                format!(
                    "index {bad} is out of range for a store of {} images",
                    store.len()
                ),
            ));
        }
        Ok(Self { store, indices })
    }

    /// Class index of every item, in dataset order (as `i64`, the dtype of Burn's Int tensors).
    pub fn labels(&self) -> Vec<i64> {
        self.indices
            .iter()
            .map(|&i| i64::from(self.store.label(i)))
            .collect()
    }

    /// File name of every item, in dataset order.
    pub fn names(&self) -> Vec<String> {
        self.indices
            .iter()
            .map(|&i| self.store.name(i).to_owned())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// `[channels, height, width]` of every item.
    pub fn shape(&self) -> [usize; 3] {
        self.store.shape()
    }

    pub fn store(&self) -> &Arc<ImageStore> {
        &self.store
    }

    /// Store index of every item, in dataset order.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// The item at `index` without going through `Dataset` (panics past the end).
    pub fn item(&self, index: usize) -> ImageItem {
        let store_index = self.indices[index];
        ImageItem {
            store: Arc::clone(&self.store),
            index: store_index,
            label: self.store.label(store_index),
        }
    }
}

impl Dataset<ImageItem> for SplitDataset {
    /// Panics if `index >= len()`, as Burn's `Dataset` contract asks; everything is in memory,
    /// so an in-range index never fails.
    fn get(&self, index: usize) -> Result<ImageItem, DatasetError> {
        Ok(self.item(index))
    }

    fn len(&self) -> usize {
        self.indices.len()
    }
}

/// How many of a class's `n` images go to val.
///
/// `round(val_fraction * n)`, but with at least one image on each side when `n >= 2` and a
/// val split is asked for; a class with a single image goes wholly to train, since a val
/// image of a class never trained on would only measure chance.
pub(crate) fn val_count(n: usize, val_fraction: f64) -> usize {
    if val_fraction <= 0.0 || n < 2 {
        return 0;
    }
    // n is far below 2^52, so the f64 round trip is exact.
    let wanted = (val_fraction * n as f64).round() as usize;
    wanted.clamp(1, n - 1)
}

/// Splits each class separately so that every class keeps the same train/val proportion.
///
/// `classes` holds, per class, its shuffle stream (the identity id for CelebA) and the store
/// indices of its images. Each class is shuffled by its own ChaCha8 stream (seed `seed`), so
/// the split of an identity does not change when other identities are added to or removed
/// from the selection.
/// Returns (train, val) store indices, each ascending.
pub(crate) fn split_per_class(
    classes: &[(u64, Vec<usize>)],
    val_fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let mut train = Vec::new();
    let mut val = Vec::new();
    for (id, members) in classes {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(*id);
        let mut shuffled = members.clone();
        shuffled.shuffle(&mut rng);
        let n_val = val_count(shuffled.len(), val_fraction);
        val.extend_from_slice(&shuffled[..n_val]);
        train.extend_from_slice(&shuffled[n_val..]);
    }
    train.sort_unstable();
    val.sort_unstable();
    (train, val)
}

/// Splits `0..n` as a whole: shuffled by ChaCha8(`seed`), the first `round(n * val_fraction)`
/// go to val (but never all of them). Returns (train, val), each ascending.
pub(crate) fn split_all(n: usize, val_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    // Train always keeps at least one item: an empty training split cannot train anything.
    let n_val = ((val_fraction * n as f64).round() as usize).min(n.saturating_sub(1));
    let mut val = order[..n_val].to_vec();
    let mut train = order[n_val..].to_vec();
    train.sort_unstable();
    val.sort_unstable();
    (train, val)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn val_count_rounds_and_keeps_both_sides() {
        assert_eq!(val_count(10, 0.2), 2);
        assert_eq!(val_count(7, 0.2), 1); // 1.4 rounds down
        assert_eq!(val_count(8, 0.2), 2); // 1.6 rounds up
        assert_eq!(val_count(2, 0.2), 1); // 0.4 would be 0: at least one in val
        assert_eq!(val_count(2, 0.9), 1); // 1.8 would be 2: at least one in train
        assert_eq!(val_count(1, 0.5), 0);
        assert_eq!(val_count(10, 0.0), 0);
    }

    #[test]
    fn per_class_split_does_not_depend_on_other_classes() {
        let a = (5, (0..10).collect::<Vec<_>>());
        let b = (9, (10..30).collect::<Vec<_>>());
        let (train_ab, val_ab) = split_per_class(&[a.clone(), b], 0.3, 11);
        let (train_a, val_a) = split_per_class(&[a], 0.3, 11);
        let only_a = |v: &[usize]| v.iter().copied().filter(|&i| i < 10).collect::<Vec<_>>();
        assert_eq!(only_a(&train_ab), train_a);
        assert_eq!(only_a(&val_ab), val_a);
        assert_eq!(val_ab.len(), 3 + 6);
    }

    #[test]
    fn split_all_is_a_seeded_partition() {
        let (train, val) = split_all(101, 0.2, 3);
        assert_eq!(val.len(), 20);
        let mut all: Vec<_> = train.iter().chain(&val).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..101).collect::<Vec<_>>());
        assert_eq!(split_all(101, 0.2, 3), (train, val.clone()));
        assert_ne!(split_all(101, 0.2, 4).1, val);
        assert_eq!(split_all(1, 0.9, 0), (vec![0], vec![]));
    }
}
