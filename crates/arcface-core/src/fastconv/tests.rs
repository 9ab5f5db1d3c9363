//! The kernels against independent references: a hand-computed case, naive f64 loops with
//! central finite differences, and burn's own ops on flex (the kernels switched off).

use burn::module::{Param, RunningState};
use burn::nn::{
    BatchNorm, BatchNormConfig, PaddingConfig2d, Relu,
    conv::Conv2dConfig,
    pool::{MaxPool2d, MaxPool2dConfig},
};
use burn::prelude::*;
use burn::tensor::TensorData;

use kernels::KernelOptions;

use super::{batch_norm_relu, conv_bn_relu, conv_bn_relu_pool, conv2d, dropout, max_pool2d};

/// The kernels on, and off (burn's ops throughout).
const ON: KernelOptions = KernelOptions::all(true);
const OFF: KernelOptions = KernelOptions::all(false);

fn device() -> Device {
    Device::flex().autodiff()
}

/// Deterministic values in [-1, 1) (no `rand` dependency in this crate).
pub(super) fn noise(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f64 / (1u64 << 24) as f64 * 2.0 - 1.0) as f32
        })
        .collect()
}

fn tensor<const D: usize>(values: &[f32], shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
}

fn vals<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

#[track_caller]
fn assert_close(got: &[f32], want: &[f64], rel: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let scale = want.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (*g as f64 - w).abs() <= rel * scale,
            "{what}[{i}]: got {g}, want {w} (scale {scale})"
        );
    }
}

fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

// ---------------------------------------------------------------------------------------------
// conv2d

#[derive(Clone, Copy, Debug)]
struct Case {
    batch: usize,
    c_in: usize,
    h: usize,
    w: usize,
    c_out: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    /// top, left, bottom, right
    pad: [usize; 4],
    bias: bool,
}

impl Case {
    fn out(&self) -> [usize; 2] {
        let [t, l, b, r] = self.pad;
        [
            (self.h + t + b - self.kernel[0]) / self.stride[0] + 1,
            (self.w + l + r - self.kernel[1]) / self.stride[1] + 1,
        ]
    }
    fn x_len(&self) -> usize {
        self.batch * self.c_in * self.h * self.w
    }
    fn w_len(&self) -> usize {
        self.c_out * self.c_in * self.kernel[0] * self.kernel[1]
    }
    fn y_len(&self) -> usize {
        let [oh, ow] = self.out();
        self.batch * self.c_out * oh * ow
    }
}

/// A case from `[batch, c_in, h, w, c_out]`, the kernel and stride (`[vertical, horizontal]`),
/// the padding (top, left, bottom, right) and whether it has a bias.
const fn case(
    [batch, c_in, h, w, c_out]: [usize; 5],
    kernel: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 4],
    bias: bool,
) -> Case {
    Case {
        batch,
        c_in,
        h,
        w,
        c_out,
        kernel,
        stride,
        pad,
        bias,
    }
}

/// VGG8's conv shape: 3x3, stride 1, padding 1 all round, with bias.
const fn same_3x3(batch: usize, c_in: usize, h: usize, w: usize, c_out: usize) -> Case {
    case(
        [batch, c_in, h, w, c_out],
        [3, 3],
        [1, 1],
        [1, 1, 1, 1],
        true,
    )
}

