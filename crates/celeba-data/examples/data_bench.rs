//! Measures the data pipeline on generated CelebA-sized JPEGs (178x218, quality 90).
//!
//! ```text
//! cargo run --release -p celeba-data --example data_bench -- gen    <dir> <count>
//! cargo run --release -p celeba-data --example data_bench -- decode <dir> <size>
//! cargo run --release -p celeba-data --example data_bench -- build  <dir> <size> <cache dir>
//! ```
//!
//! `gen` writes a CelebA-layout folder (`img_align_celeba/`, `identity_CelebA.txt`, 20 images
//! per identity); `decode` decodes and resizes every image on one thread (the per-core rate);
//! `build` builds the cache on all cores, maps it again, and times batches of 256 through
//! [`ImageBatcher`] on the CPU (`flex`) device. Each prints one `key=value` line per figure.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark tool: a failure is a crash

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::Device;
use celeba_data::{CelebaConfig, DataConfig, HeldOut, ImageBatcher, decode_image, load};
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder};

const WIDTH: u32 = 178;
const HEIGHT: u32 = 218;
const PER_IDENTITY: usize = 20;
const CELEBA_IMAGES: f64 = 202_599.0;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["gen", dir, count] => generate(Path::new(dir), count.parse().unwrap()),
        ["decode", dir, size] => decode(Path::new(dir), size.parse().unwrap()),
        ["build", dir, size, cache] => {
            build(Path::new(dir), size.parse().unwrap(), Path::new(cache))
        }
        _ => {
            eprintln!(
                "usage: data_bench gen <dir> <count> | decode <dir> <size> | build <dir> <size> <cache dir>"
            );
            std::process::exit(2);
        }
    }
}

/// A face-sized picture with smooth shading, edges and sensor-like noise, so that the JPEG
/// decoder has about as much work as on a real photo.
fn picture(seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 9) as f32 - 4.0
    };
    let (cx, cy) = (89.0 + (seed % 7) as f32, 110.0 + (seed % 5) as f32);
    let mut rgb = Vec::with_capacity((WIDTH * HEIGHT * 3) as usize);
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            let face = ((dx / 55.0).powi(2) + (dy / 72.0).powi(2)) < 1.0;
            let base = if face {
                [200.0, 160.0, 130.0]
            } else {
                [40.0 + y as f32 * 0.5, 90.0, 140.0 - x as f32 * 0.3]
            };
            let stripe = ((x as f32 * 0.21 + y as f32 * 0.07 + seed as f32).sin()) * 18.0;
            for b in base {
                rgb.push((b + stripe + noise()).clamp(0.0, 255.0) as u8);
            }
        }
    }
    rgb
}

fn generate(dir: &Path, count: usize) {
    let images = dir.join("img_align_celeba");
    std::fs::create_dir_all(&images).unwrap();
    let mut lines = String::new();
    let mut bytes = 0u64;
    for i in 0..count {
        let name = format!("{:06}.jpg", i + 1);
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, 90)
            .write_image(&picture(i as u32), WIDTH, HEIGHT, ExtendedColorType::Rgb8)
            .unwrap();
        bytes += jpeg.len() as u64;
        std::fs::write(images.join(&name), jpeg).unwrap();
        lines.push_str(&format!("{name} {}\n", i / PER_IDENTITY + 1));
    }
    std::fs::write(dir.join("identity_CelebA.txt"), lines).unwrap();
    println!(
        "generated={count} size={WIDTH}x{HEIGHT} mean_bytes={}",
        bytes / count.max(1) as u64
    );
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir.join("img_align_celeba"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    out
}

fn decode(dir: &Path, size: usize) {
    let files = files(dir);
    // Warm the page cache so the figure is decoding, not disk.
    for f in &files {
        std::fs::read(f).unwrap();
    }
    let start = Instant::now();
    for f in &files {
        decode_image(f, size, false).unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "decode_resize_one_thread images={} seconds={secs:.3} images_per_s={:.0}",
        files.len(),
        files.len() as f64 / secs
    );
}

fn build(dir: &Path, size: usize, cache: &Path) {
    let config = DataConfig::Celeba(CelebaConfig {
        image_size: size,
        held_out: HeldOut::None,
        val_fraction: 0.0,
        cache: true,
        cache_dir: Some(cache.to_owned()),
        ..CelebaConfig::new(dir)
    });
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let start = Instant::now();
    let data = load(&config, 1).unwrap();
    let build_secs = start.elapsed().as_secs_f64();
    let info = data.cache.clone().unwrap();
    let n = data.train.len();
    let rate = n as f64 / build_secs;
    println!(
        "cache_build images={n} cores={cores} built={} seconds={build_secs:.2} images_per_s={rate:.0} \
         images_per_s_per_core={:.0} projected_celeba_s={:.0} cache_bytes={}",
        info.built,
        rate / cores as f64,
        CELEBA_IMAGES / rate,
        info.bytes
    );
    drop(data);

    let start = Instant::now();
    let data = load(&config, 1).unwrap();
    println!(
        "cache_open images={n} built={} seconds={:.3} mapped={}",
        data.cache.as_ref().unwrap().built,
        start.elapsed().as_secs_f64(),
        data.train.store().is_memory_mapped()
    );

    let batcher = ImageBatcher::default();
    let device = Device::flex();
    let batch = 256;
    let rounds = (4 * n / batch).max(20);
    let start = Instant::now();
    for r in 0..rounds {
        let items = (0..batch)
            .map(|k| data.train.item((r * batch + k * 7) % n))
            .collect();
        let out = batcher.batch(items, &device);
        assert_eq!(out.images.dims()[0], batch);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "cached_loader batch={batch} shape={:?} batches={rounds} batches_per_s={:.1} images_per_s={:.0}",
        data.shape,
        rounds as f64 / secs,
        (rounds * batch) as f64 / secs
    );
}
