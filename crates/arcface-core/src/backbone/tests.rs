//! ResNet-18 and iResNet-18: output shapes, a training step, a checkpoint round trip, and the
//! own kernels against burn's ops. Widths are tiny (base width 4) to keep each test fast.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::TensorData;
use kernels::KernelOptions;

use super::test_util::FixedParams;
use super::*;
use crate::head::test_util::{Values, device};
use crate::{CosineHeadConfig, EmbeddingNet, EmbeddingNetConfig, HeadConfig, LabelledBatch};

const KINDS: [ResNetKind; 2] = [ResNetKind::ResNet18, ResNetKind::IResNet18];

fn config(kind: ResNetKind, [c, h, w]: [usize; 3], dim: usize) -> ResNetConfig {
    ResNetConfig::new(kind, c, h, w, dim).with_base_width(4)
}

fn net_config(kind: ResNetKind, shape: [usize; 3]) -> EmbeddingNetConfig {
    EmbeddingNetConfig::new(
        config(kind, shape, 3).into(),
        HeadConfig::Cosine(CosineHeadConfig::arcface(3, 5)),
    )
}

/// Deterministic images in about [-3, 3], each with its own frequency and brightness: ResNet-18
/// averages its last feature maps, and images too alike give the final BatchNorm1d a near-zero
/// batch variance that magnifies rounding (two kernels then differ by percents).
fn images([c, h, w]: [usize; 3], batch: usize, device: &Device) -> Tensor<4> {
    let per_image = c * h * w;
    let values: Vec<f32> = (0..batch * per_image)
        .map(|i| {
            let n = (i / per_image) as f32;
            (i as f32 * 0.37 * (1.0 + 0.2 * n)).sin() + (i as f32 * 0.011).cos() + 0.5 * n - 1.0
        })
        .collect();
    Tensor::from_data(TensorData::new(values, [batch, c, h, w]), device)
}

fn batch(shape: [usize; 3], size: usize, device: &Device) -> LabelledBatch {
    let targets: Vec<i64> = (0..size as i64).map(|i| i % 5).collect();
    LabelledBatch {
        images: images(shape, size, device),
        targets: Tensor::from_data(TensorData::new(targets, [size]), device),
    }
}

fn values(net: &EmbeddingNet) -> Vec<Vec<f32>> {
    let mut v = Values::default();
    net.visit(&mut v);
    v.0
}

#[test]
fn embeddings_have_the_embedding_size_for_any_input() {
    let device = Device::flex();
    for kind in KINDS {
        for shape in [[1, 32, 32], [3, 32, 32], [3, 64, 64], [1, 48, 40]] {
            let net = config(kind, shape, 3).into();
            let net = BackboneConfig::init(&net, &device).unwrap();
            let out = net.forward(images(shape, 2, &device));
            assert_eq!(out.dims(), [2, 3], "{kind:?} {shape:?}");
        }
    }
}

#[test]
fn iresnet_flattens_a_sixteenth_of_each_side() {
    let device = Device::flex();
    // 112 -> 56 -> 28 -> 14 -> 7: insightface's 512 * 7 * 7 at base width 64 (here 4: 32 * 49).
    for (shape, side) in [
        ([3, 112, 112], [7, 7]),
        ([1, 32, 32], [2, 2]),
        ([3, 40, 64], [3, 4]),
    ] {
        let net = config(ResNetKind::IResNet18, shape, 3)
            .init_iresnet(&device)
            .unwrap();
        assert_eq!(
            net.fc.weight.dims(),
            [32 * side[0] * side[1], 3],
            "{shape:?}"
        );
        let out = net.forward(images(shape, 2, &device));
        assert_eq!(out.dims(), [2, 3], "{shape:?}");
    }
    let standard = ResNetConfig::new(ResNetKind::IResNet18, 3, 112, 112, 512)
        .init_iresnet(&device)
        .unwrap();
    assert_eq!(standard.fc.weight.dims(), [512 * 7 * 7, 512]);
    let resnet = ResNetConfig::new(ResNetKind::ResNet18, 3, 32, 32, 512)
        .init_resnet(&device)
        .unwrap();
    assert_eq!(resnet.embed.weight.dims(), [512, 512]);
    // torchvision's ResNet-18 has 11,689,512 parameters: less its 7x7 stem (9,408) and
    // 1000-class fc (513,000), plus the 3x3 stem (1,728), plus the running statistics burn
    // counts (2 x 4,800 batch-norm channels), and without our embedding layer and its batch norm.
    let convs = Module::num_params(&resnet) - 512 * 512 - 512 - 4 * 512;
    assert_eq!(convs, 11_689_512 - 9_408 - 513_000 + 1_728 + 9_600);
}

