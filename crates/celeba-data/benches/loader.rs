//! Criterion benches of the two hot paths: decoding + resizing one CelebA-sized JPEG (the cache
//! build's unit of work, per core) and batching 256 cached 64x64x3 images into a tensor (the
//! training loader's unit of work). `cargo bench -p celeba-data --bench loader`.
//!
//! Whole-pipeline figures (cache build on all cores, projected CelebA time, mapped loader) come
//! from `examples/data_bench.rs`; see `benches/pil_compare.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failure is a crash

use std::hint::black_box;
use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::Device;
use celeba_data::{AugmentConfig, ImageBatcher, ImageStore, SplitDataset, decode_image};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder};

fn jpeg_file(dir: &std::path::Path) -> std::path::PathBuf {
    let (w, h) = (178u32, 218u32);
    let mut state = 12345u32;
    let rgb: Vec<u8> = (0..w * h * 3)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let (x, y) = ((i / 3) % w, (i / 3) / w);
            let smooth = ((x as f32 * 0.2).sin() * 60.0 + y as f32 * 0.5 + 90.0) as u32;
            (smooth + state % 20).min(255) as u8
        })
        .collect();
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 90)
        .write_image(&rgb, w, h, ExtendedColorType::Rgb8)
        .unwrap();
    let path = dir.join("face.jpg");
    std::fs::write(&path, jpeg).unwrap();
    path
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = jpeg_file(dir.path());
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(1));
    group.bench_function("jpeg_178x218_to_64x64_rgb", |b| {
        b.iter(|| black_box(decode_image(&path, 64, false).unwrap()))
    });
    group.finish();

    let n = 2048;
    let shape = [3, 64, 64];
    let data: Vec<u8> = (0..n * 3 * 64 * 64).map(|i| (i % 251) as u8).collect();
    let store = ImageStore::from_parts(
        shape,
        data,
        (0..n as u32).map(|i| i % 100).collect(),
        (0..n).map(|i| i.to_string()).collect(),
    )
    .unwrap();
    let split = SplitDataset::new(Arc::new(store), (0..n).collect()).unwrap();
    let device = Device::flex();
    let mut group = c.benchmark_group("batch256_64x64x3");
    group.throughput(Throughput::Elements(256));
    let mut round = 0;
    for (name, batcher) in [
        ("plain", ImageBatcher::default()),
        (
            "augmented",
            ImageBatcher::with_augment(
                AugmentConfig {
                    horizontal_flip: true,
                    crop_padding: 4,
                    brightness: 0.2,
                    contrast: 0.2,
                },
                1,
            ),
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                round += 1;
                let items = (0..256)
                    .map(|k| split.item((round * 256 + k) % n))
                    .collect();
                black_box(batcher.batch(items, &device))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