/// Calls `f(y, x, w)` with the output, input and weight indices of every product a
/// convolution sums (padding skipped), straight from the definition.
fn for_each_product(c: &Case, mut f: impl FnMut(usize, usize, usize)) {
    let [oh, ow] = c.out();
    let [kh, kw] = c.kernel;
    for n in 0..c.batch {
        for co in 0..c.c_out {
            for oy in 0..oh {
                for ox in 0..ow {
                    let yi = ((n * c.c_out + co) * oh + oy) * ow + ox;
                    for ci in 0..c.c_in {
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let iy = (oy * c.stride[0] + ki) as isize - c.pad[0] as isize;
                                let ix = (ox * c.stride[1] + kj) as isize - c.pad[1] as isize;
                                if iy < 0 || ix < 0 || iy >= c.h as isize || ix >= c.w as isize {
                                    continue;
                                }
                                let xi =
                                    ((n * c.c_in + ci) * c.h + iy as usize) * c.w + ix as usize;
                                let wi = ((co * c.c_in + ci) * kh + ki) * kw + kj;
                                f(yi, xi, wi);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Naive f64 convolution.
fn ref_conv(c: &Case, x: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
    let plane = c.out()[0] * c.out()[1];
    let mut y: Vec<f64> = (0..c.y_len())
        .map(|yi| {
            if c.bias {
                b[(yi / plane) % c.c_out]
            } else {
                0.0
            }
        })
        .collect();
    for_each_product(c, |yi, xi, wi| y[yi] += x[xi] * w[wi]);
    y
}

/// Gradient of `L = sum(r * ref_conv(...))` in each input by central differences (f64).
fn ref_conv_grads(c: &Case, x: &[f64], w: &[f64], b: &[f64], r: &[f64]) -> [Vec<f64>; 3] {
    let loss = |x: &[f64], w: &[f64], b: &[f64]| -> f64 {
        ref_conv(c, x, w, b).iter().zip(r).map(|(y, r)| y * r).sum()
    };
    let eps = 1e-3; // the loss is linear in each input: differences are exact up to rounding
    let fd = |v: &[f64], f: &dyn Fn(&[f64]) -> f64| -> Vec<f64> {
        (0..v.len())
            .map(|i| {
                let (mut p, mut m) = (v.to_vec(), v.to_vec());
                p[i] += eps;
                m[i] -= eps;
                (f(&p) - f(&m)) / (2.0 * eps)
            })
            .collect()
    };
    [
        fd(x, &|x| loss(x, w, b)),
        fd(w, &|w| loss(x, w, b)),
        fd(b, &|b| loss(x, w, b)),
    ]
}

/// Gradients of `L = sum(r * ref_conv(...))` from the definition, summed term by term in
/// f64: each product `x * w` of an output feeds `r * w` to dx and `r * x` to dw. Checked
/// against [`ref_conv_grads`] (finite differences) on the small cases; affordable for
/// VGG-sized layers, where differences are not.
fn ref_conv_grads_exact(c: &Case, x: &[f64], w: &[f64], r: &[f64]) -> [Vec<f64>; 3] {
    let (mut dx, mut dw) = (vec![0.0; c.x_len()], vec![0.0; c.w_len()]);
    let (plane, mut db) = (c.out()[0] * c.out()[1], vec![0.0; c.c_out]);
    if c.bias {
        for (yi, g) in r.iter().enumerate() {
            db[(yi / plane) % c.c_out] += g;
        }
    }
    for_each_product(c, |yi, xi, wi| {
        dx[xi] += r[yi] * w[wi];
        dw[wi] += r[yi] * x[xi];
    });
    [dx, dw, db]
}

/// Output and input, weight and bias gradients of `sum(r * conv(x))` through [`conv2d`].
fn run_conv(
    c: &Case,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    r: &[f32],
    options: &KernelOptions,
) -> [Vec<f32>; 4] {
    let device = device();
    let mut conv = Conv2dConfig::new([c.c_in, c.c_out], c.kernel)
        .with_stride(c.stride)
        .with_padding(PaddingConfig2d::Explicit(
            c.pad[0], c.pad[1], c.pad[2], c.pad[3],
        ))
        .with_bias(c.bias)
        .init(&device);
    conv.weight = Param::from_tensor(tensor(
        w,
        [c.c_out, c.c_in, c.kernel[0], c.kernel[1]],
        &device,
    ));
    if c.bias {
        conv.bias = Some(Param::from_tensor(tensor(b, [c.c_out], &device)));
    }
    let xt = tensor(x, [c.batch, c.c_in, c.h, c.w], &device).require_grad();
    let [oh, ow] = c.out();
    let y = conv2d(&conv, xt.clone(), options);
    let loss = (y.clone() * tensor(r, [c.batch, c.c_out, oh, ow], &device)).sum();
    let grads = loss.backward();
    let gb = match &conv.bias {
        Some(bias) => vals(bias.val().grad(&grads).unwrap()),
        None => Vec::new(),
    };
    [
        vals(y),
        vals(xt.grad(&grads).unwrap()),
        vals(conv.weight.val().grad(&grads).unwrap()),
        gb,
    ]
}

/// The input, weights, bias and loss weights `r` of case `c` (for `sum(r * conv(x))`), from
/// one seed each.
fn conv_inputs(c: &Case, [sx, sw, sb, sr]: [u64; 4]) -> [Vec<f32>; 4] {
    [
        noise(c.x_len(), sx),
        noise(c.w_len(), sw),
        noise(c.c_out, sb),
        noise(c.y_len(), sr),
    ]
}

/// Asserts that the kernels' output and gradients match burn's ops; returns the kernels'.
#[track_caller]
fn assert_conv_matches_burn(c: &Case, [x, w, b, r]: &[Vec<f32>; 4], label: &str) -> [Vec<f32>; 4] {
    let fast = run_conv(c, x, w, b, r, &ON);
    let burn = run_conv(c, x, w, b, r, &OFF);
    for (k, what) in ["y", "dx", "dw", "db"].iter().enumerate() {
        assert_close(&fast[k], &widen(&burn[k]), 1e-5, &format!("{label} {what}"));
    }
    fast
}

const CASES: [Case; 6] = [
    // The VGG block's conv: 3x3, padding 1, stride 1; batch 1, one channel, non-square.
    same_3x3(1, 1, 5, 7, 2),
    // Three channels, batch > 1, taller than wide.
    same_3x3(3, 3, 6, 4, 4),
    // No padding, no bias.
    case([2, 2, 5, 6, 3], [3, 3], [1, 1], [0, 0, 0, 0], false),
    // Stride 2, non-square kernel, asymmetric padding.
    case([2, 3, 7, 5, 2], [3, 2], [2, 2], [1, 0, 2, 1], true),
    // Mixed strides, padding wider than the kernel overlap.
    case([2, 1, 4, 9, 3], [2, 3], [1, 3], [2, 2, 1, 2], true),
    // Stride 1 with a non-square kernel and uneven padding.
    case([3, 2, 5, 6, 3], [3, 2], [1, 1], [2, 0, 1, 1], true),
];

#[test]
fn conv_by_hand() {
    // x = [[1, 2], [3, 4]], a 2x2 kernel of ones, bias 0.5, padding 1: each output sums the
    // input pixels under the window, so y = [[1, 3, 2], [4, 10, 6], [3, 7, 4]] + 0.5. With
    // L = sum(y): every input pixel is under 4 windows (dx = 4), every weight sees every pixel
    // once (dw = 1 + 2 + 3 + 4 = 10), and the bias is added to 9 outputs (db = 9).
    let c = case([1, 1, 2, 2, 1], [2, 2], [1, 1], [1, 1, 1, 1], true);
    for options in [ON, OFF] {
        let [y, dx, dw, db] = run_conv(
            &c,
            &[1.0, 2.0, 3.0, 4.0],
            &[1.0; 4],
            &[0.5],
            &[1.0; 9],
            &options,
        );
        let want_y = [1.0, 3.0, 2.0, 4.0, 10.0, 6.0, 3.0, 7.0, 4.0].map(|v| v + 0.5);
        assert_close(&y, &want_y, 1e-6, "y");
        assert_close(&dx, &[4.0; 4], 1e-6, "dx");
        assert_close(&dw, &[10.0; 4], 1e-6, "dw");
        assert_close(&db, &[9.0], 1e-6, "db");
    }
}

#[test]
fn conv_matches_finite_differences() {
    for (i, c) in CASES.iter().enumerate() {
        let [x, w, b, r] = conv_inputs(c, [1, 100, 200, 300].map(|s| s + i as u64));
        let [y, dx, dw, db] = run_conv(c, &x, &w, &b, &r, &ON);
        let (x64, w64, b64, r64) = (widen(&x), widen(&w), widen(&b), widen(&r));
        assert_close(
            &y,
            &ref_conv(c, &x64, &w64, &b64),
            1e-5,
            &format!("case {i} y"),
        );
        let [gx, gw, gb] = ref_conv_grads(c, &x64, &w64, &b64, &r64);
        assert_close(&dx, &gx, 1e-5, &format!("case {i} dx"));
        assert_close(&dw, &gw, 1e-5, &format!("case {i} dw"));
        if c.bias {
            assert_close(&db, &gb, 1e-5, &format!("case {i} db"));
        }
    }
}

#[test]
fn conv_matches_burn() {
    for (i, c) in CASES.iter().enumerate() {
        let inputs = conv_inputs(c, [11, 111, 211, 311].map(|s| s + i as u64));
        assert_conv_matches_burn(c, &inputs, &format!("case {i}"));
    }
}

#[test]
fn conv_grouped_images_match_burn() {
    // Enough images per rayon task (3) for small images to share one gemm (and a remainder
    // group), on a machine with any number of threads.
    let threads = rayon::current_num_threads();
    for (batch, h, w) in [(12 * threads, 4, 3), (12 * threads - 1, 7, 7)] {
        let c = same_3x3(batch, 2, h, w, 3);
        let inputs = conv_inputs(&c, [41, 42, 43, 44]);
        let fast = assert_conv_matches_burn(&c, &inputs, &format!("batch {batch}"));
        let [x, wt, b, _] = &inputs;
        assert_close(
            &fast[0],
            &ref_conv(&c, &widen(x), &widen(wt), &widen(b)),
            1e-5,
            "y vs reference",
        );
    }
}

#[test]
fn exact_conv_grads_match_finite_differences() {
    // The reference used for the large cases below, against the independent one.
    for (i, c) in CASES.iter().enumerate() {
        let [x, w, b, r] =
            conv_inputs(c, [61, 62, 63, 64].map(|s| s + i as u64)).map(|v| widen(&v));
        let exact = ref_conv_grads_exact(c, &x, &w, &r);
        let fd = ref_conv_grads(c, &x, &w, &b, &r);
        for (k, what) in ["dx", "dw", "db"].iter().enumerate() {
            let got: Vec<f32> = exact[k].iter().map(|&v| v as f32).collect();
            assert_close(&got, &fd[k], 1e-6, &format!("case {i} {what}"));
        }
    }
}

#[test]
fn direct_and_im2col_convs_match_reference_on_vgg_shapes() {
    // VGG8's layer shapes (3x3, stride 1, padding 1) at small batches, plus channel counts
    // that leave a partial block of 4 and a 1x1 image, through both conv paths; and batches
    // of 3 images per rayon task (on any number of threads), which lay small images side by
    // side, in full groups and a smaller last one; the direct kernels in both vector widths (a
    // CPU without AVX-512 runs the AVX2 ones twice, one without AVX2 + FMA im2col thrice).
    let threads = rayon::current_num_threads();
    let grouped = [(12 * threads - 1, 3, 7, 7, 5), (12 * threads, 2, 5, 13, 4)];
    let small = [
        (2, 1, 28, 28, 16),
        (2, 16, 14, 14, 32),
        (3, 5, 7, 7, 9),
        (2, 3, 1, 1, 6),
        (5, 4, 3, 10, 4),
        (3, 3, 32, 32, 16),
        (6, 64, 32, 32, 64),
        (9, 16, 16, 16, 16),
        (2, 128, 8, 8, 128),
        // Rows longer than Winograd's chunk of 48 tiles: chunks start and end inside a row.
        (2, 4, 6, 100, 5),
        // Images of one or two pixels a side through Winograd (4 or more input channels).
        (3, 6, 1, 1, 5),
        (2, 8, 2, 2, 4),
        (4, 5, 3, 3, 7),
    ];
    let cases = small
        .iter()
        .chain(&grouped)
        .map(|&(batch, c_in, h, w, c_out)| same_3x3(batch, c_in, h, w, c_out));
    for (i, c) in cases.enumerate() {
        let c = &c;
        let [x, w, b, r] = conv_inputs(c, [71, 72, 73, 74].map(|s| s + i as u64));
        let want_y = ref_conv(c, &widen(&x), &widen(&w), &widen(&b));
        let [gx, gw, gb] = ref_conv_grads_exact(c, &widen(&x), &widen(&w), &widen(&r));
        for (direct, avx512, winograd) in [
            (true, true, false),
            (true, false, false),
            (true, false, true),
            (false, false, false),
        ] {
            let options = KernelOptions {
                direct_conv: direct,
                direct_conv_avx512: avx512,
                winograd,
                ..ON
            };
            let got = run_conv(c, &x, &w, &b, &r, &options);
            let label = |what: &str| {
                format!("case {i} direct={direct} avx512={avx512} winograd={winograd} {what}")
            };
            assert_close(&got[0], &want_y, 1e-5, &label("y"));
            assert_close(&got[1], &gx, 1e-5, &label("dx"));
            assert_close(&got[2], &gw, 1e-5, &label("dw"));
            assert_close(&got[3], &gb, 1e-5, &label("db"));
        }
    }
}

#[test]
fn conv_without_autodiff_matches_burn() {
    let c = &CASES[1];
    let x = noise(c.x_len(), 5);
    let w = noise(c.w_len(), 6);
    let b = noise(c.c_out, 7);
    let device = Device::flex();
    let run = |options: &KernelOptions| {
        let mut conv = Conv2dConfig::new([c.c_in, c.c_out], c.kernel)
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&device);
        conv.weight = Param::from_tensor(tensor(&w, [c.c_out, c.c_in, 3, 3], &device));
        conv.bias = Some(Param::from_tensor(tensor(&b, [c.c_out], &device)));
        vals(conv2d(
            &conv,
            tensor(&x, [c.batch, c.c_in, c.h, c.w], &device),
            options,
        ))
    };
    assert_close(&run(&ON), &widen(&run(&OFF)), 1e-5, "y");
}

// ---------------------------------------------------------------------------------------------
// batch norm + ReLU

/// Naive f64 `relu(batch_norm(x))` with batch statistics; `[n, c, p]`.
fn ref_bn_relu(shape: [usize; 3], x: &[f64], gamma: &[f64], beta: &[f64], eps: f64) -> Vec<f64> {
    let [n, c, p] = shape;
    let mut y = vec![0.0; x.len()];
    for ch in 0..c {
        let idx = |i: usize, j: usize| (i * c + ch) * p + j;
        let m = (n * p) as f64;
        let mean: f64 = (0..n)
            .flat_map(|i| (0..p).map(move |j| (i, j)))
            .map(|(i, j)| x[idx(i, j)])
            .sum::<f64>()
            / m;
        let var: f64 = (0..n)
            .flat_map(|i| (0..p).map(move |j| (i, j)))
            .map(|(i, j)| (x[idx(i, j)] - mean).powi(2))
            .sum::<f64>()
            / m;
        for i in 0..n {
            for j in 0..p {
                let v = (x[idx(i, j)] - mean) / (var + eps).sqrt() * gamma[ch] + beta[ch];
                y[idx(i, j)] = v.max(0.0);
            }
        }
    }
    y
}

struct BnRun {
    y: Vec<f32>,
    dx: Vec<f32>,
    dgamma: Vec<f32>,
    dbeta: Vec<f32>,
    running_mean: Vec<f32>,
    running_var: Vec<f32>,
}

fn bn_module(c: usize, gamma: &[f32], beta: &[f32], device: &Device) -> BatchNorm {
    let mut bn = BatchNormConfig::new(c).init(device);
    bn.gamma = Param::from_tensor(tensor(gamma, [c], device));
    bn.beta = Param::from_tensor(tensor(beta, [c], device));
    bn
}

fn run_bn(
    dims: [usize; 4],
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    r: &[f32],
    options: &KernelOptions,
) -> BnRun {
    let device = device();
    let bn = bn_module(dims[1], gamma, beta, &device);
    let xt = tensor(x, dims, &device).require_grad();
    let y = batch_norm_relu(&bn, &Relu::new(), xt.clone(), options);
    let grads = (y.clone() * tensor(r, dims, &device)).sum().backward();
    BnRun {
        y: vals(y),
        dx: vals(xt.grad(&grads).unwrap()),
        dgamma: vals(bn.gamma.val().grad(&grads).unwrap()),
        dbeta: vals(bn.beta.val().grad(&grads).unwrap()),
        running_mean: vals(bn.running_mean.value_sync()),
        running_var: vals(bn.running_var.value_sync()),
    }
}

const BN_SHAPES: [[usize; 4]; 3] = [[1, 1, 3, 4], [3, 2, 2, 5], [4, 3, 5, 3]];

#[test]
fn bn_relu_matches_finite_differences() {
    let eps = 1e-5; // BatchNormConfig's default
    for (i, dims) in BN_SHAPES.iter().enumerate() {
        let [n, c, h, w] = *dims;
        let shape = [n, c, h * w];
        let len = n * c * h * w;
        let x: Vec<f32> = noise(len, 7 + i as u64)
            .iter()
            .map(|v| 3.0 * v + 0.5)
            .collect();
        let gamma: Vec<f32> = noise(c, 17 + i as u64)
            .iter()
            .map(|v| 1.0 + 0.5 * v)
            .collect();
        let beta = noise(c, 27 + i as u64);
        let r = noise(len, 37 + i as u64);
        let got = run_bn(*dims, &x, &gamma, &beta, &r, &ON);
        let (x64, g64, b64, r64) = (widen(&x), widen(&gamma), widen(&beta), widen(&r));
        assert_close(
            &got.y,
            &ref_bn_relu(shape, &x64, &g64, &b64, eps),
            1e-5,
            "y",
        );
        let loss = |x: &[f64], g: &[f64], b: &[f64]| -> f64 {
            ref_bn_relu(shape, x, g, b, eps)
                .iter()
                .zip(&r64)
                .map(|(y, r)| y * r)
                .sum()
        };
        let h = 1e-6;
        let fd = |v: &[f64], f: &dyn Fn(&[f64]) -> f64| -> Vec<f64> {
            (0..v.len())
                .map(|k| {
                    let (mut p, mut m) = (v.to_vec(), v.to_vec());
                    p[k] += h;
                    m[k] -= h;
                    (f(&p) - f(&m)) / (2.0 * h)
                })
                .collect()
        };
        let what = |s: &str| format!("shape {dims:?} {s}");
        assert_close(
            &got.dx,
            &fd(&x64, &|x| loss(x, &g64, &b64)),
            1e-4,
            &what("dx"),
        );
        assert_close(
            &got.dgamma,
            &fd(&g64, &|g| loss(&x64, g, &b64)),
            1e-4,
            &what("dgamma"),
        );
        assert_close(
            &got.dbeta,
            &fd(&b64, &|b| loss(&x64, &g64, b)),
            1e-4,
            &what("dbeta"),
        );
    }
}

#[test]
fn bn_relu_matches_burn() {
    for (i, dims) in BN_SHAPES.iter().enumerate() {
        let len = dims.iter().product();
        let x: Vec<f32> = noise(len, 70 + i as u64)
            .iter()
            .map(|v| 2.0 * v - 0.3)
            .collect();
        let gamma: Vec<f32> = noise(dims[1], 71 + i as u64)
            .iter()
            .map(|v| 1.0 + v)
            .collect();
        let beta = noise(dims[1], 72 + i as u64);
        let r = noise(len, 73 + i as u64);
        let fast = run_bn(*dims, &x, &gamma, &beta, &r, &ON);
        let burn = run_bn(*dims, &x, &gamma, &beta, &r, &OFF);
        // The running statistics moved away from their initial 0 and 1.
        assert!(burn.running_mean.iter().any(|v| v.abs() > 1e-3));
        assert!(burn.running_var.iter().any(|v| (v - 1.0).abs() > 1e-3));
        let what = |s: &str| format!("shape {dims:?} {s}");
        assert_close(&fast.y, &widen(&burn.y), 1e-5, &what("y"));
        assert_close(&fast.dx, &widen(&burn.dx), 1e-4, &what("dx"));
        assert_close(&fast.dgamma, &widen(&burn.dgamma), 1e-4, &what("dgamma"));
        assert_close(&fast.dbeta, &widen(&burn.dbeta), 1e-4, &what("dbeta"));
        assert_close(
            &fast.running_mean,
            &widen(&burn.running_mean),
            1e-5,
            &what("running mean"),
        );
        assert_close(
            &fast.running_var,
            &widen(&burn.running_var),
            1e-5,
            &what("running var"),
        );
    }
}

#[test]
fn bn_relu_outside_training_matches_burn() {
    // Without autodiff the batch norm uses its running statistics (moved away from 0 and 1
    // here by one training step): the inference kernel must use them as burn does.
    let dims = [3, 4, 5, 3];
    let len: usize = dims.iter().product();
    let x: Vec<f32> = noise(len, 3).iter().map(|v| 2.0 * v + 0.2).collect();
    let gamma = [1.5, 0.5, 1.0, -0.7];
    let beta = [0.1, -0.2, 0.3, 0.0];
    let run = |options: &KernelOptions| {
        let train = device();
        let bn = bn_module(4, &gamma, &beta, &train);
        let _ = batch_norm_relu(&bn, &Relu::new(), tensor(&x, dims, &train), options);
        let bn = bn.valid();
        let plain = Device::flex();
        let shifted: Vec<f32> = x.iter().map(|v| v * 0.5 - 0.1).collect();
        vals(batch_norm_relu(
            &bn,
            &Relu::new(),
            tensor(&shifted, dims, &plain),
            options,
        ))
    };
    let (fast, burn) = (run(&ON), run(&OFF));
    let plain = Device::flex();
    let p = |v: &[f32]| tensor(v, [4], &plain);
    let inference = super::flex::batch_norm_relu_inference(
        &tensor(&x, dims, &plain),
        [&p(&gamma), &p(&beta), &p(&[0.0; 4]), &p(&[1.0; 4])],
        1e-5,
    );
    assert!(inference.is_some(), "the kernel takes plain flex tensors");
    assert!(burn.iter().any(|&v| v > 0.0) && burn.contains(&0.0));
    assert_close(&fast, &widen(&burn), 1e-5, "y");
}

#[test]
fn conv_bn_relu_outside_autodiff_matches_reference() {
    // The eval-mode VGG block layer: conv, batch norm with running statistics, ReLU, folded
    // into one pass, and with the 2x2 max-pool after it; against an f64 conv followed by the
    // batch norm formula (and the pool), through every conv path (Winograd, direct, im2col)
    // and with the kernels off (burn's ops). Shapes as VGG8's on digits, 3 images per task side
    // by side, and odd and even sizes.
    let threads = rayon::current_num_threads();
    let pool = pool_module();
    for (i, &(batch, c_in, h, w, c_out)) in [
        (2, 1, 28, 28, 16),
        (12 * threads, 16, 7, 7, 6),
        (3, 8, 14, 14, 8),
        (2, 4, 9, 12, 5),
        (2, 4, 5, 101, 6),
    ]
    .iter()
    .enumerate()
    {
        let c = &same_3x3(batch, c_in, h, w, c_out);
        let [x, wt, b, _] = conv_inputs(c, [81, 82, 83, 84].map(|s| s + i as u64));
        let gamma: Vec<f32> = noise(c_out, 85).iter().map(|v| 1.0 + v).collect();
        let beta = noise(c_out, 86);
        let mean: Vec<f32> = noise(c_out, 87).iter().map(|v| 0.3 * v).collect();
        let var: Vec<f32> = noise(c_out, 88).iter().map(|v| 0.5 + v.abs()).collect();
        let eps = 1e-5;
        let conv_y = ref_conv(c, &widen(&x), &widen(&wt), &widen(&b));
        let plane = h * w;
        let want: Vec<f64> = conv_y
            .iter()
            .enumerate()
            .map(|(k, v)| {
                let ch = (k / plane) % c_out;
                let s = f64::from(gamma[ch]) / (f64::from(var[ch]) + eps).sqrt();
                ((v - f64::from(mean[ch])) * s + f64::from(beta[ch])).max(0.0)
            })
            .collect();
        assert!(want.contains(&0.0) && want.iter().any(|&v| v > 0.0));
        let device = Device::flex();
        let mut conv = Conv2dConfig::new([c_in, c_out], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&device);
        conv.weight = Param::from_tensor(tensor(&wt, [c_out, c_in, 3, 3], &device));
        conv.bias = Some(Param::from_tensor(tensor(&b, [c_out], &device)));
        let mut bn = bn_module(c_out, &gamma, &beta, &device);
        bn.running_mean = RunningState::new(tensor(&mean, [c_out], &device));
        bn.running_var = RunningState::new(tensor(&var, [c_out], &device));
        // The same followed by the 2x2 max-pool (an odd last row and column dropped).
        let (ph, pw) = (h / 2, w / 2);
        let want_pooled: Vec<f64> = (0..batch * c_out * ph * pw)
            .map(|k| {
                let (plane, py, px) = (k / (ph * pw), (k / pw) % ph, k % pw);
                let at =
                    |dy: usize, dx: usize| want[plane * h * w + (2 * py + dy) * w + 2 * px + dx];
                at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1))
            })
            .collect();
        for (direct, winograd) in [(true, true), (true, false), (false, false)] {
            let options = KernelOptions {
                direct_conv: direct,
                winograd,
                ..ON
            };
            for options in [OFF, options] {
                let input = || tensor(&x, [batch, c_in, h, w], &device);
                let y = conv_bn_relu(&conv, &bn, &Relu::new(), input(), &options);
                assert_close(&vals(y), &want, 1e-5, &format!("case {i} {options:?}"));
                let y = conv_bn_relu_pool(&conv, &bn, &Relu::new(), &pool, input(), &options);
                assert_eq!(y.dims(), [batch, c_out, ph, pw]);
                assert_close(
                    &vals(y),
                    &want_pooled,
                    1e-5,
                    &format!("case {i} pooled {options:?}"),
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2x2 max-pool

fn pool_module() -> MaxPool2d {
    MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init()
}

/// Output and input gradient (of `sum(y * r)`) of the 2x2 pool, through the kernel where `options` allow it.
fn run_pool(dims: [usize; 4], x: &[f32], r: &[f32], options: &KernelOptions) -> [Vec<f32>; 2] {
    let device = device();
    let xt = tensor(x, dims, &device).require_grad();
    let y = max_pool2d(&pool_module(), xt.clone(), options);
    let grads = (y.clone() * tensor(r, y.dims(), &device)).sum().backward();
    [vals(y), vals(xt.grad(&grads).unwrap())]
}

#[test]
fn max_pool_by_hand() {
    // One 3x5 plane: the last row and column are dropped; ties go to the first maximum.
    #[rustfmt::skip]
    let x = [
        1.0, 5.0, 2.0, 2.0, 9.0,
        3.0, 4.0, 2.0, 0.0, 9.0,
        7.0, 7.0, 7.0, 7.0, 7.0,
    ];
    // The kernel takes this case (rather than falling back to burn's pool).
    for device in [device(), Device::flex()] {
        assert!(super::flex::max_pool2x2(&tensor(&x, [1, 1, 3, 5], &device)).is_some());
    }
    let [y, dx] = run_pool([1, 1, 3, 5], &x, &[10.0, 20.0], &ON);
    assert_eq!(y, [5.0, 2.0]);
    #[rustfmt::skip]
    let want = [
        0.0, 10.0, 20.0, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.0, 0.0,
    ];
    assert_eq!(dx, want);
}

#[test]
fn max_pool_matches_burn() {
    for (i, dims) in [[2, 3, 6, 4], [3, 2, 7, 5], [1, 1, 2, 2], [4, 5, 9, 8]]
        .into_iter()
        .enumerate()
    {
        let len: usize = dims.iter().product();
        // Rounded to a few values so that windows hold ties, which pick the same position.
        let x: Vec<f32> = noise(len, 90 + i as u64)
            .iter()
            .map(|v| (v * 4.0).round())
            .collect();
        let r = noise(len / 4 + 1, 91 + i as u64);
        let out = dims[0] * dims[1] * (dims[2] / 2) * (dims[3] / 2);
        let [fy, fdx] = run_pool(dims, &x, &r[..out], &ON);
        let [by, bdx] = run_pool(dims, &x, &r[..out], &OFF);
        assert_eq!(fy, by, "{dims:?} y");
        assert_eq!(fdx, bdx, "{dims:?} dx");
    }
}

#[test]
fn max_pool_wide_rows_match_burn_with_ties_and_nans() {
    // Rows of 8 windows and more take the vectorised path (with a scalar tail); ties and NaNs
    // must go where burn's pool sends them.
    for (i, dims) in [[2, 3, 4, 34], [1, 2, 6, 16], [3, 1, 5, 57]]
        .into_iter()
        .enumerate()
    {
        let len: usize = dims.iter().product();
        let x: Vec<f32> = noise(len, 190 + i as u64)
            .iter()
            .enumerate()
            .map(|(k, v)| {
                if k % 37 == 5 {
                    f32::NAN
                } else {
                    (v * 3.0).round()
                }
            })
            .collect();
        let out = dims[0] * dims[1] * (dims[2] / 2) * (dims[3] / 2);
        let r = noise(out, 191 + i as u64);
        let [fy, fdx] = run_pool(dims, &x, &r, &ON);
        let [by, bdx] = run_pool(dims, &x, &r, &OFF);
        assert_eq!(fy.len(), by.len(), "{dims:?} y length");
        for (k, (a, b)) in fy.iter().zip(&by).enumerate() {
            assert!(
                a == b || (a.is_nan() && b.is_nan()),
                "{dims:?} y[{k}]: {a} vs {b}"
            );
        }
        assert!(fy.iter().any(|v| v.is_nan()), "{dims:?}: no NaN window");
        assert_eq!(fdx, bdx, "{dims:?} dx");
    }
}

#[test]
fn max_pool_without_autodiff_matches_burn() {
    let dims = [2, 3, 8, 6];
    let x = noise(2 * 3 * 8 * 6, 99);
    let device = Device::flex();
    let run = |options| {
        vals(max_pool2d(
            &pool_module(),
            tensor(&x, dims, &device),
            options,
        ))
    };
    assert_eq!(run(&ON), run(&OFF));
}

/// The fast dropout is inverted dropout: each output is 0 or its input / keep, the dropped
/// share is the binomial's (within 6 standard deviations), the input gradient of `sum(r * y)`
/// is `r` times the same mask, a reseeded device draws the same mask again and the next call
/// another; in eval mode (no autodiff) it is the identity. The same holds for burn's own
/// dropout (`OFF`), the reference the fast one stands in for.
#[test]
fn dropout_is_inverted_dropout_reproducible_from_the_device_seed() {
    use burn::nn::DropoutConfig;

    let dims = [32, 576];
    let n = dims[0] * dims[1];
    let x = noise(n, 11);
    let r = noise(n, 12);
    for (prob, options) in [(0.5, ON), (0.1, ON), (0.5, OFF)] {
        let keep = 1.0 - prob;
        let module = DropoutConfig::new(prob).init();
        let device = device();
        let run = |seed: Option<u64>| {
            if let Some(seed) = seed {
                device.seed(seed);
            }
            let xt = tensor(&x, dims, &device).require_grad();
            let y = dropout(&module, xt.clone(), &options);
            let grads = (y.clone() * tensor(&r, dims, &device)).sum().backward();
            (vals(y), vals(xt.grad(&grads).unwrap()))
        };
        let (y, dx) = run(Some(58));
        let mut dropped = 0;
        for i in 0..n {
            let kept = y[i] != 0.0;
            dropped += usize::from(!kept);
            let factor = if kept { (1.0 / keep) as f32 } else { 0.0 };
            let label = format!("prob {prob} options {options:?} [{i}]");
            assert!(
                (y[i] - x[i] * factor).abs() <= 1e-6,
                "{label}: y {} x {}",
                y[i],
                x[i]
            );
            assert!(
                (dx[i] - r[i] * factor).abs() <= 1e-6,
                "{label}: dx {} r {}",
                dx[i],
                r[i]
            );
        }
        let share = dropped as f64 / n as f64;
        let sd = (prob * keep / n as f64).sqrt();
        assert!(
            (share - prob).abs() < 6.0 * sd,
            "prob {prob}: dropped share {share}"
        );
        if options.dropout {
            assert_eq!(
                run(Some(58)).0,
                y,
                "prob {prob}: the same seed gave another mask"
            );
            assert_ne!(
                run(None).0,
                y,
                "prob {prob}: the next call gave the same mask"
            );
        }
        let plain = Device::flex();
        let same = dropout(&module, tensor(&x, dims, &plain), &options);
        assert_eq!(
            vals(same),
            x,
            "prob {prob}: eval-mode dropout changed its input"
        );
    }
}
