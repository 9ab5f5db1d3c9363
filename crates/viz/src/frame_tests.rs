use super::*;
use crate::geometry::{Geometry, MarginBand};
use crate::hammer;
use crate::map::direction;
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
    let vp = Layout::new(400, 1, false, None).viewport.unwrap();
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
    let vp = Layout::new(640, 1, true, None).viewport.unwrap();
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
    let vp = Layout::new(400, 1, false, None).viewport.unwrap();
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
    let layout = Layout::new(640, 0, true, Some(Projection::Both));
    let vp = layout.viewport.unwrap();
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
    // On the map beside it, the pole is the top of the ellipse (0, √2), the camera's own
    // direction the middle, and its antipode the ends of the major axis (the seam).
    let map = layout.map.unwrap();
    let at = |x: f64, y: f64| map.to_pixel((x, y));
    assert!(count_near(&img, at(0.0, 2f64.sqrt()), 3, class_color(2), 40) > 5);
    let toward = hammer::forward(0.0, 20f64.to_radians());
    assert!(count_near(&img, at(toward.0, toward.1), 3, class_color(0), 40) > 5);
    let back = hammer::forward(std::f64::consts::PI, -20f64.to_radians());
    let on_rim = count_near(&img, at(back.0, back.1), 3, class_color(1), 40)
        + count_near(&img, at(-back.0, back.1), 3, class_color(1), 40);
    assert!(on_rim > 5, "{on_rim}");
}

/// Pixels of `img` in columns `x0..x1` that look like dots of `c` drawn over white at full
/// strength (not the washed-out colours of the globe's back face).
fn strong_pixels(img: &image::RgbImage, c: [u8; 3], x0: u32, x1: u32) -> Vec<(u32, u32)> {
    img.enumerate_pixels()
        .filter(|&(x, _, p)| (x0..x1).contains(&x) && near(p, c, 60))
        .map(|(x, y, _)| (x, y))
        .collect()
}

#[test]
fn points_behind_the_globe_are_seen_on_the_map() {
    // Class 0 lies far behind the globe: 150° east of the map's centre (the camera's azimuth),
    // 10° south, 149° from the camera (cos = -0.861).
    let dir = tempfile::tempdir().unwrap();
    let back = direction(150f64.to_radians(), -10f64.to_radians()).map(|v| v as f32);
    let toward = Camera::fixed().toward();
    assert!(back.iter().zip(toward).map(|(a, b)| a * b).sum::<f32>() < -0.85);
    // A 5 x 5 patch of points 1° apart around it.
    let mut points = Vec::new();
    for i in -2..=2 {
        for j in -2..=2 {
            let p = direction(
                f64::from(150 + i).to_radians(),
                f64::from(-10 + j).to_radians(),
            );
            points.extend(p.map(|v| v as f32));
        }
    }
    let labels = vec![0; 25];
    let class_names = names(1);
    let frame = FrameData {
        points: &points,
        dim: 3,
        labels: &labels,
        centers: &[],
        class_names: &class_names,
        title: "far side".into(),
    };
    let colour = class_color(0);
    let draw = |projection: Projection| {
        let path = dir.path().join(format!("{projection}.png"));
        let opts = RenderOptions {
            size: 320,
            max_legend: 0,
            projection,
            ..RenderOptions::default()
        };
        render_frame(&path, &frame, &opts).unwrap();
        if let Some(out) = std::env::var_os("VIZ_PREVIEW_DIR") {
            std::fs::copy(&path, Path::new(&out).join(format!("far_{projection}.png"))).unwrap();
        }
        load(&path)
    };

    // The globe alone, as before the map: the class is only a washed-out smudge.
    let globe = draw(Projection::Globe);
    assert_eq!(globe.dimensions(), (320, 320));
    assert_eq!(strong_pixels(&globe, colour, 0, 320).len(), 0);

    // Globe and map: 2:1, the same smudge on the globe's half, and the class in full colour on
    // the map, where Hammer puts (150°, -10°): (2.401806, -0.219221) by hand.
    let both = draw(Projection::Both);
    assert_eq!(both.dimensions(), (640, 320));
    let map = Layout::new(320, 1, false, Some(Projection::Both))
        .map
        .unwrap();
    let globe_right = Layout::new(320, 1, false, Some(Projection::Both))
        .viewport
        .map(|vp| vp.cx + vp.radius)
        .unwrap();
    assert!(
        map.cx - map.half_size().0 > globe_right,
        "map right of the globe"
    );
    let strong = strong_pixels(&both, colour, 0, 640);
    assert!(strong.len() > 20, "{}", strong.len());
    assert!(strong.iter().all(|&(x, _)| x as f32 > globe_right));
    let (ex, ey) = map.to_pixel((2.401_806, -0.219_221));
    let (mx, my) = centroid(&both, colour, 60);
    assert!(
        (mx - ex).abs() < 1.5 && (my - ey).abs() < 1.5,
        "({mx}, {my}) vs ({ex}, {ey})"
    );

    // The map alone: no globe, the class where the map puts it.
    let only = draw(Projection::Map);
    assert_eq!(only.dimensions(), (640, 320));
    let map = Layout::new(320, 1, false, Some(Projection::Map))
        .map
        .unwrap();
    let (ex, ey) = map.to_pixel((2.401_806, -0.219_221));
    let (mx, my) = centroid(&only, colour, 60);
    assert!(
        (mx - ex).abs() < 1.5 && (my - ey).abs() < 1.5,
        "({mx}, {my}) vs ({ex}, {ey})"
    );
}

