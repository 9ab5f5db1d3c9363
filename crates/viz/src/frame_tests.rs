use super::*;
use crate::geometry::{Geometry, MarginBand};
use crate::palette::class_color;
use crate::project::Camera;

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("class {i}")).collect()
}

fn load(path: &Path) -> image::RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

fn near(p: &image::Rgb<u8>, c: [u8; 3], tol: i32) -> bool {
    p.0.iter()
        .zip(c)
        .all(|(&a, b)| (a as i32 - b as i32).abs() <= tol)
}

/// Pixels of colour `c` (within `tol`) inside a `r`-pixel box around (x, y).
fn count_near(img: &image::RgbImage, (x, y): (f32, f32), r: i32, c: [u8; 3], tol: i32) -> usize {
    let mut n = 0;
    for dy in -r..=r {
        for dx in -r..=r {
            let (px, py) = (x as i32 + dx, y as i32 + dy);
            if px >= 0
                && py >= 0
                && (px as u32) < img.width()
                && (py as u32) < img.height()
                && near(img.get_pixel(px as u32, py as u32), c, tol)
            {
                n += 1;
            }
        }
    }
    n
}

/// Mean position of the pixels of colour `c`.
fn centroid(img: &image::RgbImage, c: [u8; 3], tol: i32) -> (f32, f32) {
    let (mut sx, mut sy, mut n) = (0f64, 0f64, 0f64);
    for (x, y, p) in img.enumerate_pixels() {
        if near(p, c, tol) {
            sx += x as f64;
            sy += y as f64;
            n += 1.0;
        }
    }
    assert!(n > 0.0, "no pixel of colour {c:?}");
    ((sx / n) as f32, (sy / n) as f32)
}

/// 3 classes of 2-D points at angles 0°, 90° and 180° (with varied lengths).
fn three_directions(per_class: usize) -> (Vec<f32>, Vec<i64>) {
    let mut points = Vec::new();
    let mut labels = Vec::new();
    for i in 0..per_class {
        let len = 0.5 + i as f32 * 0.1;
        points.extend([len, 0.0, 0.0, len, -len, 0.0]);
        labels.extend([0, 1, 2]);
    }
    (points, labels)
}

#[test]
fn png_has_the_requested_size_and_class_colours_where_expected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.png");
    let (points, labels) = three_directions(60);
    let class_names = names(3);
    let frame = FrameData {
        points: &points,
        dim: 2,
        labels: &labels,
        centers: &[],
        class_names: &class_names,
        title: "t".into(),
    };
    // No legend: its swatches would count as class-coloured pixels.
    let opts = RenderOptions {
        size: 400,
        max_legend: 0,
        ..RenderOptions::default()
    };
    render_frame(&path, &frame, &opts).unwrap();
    let img = load(&path);
    assert_eq!(img.dimensions(), (400, 400));

    let red = class_color(0);
    let (c0, c1, c2) = (
        centroid(&img, red, 40),
        centroid(&img, class_color(1), 40),
        centroid(&img, class_color(2), 40),
    );
    // Angle 0 is right of angle 180 at the same height; 90° is above, midway.
    assert!(
        c0.0 > c2.0 + 200.0 && (c0.1 - c2.1).abs() < 3.0,
        "{c0:?} {c2:?}"
    );
    assert!(
        c1.1 < c0.1 - 100.0 && (c1.0 - (c0.0 + c2.0) / 2.0).abs() < 3.0,
        "{c1:?}"
    );
    // ... and right where the layout puts the circle's rightmost point.
    let vp = Layout::new(400, 1, false).viewport;
    assert!(count_near(&img, vp.to_pixel(1.0, 0.0), 3, red, 40) > 20);
    assert_eq!(count_near(&img, vp.to_pixel(-1.0, 0.0), 6, red, 40), 0);
    // The centre of the circle is empty: there are no rays.
    assert_eq!(count_near(&img, vp.to_pixel(0.5, 0.0), 6, red, 60), 0);
}

#[test]
fn centre_rays_run_from_the_origin_in_the_class_colour_and_text_is_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rays.png");
    let (points, labels) = three_directions(5);
    let class_names = names(3);
    // Class 0's centre points down (270°), away from its points.
    let centers = [0.0, -3.0, 0.0, 1.0, -1.0, 0.0];
    let frame = FrameData {
        points: &points,
        dim: 2,
        labels: &labels,
        centers: &centers,
        class_names: &class_names,
        title: "Title".into(),
    };
    render_frame(&path, &frame, &RenderOptions::default()).unwrap();
    let img = load(&path);
    let vp = Layout::new(640, 1, true).viewport;
    assert!(count_near(&img, vp.to_pixel(0.0, -0.5), 2, class_color(0), 10) > 3);
    assert!(count_near(&img, vp.to_pixel(0.0, 0.5), 2, class_color(1), 10) > 3);

    let dark = |x0: u32, x1: u32, y0: u32, y1: u32| {
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&v| v < 110))
            .count()
    };
    assert!(dark(0, 640, 0, 40) > 30, "title text missing");
    assert!(dark(520, 640, 60, 200) > 30, "legend text missing");
}

