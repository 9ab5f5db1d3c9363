//! The own CPU kernels (crate `kernels`) in burn's place for `f32` on the flex backend,
//! forward and backward: conv2d, batch norm + ReLU, and the VGG blocks' 2x2 max-pool.
//!
//! Burn's flex conv2d was the largest cost of a VGG8 training step on the CPU (its im2col and
//! gemm plus the transposes around them, and conv_transpose2d for the input gradient). The
//! kernels compute a conv's input, weight and bias gradients in one pass over the output
//! gradient, and batch norm with batch statistics fused with the ReLU that follows it (one
//! autodiff step instead of a dozen tensor operations and transposes). Batch norm + ReLU with
//! the running statistics (validation, snapshots: plain flex tensors) is one pass too, and the
//! 2x2 max-pool has its own kernel (burn's goes through a general 3-D pool with i64 indices).
//!
//! Everything else (other backends, other dtypes, dilation, groups, `Same` padding, other
//! pools, batch norm in eval mode under autodiff) goes through burn's own modules, and the
//! modules' parameters stay burn's [`Conv2d`] and [`BatchNorm`], so records are unchanged.
//! Each entry point takes the [`KernelOptions`] that say which kernels to use: a backbone's
//! own ([`crate::Backbone::with_kernel_options`]), by default those the program set once with
//! [`set_kernel_options`].

#[cfg(feature = "fastconv")]
mod flex;

#[cfg(all(test, feature = "fastconv"))]
mod bench;
#[cfg(all(test, feature = "fastconv"))]
mod tests;

use std::sync::OnceLock;

use burn::nn::{BatchNorm, Dropout, Relu, conv::Conv2d, pool::MaxPool2d};
use burn::prelude::*;
use kernels::KernelOptions;

/// The options of this process's backbones, set at most once.
static PROCESS_OPTIONS: OnceLock<KernelOptions> = OnceLock::new();

/// Sets the [`KernelOptions`] of every backbone built from now on (the binary's choice, made
/// once at start, e.g. from its environment). Returns false, changing nothing, if they were
/// set before. Without a call, backbones use [`KernelOptions::default`].
///
/// Why a process-wide default: a program builds its networks in many places (training,
/// evaluation, export, loading checkpoints), which should all follow one setting; code that
/// needs another (a test comparing the kernels with burn's ops) gives a backbone its own with
/// [`crate::Backbone::with_kernel_options`].
pub fn set_kernel_options(options: KernelOptions) -> bool {
    PROCESS_OPTIONS.set(options).is_ok()
}

/// The options a new backbone starts with.
pub(crate) fn process_kernel_options() -> KernelOptions {
    PROCESS_OPTIONS.get().copied().unwrap_or_default()
}

/// `conv.forward(x)`, through the own kernel where it applies and `options.conv` is on.
///
/// # Shapes
/// - x: `[batch, channels_in, height, width]`
/// - output: `[batch, channels_out, height_out, width_out]`
pub(crate) fn conv2d(conv: &Conv2d, x: Tensor<4>, options: &KernelOptions) -> Tensor<4> {
    match fast_conv2d(conv, &x, options) {
        Some(y) => y,
        None => conv.forward(x),
    }
}

/// `relu.forward(bn.forward(x))`, through the fused kernel where it applies and
/// `options.batch_norm` is on (on flex: training on an autodiff device, where it updates the
/// running statistics exactly as burn's batch norm does, or the running statistics on a plain
/// device).
///
/// # Shapes
/// - x: `[batch, channels, height, width]`
/// - output: same as x
pub(crate) fn batch_norm_relu(
    bn: &BatchNorm,
    relu: &Relu,
    x: Tensor<4>,
    options: &KernelOptions,
) -> Tensor<4> {
    match fast_batch_norm_relu(bn, &x, options) {
        Some(y) => y,
        None => relu.forward(bn.forward(x)),
    }
}

/// `relu.forward(bn.forward(conv.forward(x)))`: outside autodiff on flex (validation,
/// snapshots: batch norm with its running statistics) in one pass, with the batch norm folded
/// into the conv, where `options.conv` and `options.batch_norm` are on; elsewhere as
/// [`conv2d`] then [`batch_norm_relu`].
///
/// # Shapes
/// - x: `[batch, channels_in, height, width]`
/// - output: `[batch, channels_out, height_out, width_out]`
pub(crate) fn conv_bn_relu(
    conv: &Conv2d,
    bn: &BatchNorm,
    relu: &Relu,
    x: Tensor<4>,
    options: &KernelOptions,
) -> Tensor<4> {
    match fast_conv_bn_relu(conv, bn, None, &x, options) {
        Some(y) => y,
        None => batch_norm_relu(bn, relu, conv2d(conv, x, options), options),
    }
}

