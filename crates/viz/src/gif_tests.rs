use image::AnimationDecoder;

use super::*;
use crate::canvas::Rgb;
use crate::frame::{FrameData, RenderOptions, draw_frame};
use crate::geometry::{Geometry, MarginBand};
use crate::gif_palette::{build_palette, distance2, nearest};

/// The frames of `path`, composited as a viewer shows them, with their delays in ms.
fn decode(path: &Path) -> Vec<(image::RgbaImage, u32)> {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    image::codecs::gif::GifDecoder::new(file)
        .unwrap()
        .into_frames()
        .collect_frames()
        .unwrap()
        .into_iter()
        .map(|f| {
            let (n, d) = f.delay().numer_denom_ms();
            (f.into_buffer(), n / d)
        })
        .collect()
}

/// A 2-D frame of epoch `epoch` of `epochs`: `classes` classes pull apart as the epochs pass.
fn drawn_frame(size: u32, classes: usize, epoch: u32, epochs: u32, dim: usize) -> Canvas {
    let mut seed = 3u32;
    let mut rnd = || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
    };
    let progress = epoch as f32 / epochs as f32;
    let spread = 2.0 * (1.0 - progress) + 0.2;
    let labels: Vec<i64> = (0..600).map(|i| (i % classes) as i64).collect();
    let direction = |k: usize| k as f32 * std::f32::consts::TAU / classes as f32 + progress;
    let mut points = Vec::new();
    for &l in &labels {
        let a = direction(l as usize) + spread * rnd();
        points.extend([a.cos(), a.sin(), 0.3 * rnd()].iter().take(dim));
    }
    let centers: Vec<f32> = (0..classes)
        .flat_map(|k| {
            [direction(k).cos(), direction(k).sin(), 0.2]
                .into_iter()
                .take(dim)
        })
        .collect();
    let names: Vec<String> = (0..classes).map(|k| format!("class {k}")).collect();
    let frame = FrameData {
        points: &points,
        dim,
        labels: &labels,
        centers: &centers,
        class_names: &names,
        title: format!(
            "run · val\nepoch {epoch}/{epochs} · acc {:.1}%",
            100.0 * progress
        ),
    };
    let opts = RenderOptions {
        size,
        geometry: Geometry {
            boundaries: true,
            band: MarginBand::Angular(0.3),
        },
        // The globe alone, so that 2-D and 3-D frames share one square GIF.
        projection: crate::map::Projection::Globe,
        ..Default::default()
    };
    draw_frame(Path::new("test.png"), &frame, &opts, None).unwrap()
}

/// Checks every pixel of every decoded frame against the RGB frame pushed: a colour the
/// palette holds comes back exactly; any other comes back as its nearest palette entry (to
/// rounding ties). Returns each frame's largest channel error and the share of pixels shown
/// exactly.
fn assert_shown_as_pushed(gif: &Path, pushed: &[Vec<u8>]) -> (Vec<u8>, f64) {
    let decoded = decode(gif);
    assert_eq!(decoded.len(), pushed.len());
    let palette = build_palette(&pushed[0]);
    let mut worst = vec![0; pushed.len()];
    let (mut exact, mut pixels) = (0, 0);
    for (k, ((got, _), want)) in decoded.iter().zip(pushed).enumerate() {
        for (i, (g, w)) in got.pixels().zip(want.chunks_exact(3)).enumerate() {
            let (g, w): (Rgb, Rgb) = ([g.0[0], g.0[1], g.0[2]], [w[0], w[1], w[2]]);
            let at = || format!("frame {k}, pixel {i}: drawn {w:?}, shown {g:?}");
            if palette.contains(&w) {
                assert_eq!(g, w, "{}", at());
            } else {
                let best = palette[nearest(&palette, w) as usize];
                assert_eq!(distance2(g, w), distance2(best, w), "{}", at());
            }
            let error = (0..3).map(|c| g[c].abs_diff(w[c])).max().unwrap_or(0);
            worst[k] = worst[k].max(error);
            exact += usize::from(error == 0);
            pixels += 1;
        }
    }
    (worst, exact as f64 / pixels as f64)
}

/// Any colour is within 64 levels a channel of a point of the palette's 3-level cube (levels
/// 0, 128, 255), so its nearest entry is within 64·√3 ≈ 110.9 in RGB distance, and so within
/// 110 levels on every channel.
const ANY_COLOR_BOUND: u8 = 110;

