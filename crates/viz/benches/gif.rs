//! Criterion bench of the GIF encoder: one 640-px frame like the demo's (2-D, 8 classes, 1,200
//! points, title, legend, rays) appended to an animation. Consecutive pushes alternate between
//! the epochs of a short run, so an encoder that only stores what changed is timed on real
//! changes. Before timing it prints the size of the whole 30-frame GIF, the other half of the
//! encoder's trade-off, and how far its decoded pixels are from the drawn ones.
//! `cargo bench -p viz --bench gif`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failure is a crash

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use image::AnimationDecoder;
use viz::{FrameData, GifWriter, RenderOptions, render_frame};

const SIZE: u32 = 640;
const EPOCHS: u32 = 30;
const CLASSES: usize = 8;
const POINTS: usize = 1200;

/// The RGB pixels of epoch `epoch`: classes start mixed and pull apart towards
/// their own directions as the epochs pass, as the demo's do.
fn demo_frame(dir: &Path, epoch: u32, names: &[String]) -> Vec<u8> {
    let mut seed = 7u32;
    let mut rnd = || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
    };
    let progress = epoch as f32 / EPOCHS as f32;
    let spread = 2.5 * (1.0 - progress) + 0.15;
    let labels: Vec<i64> = (0..POINTS).map(|i| (i % CLASSES) as i64).collect();
    let direction = |class: usize| {
        class as f32 * std::f32::consts::TAU / CLASSES as f32 + 0.8 * (1.0 - progress)
    };
    let points: Vec<f32> = labels
        .iter()
        .flat_map(|&l| {
            let a = direction(l as usize) + spread * rnd();
            [a.cos(), a.sin()]
        })
        .collect();
    let centers: Vec<f32> = (0..CLASSES)
        .flat_map(|k| [direction(k).cos(), direction(k).sin()])
        .collect();
    let frame = FrameData {
        points: &points,
        dim: 2,
        labels: &labels,
        centers: &centers,
        class_names: names,
        title: format!(
            "demo · val\nepoch {epoch}/{EPOCHS} · loss {:.2} · acc {:.1}%",
            2.0 / epoch as f32,
            100.0 * progress
        ),
    };
    let png = dir.join(format!("epoch_{epoch:03}.png"));
    let opts = RenderOptions {
        size: SIZE,
        ..Default::default()
    };
    render_frame(&png, &frame, &opts).unwrap();
    image::open(&png).unwrap().to_rgb8().into_raw()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..CLASSES).map(|k| format!("id {}", 1000 + k)).collect();
    let frames: Vec<Vec<u8>> = (1..=EPOCHS)
        .map(|e| demo_frame(dir.path(), e, &names))
        .collect();

    let whole = dir.path().join("whole.gif");
    let mut gif = GifWriter::create_rect(&whole, (SIZE, SIZE), 125).unwrap();
    for f in &frames {
        gif.push_rgb(f, (SIZE, SIZE)).unwrap();
    }
    gif.finish(3000).unwrap();
    let bytes = std::fs::metadata(&whole).unwrap().len();
    eprintln!("{EPOCHS} frames of {SIZE} px: {bytes} bytes");
    report_error(&whole, &frames);

    let mut gif = GifWriter::create_rect(&dir.path().join("t.gif"), (SIZE, SIZE), 125).unwrap();
    let mut next = 0;
    c.bench_function("gif/push_640px_frame", |b| {
        b.iter(|| {
            gif.push_rgb(black_box(&frames[next % frames.len()]), (SIZE, SIZE))
                .unwrap();
            next += 1;
        })
    });
}

/// Prints how the decoded GIF differs from the frames pushed: the share of pixels shown exactly,
/// the mean and the largest per-channel error, and the 99.9th percentile of a pixel's largest
/// channel error.
fn report_error(gif: &Path, frames: &[Vec<u8>]) {
    let file = std::io::BufReader::new(std::fs::File::open(gif).unwrap());
    let decoded = image::codecs::gif::GifDecoder::new(file)
        .unwrap()
        .into_frames()
        .collect_frames()
        .unwrap();
    assert_eq!(decoded.len(), frames.len());
    let (mut exact, mut sum, mut max, mut errors) = (0usize, 0u64, 0u8, Vec::new());
    for (got, want) in decoded.iter().zip(frames) {
        for (g, w) in got.buffer().pixels().zip(want.chunks_exact(3)) {
            let e = (0..3).map(|k| g.0[k].abs_diff(w[k])).max().unwrap_or(0);
            sum += (0..3)
                .map(|k| u64::from(g.0[k].abs_diff(w[k])))
                .sum::<u64>();
            exact += usize::from(e == 0);
            max = max.max(e);
            errors.push(e);
        }
    }
    errors.sort_unstable();
    let n = errors.len();
    eprintln!(
        "decoded vs drawn: {:.2}% of pixels exact, mean channel error {:.3}, \
         99.9th percentile {}, max {max}",
        100.0 * exact as f64 / n as f64,
        sum as f64 / (3 * n) as f64,
        errors[n * 999 / 1000]
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
