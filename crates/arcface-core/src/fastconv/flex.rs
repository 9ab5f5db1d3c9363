//! Hooks the kernels into burn: unwraps flex tensors (plain, or autodiff with either
//! checkpointing strategy) and registers one autodiff step per conv and per batch norm + ReLU.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, DispatchDevice, DispatchKindConversion, DispatchTensor, Flex};
use burn::prelude::*;
use burn::tensor::{DType, GradientCheckpointingStrategy, TensorData};

use kernels::{BnGeom, BnStats, ConvGeom, KernelOptions, PoolGeom};

/// Where a tensor lives, as far as these kernels care.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Route {
    Plain,
    Autodiff(GradientCheckpointingStrategy),
}

/// `Some` for an f32 tensor on flex (autodiff or not).
#[allow(unreachable_patterns)] // other device variants exist only with other backend features
fn route<const D: usize>(t: &Tensor<D>) -> Option<Route> {
    if t.dtype() != DType::F32 {
        return None;
    }
    match t.device().as_dispatch() {
        DispatchDevice::Flex(_) => Some(Route::Plain),
        DispatchDevice::Autodiff(inner) if matches!(**inner, DispatchDevice::Flex(_)) => {
            Some(Route::Autodiff(inner.gradient_checkpointing_strategy()))
        }
        _ => None,
    }
}

/// Whether `t` is an f32 tensor on flex, plain or under autodiff.
pub(super) fn is_flex_f32<const D: usize>(t: &Tensor<D>) -> bool {
    route(t).is_some()
}

/// The common route of all `tensors`, if they share one.
fn common_route(routes: &[Option<Route>]) -> Option<Route> {
    let first = (*routes.first()?)?;
    routes.iter().all(|r| *r == Some(first)).then_some(first)
}

/// A dense f32 view; copies only a strided tensor.
fn dense(t: FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() {
        t
    } else {
        t.to_contiguous()
    }
}

/// The values of a tensor made [`dense`].
fn values(t: &FlexTensor) -> &[f32] {
    // `dense` and `from_vec` only hand out contiguous f32 tensors, and the routes only admit f32.
    t.as_slice::<f32>().unwrap_or_default()
}

fn from_vec<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// The plain primitive of a tensor whose route is [`Route::Plain`].
fn plain<const D: usize>(t: Tensor<D>) -> Option<FlexTensor> {
    t.try_into_primitive::<Flex>().ok().map(dense)
}

/// The autodiff primitive of a tensor whose route is `Route::Autodiff` with strategy `C`.
fn tracked<C, const D: usize>(t: Tensor<D>) -> Option<FloatTensor<Autodiff<Flex, C>>>
where
    C: CheckpointStrategy,
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    t.try_into_primitive::<Autodiff<Flex, C>>().ok()
}

// ---------------------------------------------------------------------------------------------
// conv2d

#[derive(Debug, Clone)]
struct ConvState {
    x: FlexTensor,
    weight: FlexTensor,
    geom: ConvGeom,
    /// The forward pass's, so that the backward pass takes the same path.
    options: KernelOptions,
}

#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 3> for ConvBackward {
    type State = ConvState;

    fn backward(self, ops: Ops<ConvState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let dy = dense(grads.consume::<Flex>(&ops.node));
        let ConvState {
            x,
            weight,
            geom: g,
            options,
        } = ops.state;
        let out = kernels::conv_backward(
            &g,
            values(&x),
            values(&weight),
            values(&dy),
            [node_x.is_some(), node_w.is_some(), node_b.is_some()],
            &options,
        );
        if let (Some(node), Some(dx)) = (node_x, out.x) {
            grads.register::<Flex>(node.id, from_vec(dx, [g.batch, g.c_in, g.h, g.w]));
        }
        if let (Some(node), Some(dw)) = (node_w, out.weight) {
            grads.register::<Flex>(node.id, from_vec(dw, [g.c_out, g.c_in, g.kh, g.kw]));
        }
        if let (Some(node), Some(db)) = (node_b, out.bias) {
            grads.register::<Flex>(node.id, from_vec(db, [g.c_out]));
        }
    }
}

