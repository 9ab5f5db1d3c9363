//! Data sets for arcface-lab: aligned CelebA faces, any one-folder-per-class image set, MNIST
//! digits and a built-in synthetic face set, all decoded once into a shared `u8`
//! [`ImageStore`] (for CelebA and folder sets through a memory-mapped cache), split into
//! train, val and identity-disjoint held-out [`SplitDataset`]s, and turned into normalised
//! Burn tensors by [`ImageBatcher`].
//!
//! Entry point: [`load`] with the `[data]` table of a run config ([`DataConfig`]).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))] // a failed unwrap is a failed test

mod augment;
mod batcher;
mod cache;
mod catalog;
mod config;
mod decode;
mod epoch_order;
mod error;
mod fields;
mod image_set;
mod images;
mod load;
mod loaded;
mod mnist;
mod split;
mod store;
mod synth;

pub use augment::{AugmentParams, augment_pixels};
pub use batcher::{ImageBatch, ImageBatcher, PIXEL_MEAN, PIXEL_STD, normalize_pixel};
pub use cache::{CacheInfo, default_cache_dir};
pub use config::{DataConfig, MnistConfig, MnistSplit, SyntheticConfig, describe};
pub use decode::decode_image;
pub use epoch_order::{EpochOrder, EpochOrderHandle, epoch_seed, permutation};
pub use error::DataError;
pub use fields::AugmentConfig;
pub use image_set::{CelebaConfig, FolderConfig, HeldOut, ImageSetConfig, OnBadImage};
pub use load::{load, load_listed};
pub use loaded::{LoadedData, SkippedImage, Split, SplitRecord};
pub use split::{ImageItem, SplitDataset};
pub use store::ImageStore;
pub use synth::{SynthSpec, generate_synthetic};
