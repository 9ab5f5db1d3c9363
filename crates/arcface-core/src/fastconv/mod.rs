//! Own conv2d and batch norm + ReLU for `f32` on burn's flex backend, forward and backward.
//!
//! Burn's flex conv2d was the largest cost of a VGG8 training step on the CPU (its im2col and
//! gemm plus the transposes around them, and conv_transpose2d for the input gradient). Here a
//! conv is im2col + one gemm per image straight into NCHW order, its backward computes the
//! input, weight and bias gradients in one pass over the output gradient, and batch norm with
//! batch statistics is fused with the ReLU that follows it (one autodiff step instead of a
//! dozen tensor operations and transposes).
//!
//! Batch norm + ReLU with the running statistics (validation, snapshots: plain flex tensors)
//! is one pass too, and the VGG blocks' 2x2 max-pool has its own kernel (burn's goes through a
//! general 3-D pool with i64 indices).
//!
//! Everything else (other backends, other dtypes, dilation, groups, `Same` padding, other
//! pools, batch norm in eval mode under autodiff) goes through burn's own modules, and the
//! modules' parameters stay burn's [`Conv2d`] and [`BatchNorm`], so records are unchanged.
//! `ARCFACE_FASTCONV=0`, `ARCFACE_FASTBN=0` and `ARCFACE_FASTPOOL=0` switch the three kernels
//! off at run time (read once per process). The first conv also raises glibc malloc's mmap and
//! trim thresholds (`alloc`; `ARCFACE_MALLOC_TUNE=0` to skip), and `ARCFACE_DX_AS_CONV=1`
//! computes stride-1 input gradients as a convolution (off by default; see `kernels`).
//!
//! 3x3 convs with stride 1 and padding 1 (all of VGG8's) are direct convolutions in AVX2 + FMA
//! where the CPU has them (`direct`; `ARCFACE_DIRECTCONV=0` for im2col + gemm instead).

#[cfg(feature = "fastconv")]
mod alloc;
#[cfg(feature = "fastconv")]
mod cpu;
#[cfg(feature = "fastconv")]
mod direct;
#[cfg(feature = "fastconv")]
mod flex;
#[cfg(feature = "fastconv")]
mod kernels;
#[cfg(feature = "fastconv")]
mod lanes;
#[cfg(feature = "fastconv")]
mod matmul;
#[cfg(feature = "fastconv")]
mod pool_rows;
#[cfg(feature = "fastconv")]
mod pool_thread;

#[cfg(feature = "fastconv")]
pub use pool_thread::join_cpu_pool;

/// Without the kernels there is no pool to join.
#[cfg(not(feature = "fastconv"))]
pub fn join_cpu_pool() -> bool {
    false
}

#[cfg(all(test, feature = "fastconv"))]
mod bench;
#[cfg(all(test, feature = "fastconv"))]
mod tests;

use std::cell::Cell;
use std::sync::OnceLock;

use burn::nn::{BatchNorm, Relu, conv::Conv2d, pool::MaxPool2d};
use burn::prelude::*;

/// The kernels, each with its own switch.
#[cfg_attr(not(feature = "fastconv"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// [`conv2d`]; `ARCFACE_FASTCONV`.
    Conv,
    /// [`batch_norm_relu`]; `ARCFACE_FASTBN`.
    BatchNorm,
    /// [`max_pool2d`]; `ARCFACE_FASTPOOL`.
    Pool,
}

thread_local! {
    /// Per-thread override of the environment, so that tests and benchmarks can compare both
    /// paths in one process without racing other tests (`set_var` is process-wide).
    static FORCED: Cell<Option<bool>> = const { Cell::new(None) };
}

#[cfg_attr(not(feature = "fastconv"), allow(dead_code))]
impl Kernel {
    fn env_name(self) -> &'static str {
        match self {
            Kernel::Conv => "ARCFACE_FASTCONV",
            Kernel::BatchNorm => "ARCFACE_FASTBN",
            Kernel::Pool => "ARCFACE_FASTPOOL",
        }
    }

    /// Whether this kernel is compiled in and switched on for the calling thread.
    pub(crate) fn enabled(self) -> bool {
        static ENV: [OnceLock<bool>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        if !cfg!(feature = "fastconv") {
            return false;
        }
        FORCED.get().unwrap_or_else(|| {
            *ENV[self as usize].get_or_init(|| {
                !matches!(
                    std::env::var(self.env_name()).as_deref().map(str::trim),
                    Ok("0" | "false" | "off" | "no")
                )
            })
        })
    }
}

/// Runs `f` with all kernels forced on or off on this thread, whatever the environment says.
#[cfg(test)]
pub(crate) fn with_kernels<R>(on: bool, f: impl FnOnce() -> R) -> R {
    let before = FORCED.replace(Some(on));
    let out = f();
    FORCED.set(before);
    out
}

