//! The training batch order: a permutation of the training split drawn from (seed, epoch)
//! alone. burn's loader shuffles from one stream that advances with every epoch, so epoch `k`
//! could only be reached by replaying the `k - 1` before; with the order a function of the
//! epoch, a resumed run draws the batches an uninterrupted one would.

use std::sync::{Arc, RwLock};

use burn::data::dataset::{Dataset, DatasetError};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::augment::mix;
use crate::split::{ImageItem, SplitDataset};

/// The seed of epoch `epoch`'s draws (batch order here, dropout on the device).
pub fn epoch_seed(seed: u64, epoch: usize, salt: u64) -> u64 {
    mix(seed ^ mix((epoch as u64).wrapping_add(salt).wrapping_add(1)))
}

/// The order of the items of epoch `epoch` (1-based).
pub fn permutation(len: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(epoch_seed(seed, epoch, 0x0B47));
    order.shuffle(&mut rng);
    order
}

/// The training split seen through the current epoch's permutation.
#[derive(Clone)]
pub struct EpochOrder {
    split: SplitDataset,
    seed: u64,
    order: Arc<RwLock<Vec<usize>>>,
}

impl EpochOrder {
    pub fn new(split: SplitDataset, seed: u64) -> Self {
        let order = permutation(split.len(), seed, 1);
        Self {
            split,
            seed,
            order: Arc::new(RwLock::new(order)),
        }
    }

    /// A handle that sets the epoch of every clone (the loader holds one).
    pub fn handle(&self) -> EpochOrderHandle {
        EpochOrderHandle {
            len: self.split.len(),
            seed: self.seed,
            order: Arc::clone(&self.order),
        }
    }
}

/// Sets the epoch of an [`EpochOrder`] before its loader's next pass.
#[derive(Clone)]
pub struct EpochOrderHandle {
    len: usize,
    seed: u64,
    order: Arc<RwLock<Vec<usize>>>,
}

impl EpochOrderHandle {
    pub fn set_epoch(&self, epoch: usize) {
        let order = permutation(self.len, self.seed, epoch);
        *self
            .order
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = order;
    }
}

impl Dataset<ImageItem> for EpochOrder {
    fn get(&self, index: usize) -> Result<ImageItem, DatasetError> {
        let at = self
            .order
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(index)
            .copied()
            .unwrap_or(index);
        self.split.get(at)
    }

    fn len(&self) -> usize {
        self.split.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_epoch_is_a_permutation_fixed_by_seed_and_epoch() {
        let a = permutation(50, 7, 3);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_eq!(a, permutation(50, 7, 3), "same seed and epoch, same order");
        assert_ne!(a, permutation(50, 7, 4), "another epoch, another order");
        assert_ne!(a, permutation(50, 8, 3), "another seed, another order");
    }
}
