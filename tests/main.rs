//! End-to-end tests of the `arcface-lab` binary: one test binary, shared helpers in `helpers`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod helpers;

mod backbones;
mod bad_input;
mod bench_command;
mod compare_and_guard;
mod data_sets;
mod embed;
mod gpu_backends;
mod held_out;
mod identify;
mod mnist_shared;
mod onnx_export;
mod recipes;
mod render_and_synth;
mod resume;
mod train_contract;
mod verify;
mod viewer;