/// Frames as drawn: 2-D ones with boundaries and bands, one repeated, then (from the same
/// palette) 3-D ones, whose faded colours the first frame never showed.
#[test]
fn drawn_frames_come_back_pixel_for_pixel_within_the_palette_rounding() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anim.gif");
    let mut frames: Vec<Canvas> = (1..=4).map(|e| drawn_frame(200, 8, e, 4, 2)).collect();
    frames.push(drawn_frame(200, 8, 4, 4, 2)); // unchanged: a frame of one pixel
    frames.extend((1..=2).map(|e| drawn_frame(200, 8, e, 2, 3)));
    let mut gif = GifWriter::create(&path, 200, 100).unwrap();
    for f in &frames {
        gif.push(f).unwrap();
    }
    assert_eq!(gif.finish(1000).unwrap(), path);
    let pushed: Vec<Vec<u8>> = frames.into_iter().map(|c| c.buf).collect();
    let (worst, exact) = assert_shown_as_pushed(&path, &pushed);
    // Most pixels (white, greys, dots' colours) are palette colours, shown exactly.
    assert!(exact > 0.8, "{exact}");
    assert!(
        worst[0] > 0,
        "some pixels need rounding, or the test proves little"
    );
    // The 2-D frames' colours are what the palette was built for: the largest errors, where
    // the dots of two classes or a ray's edge and its dark outline mix, were 23-33 levels
    // when this was written; 40 guards against a palette that covers them worse.
    assert!(worst[..5].iter().all(|&e| e <= 40), "{worst:?}");
    assert!(worst.iter().all(|&e| e <= ANY_COLOR_BOUND), "{worst:?}");
}

/// Arbitrary colours: each pixel is shown as its nearest palette entry, in frames of any
/// shape and with arbitrary changes between frames.
#[test]
fn noise_is_shown_as_its_nearest_palette_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("noise.gif");
    let (w, h) = (37u32, 23u32);
    let mut seed = 11u32;
    let mut byte = || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 24) as u8
    };
    let mut frames = vec![vec![255u8; (w * h * 3) as usize]];
    for k in 0..4 {
        let mut f = frames[frames.len() - 1].clone();
        // Frame k changes a band of rows (the last one: nothing).
        for px in f
            .chunks_exact_mut(3)
            .skip(k * 150)
            .take(if k < 3 { 300 } else { 0 })
        {
            px.copy_from_slice(&[byte(), byte(), byte()]);
        }
        frames.push(f);
    }
    let mut gif = GifWriter::create_rect(&path, (w, h), 40).unwrap();
    for f in &frames {
        gif.push_rgb(f, (w, h)).unwrap();
    }
    gif.finish(40).unwrap();
    let (worst, _) = assert_shown_as_pushed(&path, &frames);
    assert!(worst.iter().all(|&e| e <= ANY_COLOR_BOUND), "{worst:?}");
    assert!(
        worst[1] > 20,
        "noise needs rounding, or the test proves little"
    );
}

#[test]
fn every_frame_keeps_its_delay_and_the_last_is_held_longer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("delays.gif");
    let mut gif = GifWriter::create(&path, 64, 125).unwrap();
    for k in 0..3u8 {
        gif.push_rgb(&[k * 100; 64 * 64 * 3], (64, 64)).unwrap();
    }
    gif.finish(3000).unwrap();
    // 125 ms rounds to GIF's 10 ms ticks.
    let delays: Vec<u32> = decode(&path).iter().map(|(_, d)| *d).collect();
    assert_eq!(delays, [130, 130, 3000]);

    let one = dir.path().join("one.gif");
    let mut gif = GifWriter::create(&one, 64, 125).unwrap();
    gif.push_rgb(&[0; 64 * 64 * 3], (64, 64)).unwrap();
    gif.finish(2001).unwrap();
    assert_eq!(decode(&one)[0].1, 2010);
}

/// A GIF that fails half-way, or is never finished, leaves neither the file nor its temp file.
#[test]
fn an_unfinished_gif_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.gif");
    let files = || std::fs::read_dir(dir.path()).unwrap().count();

    let mut gif = GifWriter::create(&path, 64, 100).unwrap();
    gif.push_rgb(&[0; 64 * 64 * 3], (64, 64)).unwrap();
    let err = gif
        .push_rgb(&[0; 32 * 32 * 3], (32, 32))
        .unwrap_err()
        .to_string();
    assert!(err.contains("a.gif") && err.contains("32x32"), "{err}");
    assert_eq!(files(), 1, "the temp file, until the writer is dropped");
    drop(gif);
    assert_eq!(files(), 0);

    let gif = GifWriter::create(&path, 64, 100).unwrap();
    let err = gif.finish(100).unwrap_err().to_string();
    assert!(
        err.contains("a.gif") && err.contains("at least one frame"),
        "{err}"
    );
    assert_eq!(files(), 0);

    let err = GifWriter::create_rect(&path, (70_000, 10), 100)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("a.gif") && err.contains("65535"), "{err}");
    // A folder where the file should go: the error names the temp file beside it.
    std::fs::write(dir.path().join("blocker"), b"").unwrap();
    let err = GifWriter::create(&dir.path().join("blocker/b.gif"), 64, 100)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("blocker"), "{err}");
}