#[test]
fn too_small_inputs_and_zero_width_are_refused() {
    let device = Device::flex();
    let err = config(ResNetKind::ResNet18, [3, 31, 64], 2)
        .init_resnet(&device)
        .err();
    assert_eq!(
        err,
        Some(CoreError::InputTooSmall {
            backbone: "resnet18",
            min: 32,
            height: 31,
            width: 64
        })
    );
    let err = config(ResNetKind::IResNet18, [3, 32, 32], 2)
        .with_base_width(0)
        .init_iresnet(&device)
        .err();
    assert!(
        matches!(
            err,
            Some(CoreError::OutOfRange {
                key: "base_width",
                ..
            })
        ),
        "{err:?}"
    );
}

/// One Adam step on the test device (flex, or wgpu with `ARCFACE_TEST_DEVICE=wgpu`).
#[test]
fn a_training_step_has_a_finite_loss_and_changes_the_weights() {
    let device = device();
    for kind in KINDS {
        let shape = [3, 32, 32];
        // Fixed parameters, not the device's RNG: tests running in parallel share it, and one
        // run of some ten (2026-12-07) drew a ResNet-18 whose tensor 101 got a zero gradient.
        let net = net_config(kind, shape)
            .init(&device)
            .unwrap()
            .map(&mut FixedParams(0));
        let before = values(&net);
        let out = net.forward(batch(shape, 4, &device));
        let loss = out.output.loss.clone().into_scalar::<f32>();
        assert!(loss.is_finite(), "{kind:?}: loss {loss}");
        let grads = out.output.loss.backward();
        let mut visitor = Grads::new(&grads, Vec::new());
        net.visit(&mut visitor);
        let has_grad = visitor.has_grad;
        let grads = GradientsParams::from_grads(grads, &net);
        let net = AdamConfig::new().init().step(1e-2, net, grads);
        let after = values(&net);
        assert_eq!(before.len(), after.len());
        // Every tensor with a gradient moves (Grads holds the others' values: the running
        // statistics, which the visitor reads as they were before the step).
        for (i, (a, b)) in before.iter().zip(&after).enumerate() {
            if has_grad[i] {
                assert_ne!(a, b, "{kind:?} tensor {i}");
            }
        }
        let count = has_grad.iter().filter(|&&g| g).count();
        assert!(
            count > before.len() / 2,
            "{kind:?}: {count} of {}",
            before.len()
        );
    }
}

