//! Helpers shared by the heads' tests.

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::TensorData;

use crate::cross_entropy;

/// flex, or the backend named by `ARCFACE_TEST_DEVICE` (`wgpu` with the `wgpu` feature), so
/// that CI runs the same head tests on Vulkan (lavapipe) as on the CPU.
pub(crate) fn device() -> Device {
    match std::env::var("ARCFACE_TEST_DEVICE").as_deref() {
        Err(_) | Ok("") | Ok("flex") => Device::flex().autodiff(),
        #[cfg(feature = "wgpu")]
        Ok("wgpu") => Device::wgpu(Default::default()).autodiff(),
        Ok(other) => {
            panic!("ARCFACE_TEST_DEVICE={other}: expected flex, or wgpu with `--features wgpu`")
        }
    }
}

/// A `[rows, dim]` tensor from its rows, optionally a gradient leaf.
pub(super) fn rows(values: &[&[f32]], grad: bool) -> Tensor<2> {
    let flat: Vec<f32> = values.iter().flat_map(|c| c.iter().copied()).collect();
    let t = Tensor::<2>::from_data(
        TensorData::new(flat, [values.len(), values[0].len()]),
        &device(),
    );
    if grad { t.require_grad() } else { t }
}

/// A `[dim, columns]` weight whose columns are the given rows.
pub(super) fn columns(centres: &[&[f32]]) -> Param<Tensor<2>> {
    Param::from_tensor(rows(centres, false).transpose())
}

pub(super) fn targets(t: &[i64]) -> Tensor<1, Int> {
    Tensor::from_data(TensorData::new(t.to_vec(), [t.len()]), &device())
}

pub(super) fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// Unit vector at `deg` degrees from the x axis.
pub(super) fn at_angle(deg: f64) -> [f32; 2] {
    let r = deg.to_radians();
    [r.cos() as f32, r.sin() as f32]
}

/// `tol` on the CPU; on wgpu at least 1e-2, because Vulkan's `acos`/`cos` (lavapipe's included)
/// are only accurate to about 1e-4 relative, which logits scaled by s = 15..30 magnify.
pub(super) fn tolerance(tol: f64) -> f64 {
    match std::env::var("ARCFACE_TEST_DEVICE").as_deref() {
        Ok("wgpu") => tol.max(1e-2),
        _ => tol,
    }
}

pub(super) fn assert_close(got: f32, want: f64, tol: f64, what: &str) {
    let tol = tolerance(tol);
    assert!(
        (got as f64 - want).abs() < tol,
        "{what}: got {got}, want {want}"
    );
}

/// Cross-entropy of `train_logits(x, t)` with `x` the flattened `[rows, dim]` embeddings.
fn loss_at(
    train_logits: &impl Fn(Tensor<2>, Tensor<1, Int>) -> Tensor<2>,
    x: &[f32],
    dim: usize,
    t: &[i64],
) -> f64 {
    let e = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [x.len() / dim, dim]), &device());
    values(cross_entropy(train_logits(e, targets(t)), targets(t)))[0] as f64
}

/// Autodiff gradient of the loss in the embeddings against central finite differences.
pub(super) fn check_gradients(
    train_logits: impl Fn(Tensor<2>, Tensor<1, Int>) -> Tensor<2>,
    x: &[f32],
    dim: usize,
    t: &[i64],
) {
    let e = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [x.len() / dim, dim]), &device())
        .require_grad();
    let grads = cross_entropy(train_logits(e.clone(), targets(t)), targets(t)).backward();
    let analytic = values(e.grad(&grads).unwrap());
    let step = 1e-2f32;
    for i in 0..x.len() {
        let mut plus = x.to_vec();
        plus[i] += step;
        let mut minus = x.to_vec();
        minus[i] -= step;
        let numeric = (loss_at(&train_logits, &plus, dim, t)
            - loss_at(&train_logits, &minus, dim, t))
            / (2.0 * step as f64);
        let a = analytic[i] as f64;
        assert!(
            (a - numeric).abs() <= 2e-2 * numeric.abs().max(0.05),
            "d loss / d x[{i}]: autodiff {a} vs finite difference {numeric}"
        );
    }
}

/// Loss and gradients (in the embeddings and in `weight`) are finite.
pub(super) fn assert_finite_grads(
    train_logits: impl Fn(Tensor<2>, Tensor<1, Int>) -> Tensor<2>,
    weight: &Param<Tensor<2>>,
    x: &[&[f32]],
    t: &[i64],
) {
    let e = rows(x, true);
    let loss = cross_entropy(train_logits(e.clone(), targets(t)), targets(t));
    let grads = loss.backward();
    assert!(
        values(loss).iter().all(|v| v.is_finite()),
        "loss not finite"
    );
    let gx = values(e.grad(&grads).unwrap());
    assert!(gx.iter().all(|v| v.is_finite()), "embedding grad {gx:?}");
    let gw = values(weight.val().grad(&grads).unwrap());
    assert!(gw.iter().all(|v| v.is_finite()), "weight grad {gw:?}");
}

/// What the checkpoint fixtures hold in each parameter of `n` values: 0.125, -0.25, 0.375, ...
pub(crate) fn fill(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (i as f32 + 1.0) * 0.125 * if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect()
}

/// Every float parameter's values, in visiting order.
#[derive(Default)]
pub(crate) struct Values(pub(crate) Vec<Vec<f32>>);

impl ModuleVisitor for Values {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0
            .push(param.val().into_data().try_to_vec::<f32>().unwrap());
    }
}