/// Grey pixels darker than 215 inside a `r`-pixel box around (x, y).
fn dark_grey_near(img: &image::RgbImage, (x, y): (f32, f32), r: i32) -> usize {
    let mut n = 0;
    for dy in -r..=r {
        for dx in -r..=r {
            let [a, b, c] = img
                .get_pixel((x as i32 + dx) as u32, (y as i32 + dy) as u32)
                .0;
            if a < 215 && a.abs_diff(b) <= 3 && a.abs_diff(c) <= 3 {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn the_map_draws_boundaries_and_bands_and_cuts_them_at_the_seam() {
    // Two opposite centres at ±n, n at latitude 45° on the central meridian: the boundary is
    // the great circle 90° from n, which crosses the seam at 45° N (map point (±2, 1) by hand:
    // cos φ = sin φ = √2/2, cos(λ/2) = 0) and the central meridian at 45° S (0, -0.765367).
    // Drawn across the seam instead of cut there, it would run along y = 1 through (0, 1).
    let dir = tempfile::tempdir().unwrap();
    let n = direction(0.0, 45f64.to_radians()).map(|v| v as f32);
    let centers = [n[0], n[1], n[2], -n[0], -n[1], -n[2]];
    let class_names = names(2);
    let frame = FrameData {
        points: &[],
        dim: 3,
        labels: &[],
        centers: &centers,
        class_names: &class_names,
        title: "t".into(),
    };
    let map = Layout::new(400, 1, false, Some(Projection::Map))
        .map
        .unwrap();
    let at = |x: f64, y: f64| map.to_pixel((x, y));
    let band = [226, 226, 226];
    for (boundaries, band_kind) in [(false, MarginBand::None), (true, MarginBand::Angular(0.4))] {
        let path = dir.path().join(format!("m{boundaries}.png"));
        let opts = RenderOptions {
            size: 400,
            max_legend: 0,
            projection: Projection::Map,
            geometry: Geometry {
                boundaries,
                band: band_kind,
            },
            ..RenderOptions::default()
        };
        render_frame(&path, &frame, &opts).unwrap();
        let img = load(&path);
        // A boundary, however its 1-px line falls between pixels, is darker than the grid (232)
        // and the band (226) under it.
        let on_boundary = dark_grey_near(&img, at(0.0, -0.765_367), 3);
        // Where the wrap-around line would run: nothing.
        for x in [-1.0, 0.0, 1.0] {
            assert_eq!(dark_grey_near(&img, at(x, 1.0), 3), 0, "x = {x}");
        }
        if boundaries {
            assert!(on_boundary > 3, "{on_boundary}");
            // ArcFace, m = 0.4: the band is the belt within m/2 = 0.2 rad of the boundary. On
            // the central meridian the boundary is at 45° S: 45° + 8° S is inside the belt,
            // 45° + 17° S outside.
            let inside = hammer::forward(0.0, -53f64.to_radians());
            let outside = hammer::forward(0.0, -62f64.to_radians());
            assert!(count_near(&img, at(inside.0, inside.1), 2, band, 3) > 10);
            assert_eq!(count_near(&img, at(outside.0, outside.1), 2, band, 3), 0);
        } else {
            assert_eq!(on_boundary, 0, "no boundaries unless asked");
        }
    }
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
    // Through the PCA to 3-D, the frame holds the globe and the map: 2:1.
    assert_eq!(load(&path).dimensions(), (512, 256));
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
        // As a training run draws them: ArcFace's boundaries and bands (none on PCA views).
        let opts = RenderOptions {
            geometry: Geometry {
                boundaries: true,
                band: MarginBand::Angular(0.3),
            },
            ..RenderOptions::default()
        };
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
        let mut gif = crate::gif::GifWriter::create_rect(
            &dir.path().join("t.gif"),
            canvas.dims(),
            opts.frame_ms,
        )
        .unwrap();
        let t = std::time::Instant::now();
        for _ in 0..runs {
            gif.push_rgb(&canvas.buf, canvas.dims()).unwrap();
        }
        let gif_frame = t.elapsed() / runs;
        gif.finish(opts.last_frame_ms).unwrap();
        println!(
            "dim {dim}: draw {draw:?} + png {png:?}; render_frame {total:?}; gif frame {gif_frame:?} ({}x{} px, 8000 points)",
            canvas.width, canvas.size
        );
        // To look at the result: VIZ_PREVIEW_DIR=/some/folder
        if let Some(out) = std::env::var_os("VIZ_PREVIEW_DIR") {
            std::fs::copy(&path, Path::new(&out).join(format!("timing_{dim}d.png"))).unwrap();
        }
    }
}