#[test]
fn a_checkpoint_round_trip_gives_the_same_embeddings() {
    let device = Device::flex().autodiff();
    let dir = std::env::temp_dir().join(format!("arcface-core-resnet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for kind in KINDS {
        let shape = [1, 32, 32];
        let config = net_config(kind, shape);
        let net = config.init(&device).unwrap().map(&mut FixedParams(0));
        let path = dir.join(format!("{kind:?}.bpk"));
        net.clone().into_record().save(&path).unwrap();
        let loaded = config.init(&device).unwrap().try_load_file(&path).unwrap();
        let x = images(shape, 3, &device);
        let want = net.valid().embed(x.clone()).into_data();
        let got = loaded.valid().embed(x).into_data();
        assert_eq!(got, want, "{kind:?}");
        // The other ResNet's record does not fit.
        let other = if kind == ResNetKind::ResNet18 {
            ResNetKind::IResNet18
        } else {
            ResNetKind::ResNet18
        };
        let other = net_config(other, shape).init(&device).unwrap();
        assert!(other.try_load_file(&path).is_err(), "{kind:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every float parameter's gradient where it has one (else its value: the running
/// statistics), in visiting order.
struct Grads<'a> {
    grads: &'a burn::tensor::Gradients,
    values: Vec<Vec<f32>>,
    has_grad: Vec<bool>,
}

impl<'a> Grads<'a> {
    fn new(grads: &'a burn::tensor::Gradients, values: Vec<Vec<f32>>) -> Self {
        Self {
            grads,
            values,
            has_grad: Vec::new(),
        }
    }
}

impl ModuleVisitor for Grads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let grad = t.grad(self.grads);
        self.has_grad.push(grad.is_some());
        let t = grad.unwrap_or(t);
        self.values.push(t.into_data().try_to_vec::<f32>().unwrap());
    }
}

/// The loss, then [`Grads`], after one forward and backward with the kernels `options` pick.
fn training_step(options: KernelOptions, mut net: EmbeddingNet, b: LabelledBatch) -> Vec<Vec<f32>> {
    net.backbone = net.backbone.with_kernel_options(options);
    let loss = net.forward(b).output.loss;
    let grads = loss.backward();
    let mut got = Grads::new(&grads, vec![loss.into_data().try_to_vec::<f32>().unwrap()]);
    net.visit(&mut got);
    got.values
}

/// Largest |a - b| over all tensors, each at its own scale with a floor of 1 (near-cancelling
/// sums such as the last batch norm's scale gradient are ~1e-5).
fn worst_relative(a: &[Vec<f32>], b: &[Vec<f32>]) -> (f32, usize) {
    assert_eq!(a.len(), b.len());
    let mut worst = (0f32, 0);
    for (i, (a, b)) in a.iter().zip(b).enumerate() {
        assert_eq!(a.len(), b.len(), "tensor {i}");
        let scale = b.iter().fold(1f32, |m, x| m.max(x.abs()));
        for (x, y) in a.iter().zip(b) {
            let d = (x - y).abs() / scale;
            // The first NaN difference wins and stays.
            if !worst.0.is_nan() && (d.is_nan() || d > worst.0) {
                worst = (d, i);
            }
        }
    }
    worst
}

#[test]
fn fastconv_training_step_matches_burn() {
    let device = Device::flex().autodiff();
    for kind in KINDS {
        // 17 conv layers with batch statistics of a few images are ill-conditioned: rounding
        // alone moves the gradients by an amount that depends on the batch and on the CPU's
        // SIMD width. The yardstick is measured here, on the same batch: both networks are
        // invariant to the images' scale (a bias-free first conv, then batch norm), so burn's
        // gradients for the images scaled by 1 + 1e-6 differ from its own only by rounding. The
        // two paths may differ by 4x that (at least 2e-4). Measured with AVX2 (2026-12-07):
        // ResNet-18 on 3x36x32 1.3e-3 against 7.5e-4, iResNet-18 9e-5 against 7e-5. A wrong
        // kernel differs by the gradients' own size (adding 1e-4 x² to the images gives 0.87).
        // With 1x32x32 and batch 8, ResNet-18's worst tensor differs by 7e-2 (near-equal pooled
        // features), so the batches here give the last BatchNorm1d spread-out embeddings.
        for (shape, size) in [([3, 32, 32], 8), ([3, 36, 32], 6)] {
            let config = net_config(kind, shape);
            // Fixed parameters shared by the networks, as in VGG8's test of the same name.
            let net = config.init(&device).unwrap().map(&mut FixedParams(0));
            let twin = || {
                config
                    .init(&device)
                    .unwrap()
                    .load_record(net.clone().into_record())
            };
            let burn = training_step(
                KernelOptions::all(false),
                twin(),
                batch(shape, size, &device),
            );
            let mut nudged = batch(shape, size, &device);
            nudged.images = nudged.images * (1.0 + 1e-6);
            let nudged = training_step(KernelOptions::all(false), twin(), nudged);
            let (sensitivity, _) = worst_relative(&nudged, &burn);
            let tolerance = (4.0 * sensitivity).max(2e-4);
            // Winograd off: its rounding differs from burn's in another pattern than a nudge
            // of the images, and this network (4 channels, 8 images) amplifies a conv's
            // differences of ~1e-6 of scale some 2,000 times (measured 2026-12-07: 2.4e-2). The
            // Winograd conv is checked against an f64 reference in `fastconv::tests`, where its
            // error is below the direct kernel's.
            let fast = training_step(
                KernelOptions {
                    winograd: false,
                    ..KernelOptions::default()
                },
                twin(),
                batch(shape, size, &device),
            );
            let (worst, tensor) = worst_relative(&fast, &burn);
            assert!(
                worst <= tolerance,
                "{kind:?} {shape:?}: fastconv's gradients differ from burn's by {worst:e} of their \
                 scale (tensor {tensor}), more than 4 x burn's own sensitivity {sensitivity:e}"
            );
        }
    }
}
