//! arcface-lab's own CPU kernels for `f32` in NCHW order, on plain slices: conv2d (im2col +
//! gemm, direct 3x3 convolutions in AVX2 / AVX-512, and Winograd's F(2x2, 3x3) for their
//! forward and input gradient), batch norm fused with ReLU (and, in eval mode, folded into the
//! conv before it) and the 2x2 max-pool, forward and backward, parallel over rayon's threads.
//!
//! All of arcface-lab's `unsafe` code is here (SIMD intrinsics, the raw-pointer gemm call,
//! filling uninitialised vectors, `mallopt`), each use with its SAFETY note, so that the model
//! crate can forbid it; `arcface-core` hooks these kernels into burn's flex backend. Which of
//! them run is a [`KernelOptions`]; [`tune_malloc`] and [`join_cpu_pool`] tune the process and
//! are the calling program's to use (the kernels never call them).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))] // a failed unwrap is a failed test

mod batch_norm;
mod conv;
mod cpu;
mod dropout;
mod lanes;
mod malloc;
mod matmul;
mod max_pool;
mod max_pool_simd;
mod options;
mod par_vec;
mod thread_pool;

pub use batch_norm::{
    BnGeom, BnGrads, BnStats, bn_relu_backward, bn_relu_forward, bn_relu_inference, bn_relu_train,
};
pub use conv::{
    BnInference, ConvGeom, ConvGrads, conv_backward, conv_bn_relu_inference, conv_forward,
};
pub use dropout::dropout_mask;
pub use malloc::tune_malloc;
pub use max_pool::{PoolGeom, max_pool2x2_backward, max_pool2x2_forward};
pub use options::KernelOptions;
pub use thread_pool::{join_cpu_pool, keep_pool_warm};
