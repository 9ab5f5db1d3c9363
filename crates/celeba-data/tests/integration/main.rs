//! Behaviour of the public API against fixtures the tests build themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing unwrap is a failing test

mod augment;
mod batcher;
mod cache;
mod celeba;
mod config;
mod fixtures;
mod listed;
mod mnist;
mod props;
mod robust;
mod selection;
mod synthetic;
