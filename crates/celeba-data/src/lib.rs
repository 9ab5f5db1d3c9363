//! Data sets for arcface-lab: aligned CelebA faces, MNIST digits and a built-in synthetic
//! face set, all decoded once into a shared `u8` [`ImageStore`], split into train and val
//! [`SplitDataset`]s, and turned into normalised Burn tensors by [`ImageBatcher`].
//!
//! Entry point: [`load`] with the `[data]` table of a run config ([`DataConfig`]).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))] // a failed unwrap is a failed test

mod batcher;
mod celeba;
mod config;
mod decode;
mod error;
mod load;
mod mnist;
mod split;
mod store;
mod synth;

pub use batcher::{ImageBatch, ImageBatcher, PIXEL_MEAN, PIXEL_STD, normalize_pixel};
pub use config::{CelebaConfig, DataConfig, MnistConfig, SyntheticConfig, describe};
pub use error::DataError;
pub use load::{LoadedData, load};
pub use split::{ImageItem, SplitDataset};
pub use store::ImageStore;
pub use synth::{SynthSpec, generate_synthetic};
