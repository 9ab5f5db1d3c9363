//! Timings of the kernels against burn's ops on flex (ignored by default):
//!
//! ```text
//! cargo test --release -p arcface-core fastconv::bench -- --ignored --nocapture --test-threads=1
//! ```
//!
//! (`--test-threads=1`: otherwise libtest runs the timing tests side by side.)
//!
//! `ARCFACE_BENCH_ROUNDS` (default 7) sets how many times each variant is timed; the two
//! variants alternate round by round so that load from other processes hits both alike.
//! `ARCFACE_BENCH_ONLY=on` (or `off`) times one variant only, e.g. under a profiler;
//! `fastconv::bench::training_step` alone times the whole step, `ARCFACE_BENCH_ITERS` (default 5)
//! steps per round. As the binary does, each test first tunes malloc (`kernels::tune_malloc`).

use std::time::Instant;

use burn::nn::{BatchNormConfig, PaddingConfig2d, Relu, conv::Conv2dConfig, pool::MaxPool2dConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};

use kernels::KernelOptions;

use super::{batch_norm_relu, conv2d, max_pool2d};
use crate::{CosineHeadConfig, EmbeddingNetConfig, HeadConfig, LabelledBatch, Vgg8Config};

fn rounds() -> usize {
    std::env::var("ARCFACE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7)
}

/// Milliseconds per call of `f`, timed `iters` times after one warm-up call.
fn time_ms(iters: usize, f: &mut dyn FnMut()) -> f64 {
    f();
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed().as_secs_f64() * 1e3 / iters as f64
}

/// Times burn's path (`off`) and the kernels (`on`) alternately, `run` given the options of
/// each; prints min and median.
fn compare(label: &str, iters: usize, mut run: impl FnMut(&KernelOptions)) -> [f64; 2] {
    kernels::tune_malloc();
    let mut samples = [Vec::new(), Vec::new()];
    for _ in 0..rounds() {
        for (i, fast) in [false, true].into_iter().enumerate() {
            let only = std::env::var("ARCFACE_BENCH_ONLY").ok();
            let skip = match only.as_deref() {
                Some("on") => !fast,
                Some("off") => fast,
                _ => false,
            };
            let ms = if skip {
                f64::NAN
            } else {
                let options = KernelOptions::all(fast);
                time_ms(iters, &mut || run(&options))
            };
            samples[i].push(ms);
        }
    }
    let stats = samples.map(|mut s| {
        s.sort_by(f64::total_cmp);
        (s[0], s[s.len() / 2])
    });
    let [(off_min, off_med), (on_min, on_med)] = stats;
    println!(
        "{label:<44} burn {off_min:8.2} / {off_med:8.2} ms   fastconv {on_min:8.2} / {on_med:8.2} ms   x{:.2}",
        off_med / on_med
    );
    [off_med, on_med]
}

#[test]
#[ignore = "timing: run with --ignored --nocapture, in release"]
fn fastconv_timings() {
    let device = Device::flex().autodiff();
    device.seed(1);
    let batch = 32;
    println!(
        "min / median per call over {} rounds, {} rayon threads",
        rounds(),
        rayon::current_num_threads()
    );
    println!("-- VGG8 conv layers, batch {batch}, forward + backward (x, w, b grads) --");
    let layers = [
        (1, 16, 28),
        (16, 16, 28),
        (16, 32, 14),
        (32, 32, 14),
        (32, 64, 7),
        (64, 64, 7),
    ];
    let mut totals = [0.0; 2];
    for (c_in, c_out, hw) in layers {
        let conv = Conv2dConfig::new([c_in, c_out], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&device);
        let bn = BatchNormConfig::new(c_out).init(&device);
        let relu = Relu::new();
        let x = Tensor::<4>::random(
            [batch, c_in, hw, hw],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        // The first layer's input (the images) needs no gradient, as in training.
        let x = if c_in > 1 { x.require_grad() } else { x };
        let conv_ms = compare(&format!("conv {c_in:>2}->{c_out:<2} {hw}x{hw}"), 5, |o| {
            let _ = conv2d(&conv, x.clone(), o).sum().backward();
        });
        let block_ms = compare(
            &format!("conv + bn + relu {c_in:>2}->{c_out:<2} {hw}x{hw}"),
            5,
            |o| {
                let y = batch_norm_relu(&bn, &relu, conv2d(&conv, x.clone(), o), o);
                let _ = y.sum().backward();
            },
        );
        let _ = conv_ms;
        for (t, b) in totals.iter_mut().zip(block_ms) {
            *t += b;
        }
    }
    println!(
        "all six conv + bn + relu layers (medians)         burn {:8.2} ms   fastconv {:8.2} ms",
        totals[0], totals[1]
    );
}

/// The whole VGG8 + ArcFace training step, on its own so that a profiler can be pointed at it
/// (`fastconv::bench::training_step`).
#[test]
#[ignore = "timing: run with --ignored --nocapture, in release"]
fn training_step() {
    let device = Device::flex().autodiff();
    device.seed(1);
    let batch = 32;
    let iters = std::env::var("ARCFACE_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);

    println!(
        "-- VGG8 + ArcFace training step (forward, backward, Adam), batch {batch}, 1x28x28 --"
    );
    let config = EmbeddingNetConfig::new(
        Vgg8Config::new(1, 28, 28, 2).into(),
        HeadConfig::Cosine(CosineHeadConfig::arcface(2, 10)),
    );
    let images = Tensor::<4>::random([batch, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
    let targets = Tensor::<1, Int>::from_data(
        TensorData::new((0..batch as i64).map(|i| i % 10).collect(), [batch]),
        &device,
    );
    let mut model = Some(config.init(&device).unwrap());
    let mut optim = AdamConfig::new().init();
    compare("training step", iters, |o| {
        let Some(mut net) = model.take() else { return };
        net.backbone = net.backbone.with_kernel_options(*o);
        let out = net.forward(LabelledBatch {
            images: images.clone(),
            targets: targets.clone(),
        });
        let grads = GradientsParams::from_grads(out.output.loss.backward(), &net);
        model = Some(optim.step(1e-3, net, grads));
    });
}

/// The VGG blocks' 2x2 max-pool, forward + backward, and the eval-mode batch norm + ReLU.
#[test]
#[ignore = "timing: run with --ignored --nocapture, in release"]
fn pool_and_eval_bn() {
    let device = Device::flex().autodiff();
    device.seed(1);
    let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
    for (c, hw) in [(16, 28), (32, 14), (64, 7)] {
        let x = Tensor::<4>::random([32, c, hw, hw], Distribution::Normal(0.0, 1.0), &device)
            .require_grad();
        compare(&format!("max-pool {c}x{hw}x{hw}, batch 32"), 20, |o| {
            let _ = max_pool2d(&pool, x.clone(), o).sum().backward();
        });
    }
    let plain = Device::flex();
    let bn = BatchNormConfig::new(16).init(&plain);
    let x = Tensor::<4>::random([256, 16, 28, 28], Distribution::Normal(0.0, 1.0), &plain);
    compare("eval bn + relu 16x28x28, batch 256", 10, |o| {
        let _ = batch_norm_relu(&bn, &Relu::new(), x.clone(), o).into_data();
    });
}