/// [`conv_bn_relu`] then `pool.forward`: outside autodiff on flex one pass that writes only
/// the pooled values, where `pool` is the VGG blocks' 2x2 max-pool with stride 2 and
/// `options.max_pool` is on too; elsewhere as [`conv_bn_relu`] then [`max_pool2d`].
///
/// # Shapes
/// - x: `[batch, channels_in, height, width]`
/// - output: `[batch, channels_out, height / 2, width / 2]` (rounded down)
pub(crate) fn conv_bn_relu_pool(
    conv: &Conv2d,
    bn: &BatchNorm,
    relu: &Relu,
    pool: &MaxPool2d,
    x: Tensor<4>,
    options: &KernelOptions,
) -> Tensor<4> {
    match fast_conv_bn_relu(conv, bn, Some(pool), &x, options) {
        Some(y) => y,
        None => max_pool2d(pool, conv_bn_relu(conv, bn, relu, x, options), options),
    }
}

/// `pool.forward(x)`, through the own kernel for a 2x2 pool with stride 2 on flex where
/// `options.max_pool` is on.
///
/// # Shapes
/// - x: `[batch, channels, height, width]`
/// - output: `[batch, channels, height / 2, width / 2]` (rounded down)
pub(crate) fn max_pool2d(pool: &MaxPool2d, x: Tensor<4>, options: &KernelOptions) -> Tensor<4> {
    match fast_max_pool2d(pool, &x, options) {
        Some(y) => y,
        None => pool.forward(x),
    }
}

/// `dropout.forward(x)`: in training on flex, where `options.dropout` is on, with the keep
/// mask from [`kernels::dropout_mask`], seeded by one draw of the device's random stream (so
/// that `Device::seed` makes it reproducible, as burn's own mask); the same inverted dropout
/// (kept values scaled by `1 / (1 - prob)`), one multiplication in the graph instead of two.
///
/// # Shapes
/// - x: any
/// - output: same as x
pub(crate) fn dropout<const D: usize>(
    dropout: &Dropout,
    x: Tensor<D>,
    options: &KernelOptions,
) -> Tensor<D> {
    match fast_dropout(dropout, &x, options) {
        Some(y) => y,
        None => dropout.forward(x),
    }
}

#[cfg(feature = "fastconv")]
fn fast_dropout<const D: usize>(
    dropout: &Dropout,
    x: &Tensor<D>,
    options: &KernelOptions,
) -> Option<Tensor<D>> {
    use burn::tensor::{Distribution, TensorData};

    // Burn's own conditions for dropping anything.
    let device = x.device();
    if !options.dropout
        || !dropout.training.is_enabled()
        || !device.is_autodiff()
        || dropout.prob == 0.0
        || !flex::is_flex_f32(x)
    {
        return None;
    }
    // Two uniform f32 draws in [0, 1) are 24 random bits each (multiples of 2^-24).
    let draws = Tensor::<1>::random([2], Distribution::Default, &device)
        .into_data()
        .try_to_vec::<f32>()
        .ok()?;
    let bits = |v: f32| (f64::from(v) * f64::from(1u32 << 24)) as u64;
    let seed = (bits(draws[0]) << 24) | bits(draws[1]);
    let dims = x.dims();
    let mask = kernels::dropout_mask(dims.iter().product(), 1.0 - dropout.prob, seed);
    let mask = Tensor::<D>::from_data(TensorData::new(mask, dims), &device);
    Some(x.clone().mul(mask))
}

#[cfg(not(feature = "fastconv"))]
fn fast_dropout<const D: usize>(
    _: &Dropout,
    _: &Tensor<D>,
    _: &KernelOptions,
) -> Option<Tensor<D>> {
    None
}