#[test]
fn two_d_frames_draw_the_decision_boundary_when_asked() {
    // Centres at 0 and 90 degrees: their angular bisectors are at 45 and 225 degrees (by hand).
    let dir = tempfile::tempdir().unwrap();
    let (points, labels) = (vec![1.0, 0.0, 0.0, 1.0], vec![0, 1]);
    let class_names = names(2);
    let frame = FrameData {
        points: &points,
        dim: 2,
        labels: &labels,
        centers: &[1.0, 0.0, 0.0, 1.0],
        class_names: &class_names,
        title: "t".into(),
    };
    let grey = [170, 170, 170];
    let vp = Layout::new(400, 1, false).viewport;
    let on_bisector =
        |deg: f32, r: f32| vp.to_pixel(r * deg.to_radians().cos(), r * deg.to_radians().sin());
    let mut counts = Vec::new();
    for boundaries in [false, true] {
        let path = dir.path().join(format!("b{boundaries}.png"));
        let opts = RenderOptions {
            size: 400,
            max_legend: 0,
            geometry: Geometry {
                boundaries,
                band: MarginBand::None,
            },
            ..RenderOptions::default()
        };
        render_frame(&path, &frame, &opts).unwrap();
        let img = load(&path);
        counts.push([45.0, 225.0].map(|deg| count_near(&img, on_bisector(deg, 0.6), 2, grey, 12)));
        // Off the bisectors (at 135 degrees, between no neighbours) nothing grey is drawn.
        assert_eq!(count_near(&img, on_bisector(135.0, 0.6), 2, grey, 12), 0);
    }
    assert_eq!(counts[0], [0, 0], "no boundaries unless asked");
    assert!(
        counts[1].iter().all(|&c| c > 2),
        "boundaries at 45 and 225 degrees: {counts:?}"
    );
}

#[test]
fn sphere_front_point_covers_its_antipode_and_the_pole_is_above() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.png");
    let toward = Camera::fixed().toward();
    let mut points = Vec::new();
    let mut labels = Vec::new();
    for _ in 0..40 {
        points.extend(toward);
        points.extend(toward.map(|v| -v));
        points.extend([0.0, 0.0, 2.0]);
        labels.extend([0, 1, 2]);
    }
    let class_names = names(3);
    let frame = FrameData {
        points: &points,
        dim: 3,
        labels: &labels,
        centers: &[],
        class_names: &class_names,
        title: String::new(),
    };
    render_frame(&path, &frame, &RenderOptions::default()).unwrap();
    let img = load(&path);
    let vp = Layout::new(640, 0, true).viewport;
    let (cx, cy) = (vp.cx as u32, vp.cy as u32);
    assert!(
        near(img.get_pixel(cx, cy), class_color(0), 12),
        "{:?}",
        img.get_pixel(cx, cy)
    );
    assert_eq!(
        count_near(&img, (vp.cx, vp.cy), 20, class_color(1), 40),
        0,
        "the back point shows through"
    );
    let pole = vp.to_pixel(0.0, 20f32.to_radians().cos());
    assert!(count_near(&img, pole, 2, class_color(2), 30) > 5);
}