/// Conv2d on flex, or `None` (inputs untouched) where these kernels do not apply.
pub(super) fn conv2d(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: Option<&Tensor<1>>,
    stride: [usize; 2],
    padding: [(usize, usize); 2],
    options: &KernelOptions,
) -> Option<Tensor<4>> {
    let [c_out, c_in, kh, kw] = weight.dims();
    let [batch, x_c, h, w] = x.dims();
    if x_c != c_in || bias.is_some_and(|b| b.dims() != [c_out]) {
        return None;
    }
    let geom = ConvGeom::new([batch, c_in, h, w], [c_out, kh, kw], stride, padding)?;
    let route = common_route(&[route(x), route(weight), bias.map_or(route(x), route)])?;
    let (x, weight, bias) = (x.clone(), weight.clone(), bias.cloned());
    match route {
        Route::Plain => {
            let x = plain(x)?;
            let weight = plain(weight)?;
            let bias = match bias {
                Some(b) => Some(plain(b)?),
                None => None,
            };
            let y = kernels::conv_forward(
                &geom,
                values(&x),
                values(&weight),
                bias.as_ref().map(values),
                options,
            );
            let y = from_vec(y, [batch, c_out, geom.out_h, geom.out_w]);
            Some(Tensor::from_primitive::<Flex>(y))
        }
        Route::Autodiff(GradientCheckpointingStrategy::Disabled) => {
            conv2d_tracked::<NoCheckpointing>(x, weight, bias, geom, *options)
        }
        Route::Autodiff(GradientCheckpointingStrategy::Balanced) => {
            conv2d_tracked::<BalancedCheckpointing>(x, weight, bias, geom, *options)
        }
    }
}

fn conv2d_tracked<C>(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    g: ConvGeom,
    options: KernelOptions,
) -> Option<Tensor<4>>
where
    C: CheckpointStrategy,
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let x = tracked::<C, 4>(x)?;
    let weight = tracked::<C, 4>(weight)?;
    // Without a bias, an untracked zero-size leaf stands in for it: it has no parent node, so
    // the backward step computes no bias gradient.
    let bias = match bias {
        Some(b) => tracked::<C, 1>(b)?,
        None => FloatTensor::<Autodiff<Flex, C>>::new(from_vec(Vec::new(), [0])),
    };
    let x_p = dense(x.primitive().clone());
    let w_p = dense(weight.primitive().clone());
    let b_p = dense(bias.primitive().clone());
    let b_vals = values(&b_p);
    let y = kernels::conv_forward(
        &g,
        values(&x_p),
        values(&w_p),
        (!b_vals.is_empty()).then_some(b_vals),
        &options,
    );
    let y = from_vec(y, [g.batch, g.c_out, g.out_h, g.out_w]);
    let out = match ConvBackward
        .prepare::<C>([x.node(), weight.node(), bias.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            ConvState {
                x: x_p,
                weight: w_p,
                geom: g,
                options,
            },
            y,
        ),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Some(Tensor::from_primitive::<Autodiff<Flex, C>>(out))
}

// ---------------------------------------------------------------------------------------------
// batch norm (training statistics) + ReLU

#[derive(Debug, Clone)]
struct BnState {
    x: FlexTensor,
    y: FlexTensor,
    gamma: FlexTensor,
    stats: BnStats,
    geom: BnGeom,
}

#[derive(Debug)]
struct BnReluBackward;

impl Backward<Flex, 3> for BnReluBackward {
    type State = BnState;

    fn backward(self, ops: Ops<BnState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = dense(grads.consume::<Flex>(&ops.node));
        let BnState {
            x,
            y,
            gamma,
            stats,
            geom,
        } = ops.state;
        let out = kernels::bn_relu_backward(
            &geom,
            values(&x),
            values(&y),
            values(&dy),
            values(&gamma),
            &stats,
            node_x.is_some(),
        );
        let shape = x.layout().shape().clone();
        if let (Some(node), Some(dx)) = (node_x, out.x) {
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dx, shape)));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, from_vec(out.gamma, [geom.channels]));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, from_vec(out.beta, [geom.channels]));
        }
    }
}

