//! Kernel throughput: the ArcFace head forward+backward over batch 256 x classes x dims, one
//! VGG8 training step, and drawing one frame of 8,000 points.
//!
//! `cargo bench -p cli --bench kernels` (flex, the default CPU backend). Every measured closure
//! ends with `device.sync()`, so that a backend that queues work is timed to completion.
//! A subset: `cargo bench -p cli --bench kernels -- render_frame`.

#![allow(clippy::expect_used)] // a benchmark that cannot set up has nothing to report

use arcface_core::{
    CosineHeadConfig, EmbeddingNetConfig, HeadConfig, LabelledBatch, Vgg8Config, cross_entropy,
};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn device() -> Device {
    #[cfg(feature = "flex")]
    return Device::flex();
    #[cfg(all(not(feature = "flex"), feature = "wgpu"))]
    return Device::wgpu(Default::default());
    #[allow(unreachable_code)]
    Device::default()
}

fn targets(batch: usize, classes: usize, device: &Device) -> Tensor<1, Int> {
    let t: Vec<i64> = (0..batch).map(|i| (i * 7919 % classes) as i64).collect();
    Tensor::from_data(TensorData::new(t, [batch]), device)
}

fn arcface_head(c: &mut Criterion) {
    let device = device().autodiff();
    let mut group = c.benchmark_group("arcface_head_fwd_bwd");
    group.sample_size(20);
    let batch = 256;
    let grid = [10usize, 1000, 10177]
        .into_iter()
        .flat_map(|c| [2usize, 3, 128, 512].map(|d| (c, d)));
    for (classes, dim) in grid {
        let head = CosineHeadConfig::arcface(dim, classes)
            .init(&device)
            .expect("valid head");
        let x = Tensor::<2>::random([batch, dim], Distribution::Normal(0.0, 1.0), &device)
            .require_grad();
        let t = targets(batch, classes, &device);
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("b{batch}_c{classes}_d{dim}")),
            &(),
            |b, _| {
                b.iter(|| {
                    let out = head.forward(x.clone(), t.clone());
                    let grads = cross_entropy(out.train_logits, t.clone()).backward();
                    drop(grads);
                    device.sync().expect("device runs");
                })
            },
        );
    }
    group.finish();
}

fn vgg8_train_step(c: &mut Criterion) {
    // As `arcface-lab` does: malloc's thresholds raised for the kernels' buffers, this thread
    // one of rayon's, working in the kernels' parallel sections instead of sleeping through
    // them, and before each step the other threads told to spin for work (5 ms, as training).
    kernels::tune_malloc();
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse().ok());
    kernels::join_cpu_pool(threads);
    let device = device().autodiff();
    let mut group = c.benchmark_group("vgg8_train_step");
    group.sample_size(10);
    for &(name, channels, side, batch) in &[
        ("mnist_1x28x28_b32", 1, 28, 32),
        ("faces_3x32x32_b32", 3, 32, 32),
    ] {
        let config = EmbeddingNetConfig::new(
            Vgg8Config::new(channels, side, side, 3).into(),
            HeadConfig::Cosine(CosineHeadConfig::arcface(3, 10)),
        );
        let mut model = config.init(&device).expect("valid network");
        let mut optim = AdamConfig::new().init();
        let images = Tensor::<4>::random(
            [batch, channels, side, side],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let t = targets(batch, 10, &device);
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                kernels::keep_pool_warm(std::time::Duration::from_millis(5));
                let out = model
                    .forward(LabelledBatch {
                        images: images.clone(),
                        targets: t.clone(),
                    })
                    .output;
                let grads = GradientsParams::from_grads(out.loss.backward(), &model);
                model = optim.step(1e-3, model.clone(), grads);
                device.sync().expect("device runs");
            })
        });
    }
    group.finish();
}

/// One 640x640 PNG frame of 8,000 points in 10 classes (the seed's matplotlib: ~2 s here).
fn render_frame(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let class_names: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    let mut group = c.benchmark_group("render_frame");
    group.sample_size(20);
    for dim in [2usize, 3] {
        let mut seed = 1u32;
        let mut rnd = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
        };
        let labels: Vec<i64> = (0..8000).map(|i| (i % 10) as i64).collect();
        let centers: Vec<f32> = (0..10 * dim).map(|_| rnd()).collect();
        let points: Vec<f32> = labels
            .iter()
            .flat_map(|&l| {
                (0..dim)
                    .map(|j| centers[l as usize * dim + j] + 0.3 * rnd())
                    .collect::<Vec<_>>()
            })
            .collect();
        let frame = viz::FrameData {
            points: &points,
            dim,
            labels: &labels,
            centers: &centers,
            class_names: &class_names,
            title: "bench · train\nepoch 7/20".into(),
        };
        let opts = viz::RenderOptions::default();
        let path = dir.path().join(format!("frame_{dim}d.png"));
        group.throughput(Throughput::Elements(8000));
        group.bench_function(format!("n8000_d{dim}_png"), |b| {
            b.iter(|| viz::render_frame(&path, &frame, &opts).expect("frame renders"))
        });
    }
    group.finish();
}

criterion_group!(benches, arcface_head, vgg8_train_step, render_frame);
criterion_main!(benches);