#[test]
fn more_than_three_dimensions_go_through_pca() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pca.png");
    let mut points = Vec::new();
    let mut labels = Vec::new();
    for i in 0..300 {
        let c = i % 4;
        let mut p = [0.05 * (i % 7) as f32; 6];
        p[c] += 3.0;
        points.extend(p);
        labels.push(c as i64);
    }
    let centers: Vec<f32> = (0..4)
        .flat_map(|c| (0..6).map(move |j| if j == c { 1.0 } else { 0.0 }))
        .collect();
    let class_names = names(4);
    let frame = FrameData {
        points: &points,
        dim: 6,
        labels: &labels,
        centers: &centers,
        class_names: &class_names,
        title: "six".into(),
    };
    render_frame(
        &path,
        &frame,
        &RenderOptions {
            size: 256,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(load(&path).dimensions(), (256, 256));
}

#[test]
fn bad_frames_are_rejected_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.png");
    let class_names = names(2);
    let opts = RenderOptions::default();
    let attempt = |points: &[f32], dim: usize, labels: &[i64], centers: &[f32]| {
        let frame = FrameData {
            points,
            dim,
            labels,
            centers,
            class_names: &class_names,
            title: String::new(),
        };
        render_frame(&path, &frame, &opts).unwrap_err().to_string()
    };
    let e = attempt(&[1.0, 2.0], 1, &[0, 1], &[]);
    assert!(e.contains("bad.png") && e.contains("dimension 1"), "{e}");
    let e = attempt(&[1.0, 2.0, 3.0, 4.0], 2, &[0], &[]);
    assert!(e.contains("one label per point (2)"), "{e}");
    let e = attempt(&[1.0, 2.0], 2, &[5], &[]);
    assert!(e.contains("label 5"), "{e}");
    let e = attempt(&[1.0, 2.0], 2, &[1], &[1.0, 0.0]);
    assert!(e.contains("centers"), "{e}");
    let frame = FrameData {
        points: &[],
        dim: 2,
        labels: &[],
        centers: &[],
        class_names: &class_names,
        title: String::new(),
    };
    let e = render_frame(
        &path,
        &frame,
        &RenderOptions {
            size: 10,
            ..opts.clone()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("10 px"), "{e}");
    assert!(!path.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no temp files left"
    );
}

#[test]
fn zero_and_nan_points_are_skipped_and_the_legend_overflows_politely() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.png");
    let class_names = names(30);
    let points = [0.0, 0.0, f32::NAN, 1.0, 1.0, 1.0];
    let frame = FrameData {
        points: &points,
        dim: 2,
        labels: &[0, 1, 29],
        centers: &[],
        class_names: &class_names,
        title: "a\nb".into(),
    };
    render_frame(
        &path,
        &frame,
        &RenderOptions {
            size: 200,
            max_legend: 5,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(load(&path).dimensions(), (200, 200));
    // A legend that cannot fit even its rows shrinks to what fits.
    let labels = Legend {
        x: 0.0,
        y0: 0.0,
        y1: 20.0,
        width: 100.0,
        px: 10.0,
    }
    .draw(&mut Canvas::new(100), &class_names, 20);
    assert_eq!(
        labels.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
        ["+30 more"]
    );
    let labels = Legend {
        x: 0.0,
        y0: 0.0,
        y1: 600.0,
        width: 100.0,
        px: 10.0,
    }
    .draw(&mut Canvas::new(100), &class_names, 4);
    assert_eq!(labels.len(), 5);
    assert_eq!(labels[4].text, "+26 more");
}

/// Prints the time per 8,000-point frame; run with
/// `cargo test --release -p viz -- --ignored --nocapture frame_timing`.
#[test]
#[ignore]
fn frame_timing() {
    let dir = tempfile::tempdir().unwrap();
    let class_names = names(10);
    for dim in [2usize, 3, 64] {
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
        let frame = FrameData {
            points: &points,
            dim,
            labels: &labels,
            centers: &centers,
            class_names: &class_names,
            title: "run · train\nepoch 7/20 · loss 0.41 · acc 93.1%".into(),
        };
        let opts = RenderOptions::default();
        let pca = (dim > 3).then(|| Pca::fit(&points, dim, 3));
        let path = dir.path().join(format!("t{dim}.png"));
        render_frame(&path, &frame, &opts).unwrap(); // warm-up (font registration)
        let runs = 10;
        let t = std::time::Instant::now();
        for _ in 0..runs {
            std::hint::black_box(draw_frame(&path, &frame, &opts, pca.as_ref()).unwrap());
        }
        let draw = t.elapsed() / runs;
        let canvas = draw_frame(&path, &frame, &opts, pca.as_ref()).unwrap();
        let t = std::time::Instant::now();
        for _ in 0..runs {
            write_png(&path, &canvas).unwrap();
        }
        let png = t.elapsed() / runs;
        let t = std::time::Instant::now();
        for _ in 0..runs {
            render_frame(&path, &frame, &opts).unwrap();
        }
        let total = t.elapsed() / runs;
        let mut gif =
            crate::gif::GifWriter::create(&dir.path().join("t.gif"), opts.size, opts.frame_ms)
                .unwrap();
        let t = std::time::Instant::now();
        for _ in 0..runs {
            gif.push(&canvas).unwrap();
        }
        let gif_frame = t.elapsed() / runs;
        gif.finish(opts.last_frame_ms).unwrap();
        println!(
            "dim {dim}: draw {draw:?} + png {png:?}; render_frame {total:?}; gif frame {gif_frame:?} (640 px, 8000 points)"
        );
        // To look at the result: VIZ_PREVIEW_DIR=/some/folder
        if let Some(out) = std::env::var_os("VIZ_PREVIEW_DIR") {
            std::fs::copy(&path, Path::new(&out).join(format!("timing_{dim}d.png"))).unwrap();
        }
    }
}