/// `relu(batch_norm(x))` with the batch's statistics, and those statistics (mean, biased
/// variance); `None` (inputs untouched) where these kernels do not apply.
pub(super) fn batch_norm_relu_train(
    x: &Tensor<4>,
    gamma: &Tensor<1>,
    beta: &Tensor<1>,
    epsilon: f64,
) -> Option<(Tensor<4>, Vec<f32>, Vec<f32>)> {
    let [batch, channels, h, w] = x.dims();
    if gamma.dims() != [channels] || beta.dims() != [channels] {
        return None;
    }
    let geom = BnGeom {
        batch,
        channels,
        pixels: h * w,
    };
    let (x, gamma, beta) = (x.clone(), gamma.clone(), beta.clone());
    match common_route(&[route(&x), route(&gamma), route(&beta)])? {
        Route::Plain => {
            let (x, gamma, beta) = (plain(x)?, plain(gamma)?, plain(beta)?);
            let (y, stats) =
                kernels::bn_relu_train(&geom, values(&x), values(&gamma), values(&beta), epsilon);
            let y = from_vec(y, [batch, channels, h, w]);
            Some((Tensor::from_primitive::<Flex>(y), stats.mean, stats.var))
        }
        Route::Autodiff(GradientCheckpointingStrategy::Disabled) => {
            bn_relu_tracked::<NoCheckpointing>(x, gamma, beta, epsilon, geom)
        }
        Route::Autodiff(GradientCheckpointingStrategy::Balanced) => {
            bn_relu_tracked::<BalancedCheckpointing>(x, gamma, beta, epsilon, geom)
        }
    }
}

fn bn_relu_tracked<C>(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
    geom: BnGeom,
) -> Option<(Tensor<4>, Vec<f32>, Vec<f32>)>
where
    C: CheckpointStrategy,
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let dims = x.dims();
    let x = tracked::<C, 4>(x)?;
    let gamma = tracked::<C, 1>(gamma)?;
    let beta = tracked::<C, 1>(beta)?;
    let x_p = dense(x.primitive().clone());
    let gamma_p = dense(gamma.primitive().clone());
    let beta_p = dense(beta.primitive().clone());
    let (y, stats) = kernels::bn_relu_train(
        &geom,
        values(&x_p),
        values(&gamma_p),
        values(&beta_p),
        epsilon,
    );
    let y = from_vec(y, dims);
    let (mean, var) = (stats.mean.clone(), stats.var.clone());
    let out = match BnReluBackward
        .prepare::<C>([x.node(), gamma.node(), beta.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            BnState {
                x: x_p,
                y: y.clone(),
                gamma: gamma_p,
                stats,
                geom,
            },
            y,
        ),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Some((Tensor::from_primitive::<Autodiff<Flex, C>>(out), mean, var))
}

/// `relu(batch_norm(conv2d(x) + bias))` with given statistics (the running ones) on plain
/// flex tensors, i.e. outside autodiff (validation, snapshots), in one pass, then with `pool`
/// a 2x2 max-pool with stride 2 ([`kernels::conv_bn_relu_inference`]); `None` (inputs
/// untouched) elsewhere.
#[allow(clippy::too_many_arguments)]
pub(super) fn conv_bn_relu_inference(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: Option<&Tensor<1>>,
    stride: [usize; 2],
    padding: [(usize, usize); 2],
    [gamma, beta, mean, var]: [&Tensor<1>; 4],
    epsilon: f64,
    pool: bool,
    options: &KernelOptions,
) -> Option<Tensor<4>> {
    let [c_out, c_in, kh, kw] = weight.dims();
    let [batch, x_c, h, w] = x.dims();
    let params = [gamma, beta, mean, var];
    if x_c != c_in
        || bias.is_some_and(|b| b.dims() != [c_out])
        || params.iter().any(|p| p.dims() != [c_out])
    {
        return None;
    }
    let geom = ConvGeom::new([batch, c_in, h, w], [c_out, kh, kw], stride, padding)?;
    let mut routes = vec![route(x), route(weight)];
    routes.extend(bias.map(route));
    routes.extend(params.iter().map(|p| route(*p)));
    if common_route(&routes)? != Route::Plain {
        return None;
    }
    let x = plain(x.clone())?;
    let weight = plain(weight.clone())?;
    let bias = match bias {
        Some(b) => Some(plain(b.clone())?),
        None => None,
    };
    let [gamma, beta, mean, var] = params.map(|p| plain(p.clone()));
    let (gamma, beta, mean, var) = (gamma?, beta?, mean?, var?);
    let bn = kernels::BnInference {
        params: [values(&gamma), values(&beta), values(&mean), values(&var)],
        epsilon,
    };
    let y = kernels::conv_bn_relu_inference(
        &geom,
        values(&x),
        values(&weight),
        bias.as_ref().map(values),
        bn,
        pool,
        options,
    );
    let [out_h, out_w] = if pool {
        [geom.out_h / 2, geom.out_w / 2]
    } else {
        [geom.out_h, geom.out_w]
    };
    let y = from_vec(y, [batch, c_out, out_h, out_w]);
    Some(Tensor::from_primitive::<Flex>(y))
}