#[cfg(feature = "fastconv")]
fn fast_conv2d(conv: &Conv2d, x: &Tensor<4>, options: &KernelOptions) -> Option<Tensor<4>> {
    if !options.conv || conv.dilation != [1, 1] || conv.groups != 1 {
        return None;
    }
    let padding = explicit_padding(conv)?;
    let weight = conv.weight.val();
    let bias = conv.bias.as_ref().map(|b| b.val());
    flex::conv2d(x, &weight, bias.as_ref(), conv.stride, padding, options)
}

#[cfg(feature = "fastconv")]
fn fast_conv_bn_relu(
    conv: &Conv2d,
    bn: &BatchNorm,
    pool: Option<&MaxPool2d>,
    x: &Tensor<4>,
    options: &KernelOptions,
) -> Option<Tensor<4>> {
    // Burn's batch norm takes the running statistics outside autodiff; only there is the
    // batch norm a fixed affine map that folds into the conv.
    if !options.conv
        || !options.batch_norm
        || x.device().is_autodiff()
        || conv.dilation != [1, 1]
        || conv.groups != 1
        || pool.is_some_and(|p| !options.max_pool || !is_2x2_stride_2(p))
    {
        return None;
    }
    let padding = explicit_padding(conv)?;
    let device = x.device();
    let mean = bn.running_mean.value().to_device(&device);
    let var = bn.running_var.value().to_device(&device);
    let bias = conv.bias.as_ref().map(|b| b.val());
    flex::conv_bn_relu_inference(
        x,
        &conv.weight.val(),
        bias.as_ref(),
        conv.stride,
        padding,
        [&bn.gamma.val(), &bn.beta.val(), &mean, &var],
        bn.epsilon,
        pool.is_some(),
        options,
    )
}

/// `conv`'s padding as `[(top, bottom), (left, right)]`; `None` for `Same`, which depends on
/// the input size (burn's own path computes it).
#[cfg(feature = "fastconv")]
fn explicit_padding(conv: &Conv2d) -> Option<[(usize, usize); 2]> {
    use burn::nn::PaddingConfig2d;

    match conv.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) => Some([(top, bottom), (left, right)]),
        PaddingConfig2d::Valid => Some([(0, 0), (0, 0)]),
        _ => None,
    }
}

/// Whether `pool` is a 2x2 max-pool with stride 2 and no padding, dilation or ceiling: the
/// pool the own kernels compute.
#[cfg(feature = "fastconv")]
fn is_2x2_stride_2(pool: &MaxPool2d) -> bool {
    use burn::nn::PaddingConfig2d;

    let unpadded = matches!(
        pool.padding,
        PaddingConfig2d::Valid | PaddingConfig2d::Explicit(0, 0, 0, 0)
    );
    pool.kernel_size == [2, 2]
        && pool.stride == [2, 2]
        && pool.dilation == [1, 1]
        && !pool.ceil_mode
        && unpadded
}

#[cfg(feature = "fastconv")]
fn fast_max_pool2d(pool: &MaxPool2d, x: &Tensor<4>, options: &KernelOptions) -> Option<Tensor<4>> {
    if !options.max_pool || !is_2x2_stride_2(pool) {
        return None;
    }
    flex::max_pool2x2(x)
}

#[cfg(feature = "fastconv")]
fn fast_batch_norm_relu(
    bn: &BatchNorm,
    x: &Tensor<4>,
    options: &KernelOptions,
) -> Option<Tensor<4>> {
    use burn::tensor::TensorData;

    if !options.batch_norm {
        return None;
    }
    // The same condition as `BatchNorm::forward` for using the batch's statistics.
    let device = x.device();
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

// Without the feature, burn's ops throughout.

#[cfg(not(feature = "fastconv"))]
fn fast_conv2d(_: &Conv2d, _: &Tensor<4>, _: &KernelOptions) -> Option<Tensor<4>> {
    None
}

#[cfg(not(feature = "fastconv"))]
fn fast_conv_bn_relu(
    _: &Conv2d,
    _: &BatchNorm,
    _: Option<&MaxPool2d>,
    _: &Tensor<4>,
    _: &KernelOptions,
) -> Option<Tensor<4>> {
    None
}

#[cfg(not(feature = "fastconv"))]
fn fast_max_pool2d(_: &MaxPool2d, _: &Tensor<4>, _: &KernelOptions) -> Option<Tensor<4>> {
    None
}

#[cfg(not(feature = "fastconv"))]
fn fast_batch_norm_relu(_: &BatchNorm, _: &Tensor<4>, _: &KernelOptions) -> Option<Tensor<4>> {
    None
}