/// `conv.forward(x)`, through the own kernel where it applies.
///
/// # Shapes
/// - x: `[batch, channels_in, height, width]`
/// - output: `[batch, channels_out, height_out, width_out]`
pub(crate) fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    match fast_conv2d(conv, &x) {
        Some(y) => y,
        None => conv.forward(x),
    }
}

/// `relu.forward(bn.forward(x))`, through the fused kernel where it applies (on flex: training
/// on an autodiff device, where it updates the running statistics exactly as burn's batch norm
/// does, or the running statistics on a plain device).
///
/// # Shapes
/// - x: `[batch, channels, height, width]`
/// - output: same as x
pub(crate) fn batch_norm_relu(bn: &BatchNorm, relu: &Relu, x: Tensor<4>) -> Tensor<4> {
    match fast_batch_norm_relu(bn, &x) {
        Some(y) => y,
        None => relu.forward(bn.forward(x)),
    }
}

#[cfg(feature = "fastconv")]
fn fast_conv2d(conv: &Conv2d, x: &Tensor<4>) -> Option<Tensor<4>> {
    use burn::nn::PaddingConfig2d;

    if !Kernel::Conv.enabled() || conv.dilation != [1, 1] || conv.groups != 1 {
        return None;
    }
    let padding = match conv.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        // `Same` depends on the input size; burn's own path computes it.
        _ => return None,
    };
    let weight = conv.weight.val();
    let bias = conv.bias.as_ref().map(|b| b.val());
    flex::conv2d(x, &weight, bias.as_ref(), conv.stride, padding)
}

/// `pool.forward(x)`, through the own kernel for a 2x2 pool with stride 2 on flex.
///
/// # Shapes
/// - x: `[batch, channels, height, width]`
/// - output: `[batch, channels, height / 2, width / 2]` (rounded down)
pub(crate) fn max_pool2d(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    match fast_max_pool2d(pool, &x) {
        Some(y) => y,
        None => pool.forward(x),
    }
}

#[cfg(feature = "fastconv")]
fn fast_max_pool2d(pool: &MaxPool2d, x: &Tensor<4>) -> Option<Tensor<4>> {
    use burn::nn::PaddingConfig2d;

    let unpadded = matches!(
        pool.padding,
        PaddingConfig2d::Valid | PaddingConfig2d::Explicit(0, 0, 0, 0)
    );
    if !Kernel::Pool.enabled()
        || pool.kernel_size != [2, 2]
        || pool.stride != [2, 2]
        || pool.dilation != [1, 1]
        || pool.ceil_mode
        || !unpadded
    {
        return None;
    }
    flex::max_pool2x2(x)
}

#[cfg(not(feature = "fastconv"))]
fn fast_max_pool2d(_: &MaxPool2d, _: &Tensor<4>) -> Option<Tensor<4>> {
    None
}

#[cfg(not(feature = "fastconv"))]
fn fast_conv2d(_: &Conv2d, _: &Tensor<4>) -> Option<Tensor<4>> {
    None
}

#[cfg(feature = "fastconv")]
fn fast_batch_norm_relu(bn: &BatchNorm, x: &Tensor<4>) -> Option<Tensor<4>> {
    use burn::tensor::TensorData;

    // The same condition as `BatchNorm::forward` for using the batch's statistics.
    let device = x.device();
    if !Kernel::BatchNorm.enabled() {
        return None;
    }
    if !device.is_autodiff() || !bn.training.is_enabled() {
        // Burn's batch norm uses the running statistics here.
        let mean = bn.running_mean.value().to_device(&device);
        let var = bn.running_var.value().to_device(&device);
        return flex::batch_norm_relu_inference(
            x,
            [&bn.gamma.val(), &bn.beta.val(), &mean, &var],
            bn.epsilon,
        );
    }
    let (y, mean, var) =
        flex::batch_norm_relu_train(x, &bn.gamma.val(), &bn.beta.val(), bn.epsilon)?;
    let channels = mean.len();
    let update = |state: &burn::module::RunningState<Tensor<1>>, batch: Vec<f32>| {
        let batch = Tensor::<1>::from_data(TensorData::new(batch, [channels]), &device);
        let running = state
            .value_sync()
            .to_device(&device)
            .mul_scalar(1.0 - bn.momentum)
            .add(batch.mul_scalar(bn.momentum));
        state.update(running.detach());
    };
    update(&bn.running_mean, mean);
    update(&bn.running_var, var);
    Some(y)
}

#[cfg(not(feature = "fastconv"))]
fn fast_batch_norm_relu(_: &BatchNorm, _: &Tensor<4>) -> Option<Tensor<4>> {
    None
}