/// `relu(batch_norm(x))` with given statistics (the running ones) on plain flex tensors, i.e.
/// outside autodiff (validation, snapshots); `None` (inputs untouched) elsewhere.
pub(super) fn batch_norm_relu_inference(
    x: &Tensor<4>,
    [gamma, beta, mean, var]: [&Tensor<1>; 4],
    epsilon: f64,
) -> Option<Tensor<4>> {
    let [batch, channels, h, w] = x.dims();
    let params = [gamma, beta, mean, var];
    if params.iter().any(|p| p.dims() != [channels]) {
        return None;
    }
    let routes = [route(x), route(gamma), route(beta), route(mean), route(var)];
    if common_route(&routes)? != Route::Plain {
        return None;
    }
    let x = plain(x.clone())?;
    let [gamma, beta, mean, var] = params.map(|p| plain(p.clone()));
    let geom = BnGeom {
        batch,
        channels,
        pixels: h * w,
    };
    let y = kernels::bn_relu_inference(
        &geom,
        values(&x),
        values(&gamma?),
        values(&beta?),
        values(&mean?),
        values(&var?),
        epsilon,
    );
    Some(Tensor::from_primitive::<Flex>(from_vec(
        y,
        [batch, channels, h, w],
    )))
}

// ---------------------------------------------------------------------------------------------
// 2x2 max-pool, stride 2

#[derive(Debug, Clone)]
struct PoolState {
    x: FlexTensor,
    geom: PoolGeom,
}

#[derive(Debug)]
struct MaxPoolBackward;

impl Backward<Flex, 1> for MaxPoolBackward {
    type State = PoolState;

    fn backward(self, ops: Ops<PoolState, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = dense(grads.consume::<Flex>(&ops.node));
        let PoolState { x, geom } = ops.state;
        if let Some(node) = node_x {
            let dx = kernels::max_pool2x2_backward(&geom, values(&x), values(&dy));
            let shape = x.layout().shape().clone();
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dx, shape)));
        }
    }
}

/// 2x2 max-pool with stride 2 and no padding on flex, or `None` (input untouched) where this
/// kernel does not apply.
pub(super) fn max_pool2x2(x: &Tensor<4>) -> Option<Tensor<4>> {
    let [batch, channels, h, w] = x.dims();
    let geom = PoolGeom {
        planes: batch * channels,
        h,
        w,
    };
    let out = [batch, channels, geom.out_h(), geom.out_w()];
    match route(x)? {
        Route::Plain => {
            let x = plain(x.clone())?;
            let y = kernels::max_pool2x2_forward(&geom, values(&x));
            Some(Tensor::from_primitive::<Flex>(from_vec(y, out)))
        }
        Route::Autodiff(GradientCheckpointingStrategy::Disabled) => {
            max_pool_tracked::<NoCheckpointing>(x.clone(), geom, out)
        }
        Route::Autodiff(GradientCheckpointingStrategy::Balanced) => {
            max_pool_tracked::<BalancedCheckpointing>(x.clone(), geom, out)
        }
    }
}

fn max_pool_tracked<C>(x: Tensor<4>, geom: PoolGeom, out: [usize; 4]) -> Option<Tensor<4>>
where
    C: CheckpointStrategy,
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let x = tracked::<C, 4>(x)?;
    let x_p = dense(x.primitive().clone());
    let y = from_vec(kernels::max_pool2x2_forward(&geom, values(&x_p)), out);
    let out = match MaxPoolBackward
        .prepare::<C>([x.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(PoolState { x: x_p, geom }, y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Some(Tensor::from_primitive::<Autodiff<Flex, C>>(out))
}
