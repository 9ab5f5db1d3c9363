use std::path::Path;

use image::AnimationDecoder;

use super::*;
use crate::map::Projection;
use crate::npy::{write_npy_f32, write_npy_i64};

/// A run folder like the training loop writes: `epochs` epochs of `dim`-D
/// embeddings, 3 classes, 10 points per class in each split.
fn make_run(root: &Path, epochs: u32, dim: usize) -> PathBuf {
    let run = root.join("tiny-run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("classes.json"), r#"["2880", "1234", "77"]"#).unwrap();
    let mut csv = "epoch,train_loss,val_loss,train_acc,val_acc,lr,seconds\n".to_string();
    for e in 1..=epochs {
        csv += &format!(
            "{e},{},{},{},{},0.1,1.0\n",
            2.0 / e as f64,
            2.5 / e as f64,
            0.3 * e as f64,
            0.25 * e as f64
        );
    }
    std::fs::write(run.join("metrics.csv"), csv).unwrap();
    let labels: Vec<i64> = (0..30).map(|i| i % 3).collect();
    for split in ["train", "val"] {
        let dir = run.join("embeddings").join(split);
        write_npy_i64(&dir.join("labels.npy"), &labels, &[30]).unwrap();
        for e in 1..=epochs {
            // Classes drift apart as epochs pass.
            let points: Vec<f32> = labels
                .iter()
                .enumerate()
                .flat_map(|(i, &l)| {
                    let a = l as f32 * 2.0 * e as f32 / epochs as f32 + 0.05 * (i % 5) as f32;
                    (0..dim).map(move |j| match j {
                        0 => a.cos(),
                        1 => a.sin(),
                        _ => 0.1 * (i % 3) as f32,
                    })
                })
                .collect();
            write_npy_f32(&dir.join(format!("epoch_{e:03}.npy")), &points, &[30, dim]).unwrap();
        }
    }
    for e in 1..=epochs {
        let centers: Vec<f32> = (0..3 * dim)
            .map(|k| ((k * 7 + e as usize) % 5) as f32 - 2.0)
            .collect();
        write_npy_f32(
            &run.join("embeddings/centers")
                .join(format!("epoch_{e:03}.npy")),
            &centers,
            &[3, dim],
        )
        .unwrap();
    }
    run
}

/// The frame times of the GIF at `path`, whose frames must all be `dims` = (width, height).
fn gif_delays_ms(path: &Path, dims: (u32, u32)) -> Vec<u32> {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let decoder = image::codecs::gif::GifDecoder::new(file).unwrap();
    decoder
        .into_frames()
        .collect_frames()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f.buffer().dimensions(), dims);
            let (n, d) = f.delay().numer_denom_ms();
            n / d
        })
        .collect()
}

#[test]
fn renders_pngs_and_gifs_for_both_splits() {
    let dir = tempfile::tempdir().unwrap();
    let run = make_run(dir.path(), 2, 2);
    let opts = RenderOptions {
        size: 160,
        ..Default::default()
    };
    let summary = render_run(&run, &opts).unwrap();
    assert_eq!(summary.epochs, 2);
    assert_eq!(summary.frames_written, 4);
    assert_eq!(
        summary.gifs,
        vec![run.join("plots/train.gif"), run.join("plots/val.gif")]
    );
    for split in ["train", "val"] {
        for e in ["epoch_001.png", "epoch_002.png"] {
            let img = image::open(run.join("plots").join(split).join(e)).unwrap();
            assert_eq!((img.width(), img.height()), (160, 160));
        }
        // 125 ms rounds to GIF's 10 ms ticks; the last frame is held 3 s.
        assert_eq!(
            gif_delays_ms(&run.join(format!("plots/{split}.gif")), (160, 160)),
            vec![130, 3000]
        );
    }
    let mut left: Vec<String> = walk(&run.join("plots"));
    left.sort();
    assert_eq!(
        left,
        [
            "train",
            "train.gif",
            "train/epoch_001.png",
            "train/epoch_002.png",
            "val",
            "val.gif",
            "val/epoch_001.png",
            "val/epoch_002.png"
        ]
    );

    // Rendering again replaces the files.
    assert_eq!(render_run(&run, &opts).unwrap().frames_written, 4);
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() {
            out.extend(walk(&e.path()).into_iter().map(|n| format!("{name}/{n}")));
        }
        out.push(name);
    }
    out
}

#[test]
fn high_dimensional_runs_render_through_pca() {
    let dir = tempfile::tempdir().unwrap();
    let run = make_run(dir.path(), 3, 5);
    let summary = render_run(
        &run,
        &RenderOptions {
            size: 160,
            last_frame_ms: 500,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(summary.frames_written, 6);
    // Through the PCA to 3-D: the globe and the map, 2:1, in the PNGs and the GIF alike.
    assert_eq!(
        gif_delays_ms(&run.join("plots/val.gif"), (320, 160)),
        vec![130, 130, 500]
    );
    let png = image::open(run.join("plots/val/epoch_003.png")).unwrap();
    assert_eq!((png.width(), png.height()), (320, 160));
}

#[test]
fn the_projection_sizes_three_d_frames_and_leaves_two_d_ones_square() {
    let dir = tempfile::tempdir().unwrap();
    for (dim, projection, dims) in [
        (3, Projection::Globe, (128, 128)),
        (3, Projection::Map, (256, 128)),
        (3, Projection::Both, (256, 128)),
        (2, Projection::Both, (128, 128)),
    ] {
        let run = make_run(&dir.path().join(format!("{dim}-{projection}")), 2, dim);
        let opts = RenderOptions {
            size: 128,
            projection,
            ..Default::default()
        };
        render_run(&run, &opts).unwrap();
        assert_eq!(
            gif_delays_ms(&run.join("plots/train.gif"), dims).len(),
            2,
            "{dim}-D, {projection}"
        );
        let png = image::open(run.join("plots/train/epoch_002.png")).unwrap();
        assert_eq!((png.width(), png.height()), dims, "{dim}-D, {projection}");
    }
}

#[test]
fn mismatched_inputs_are_reported_by_file() {
    let opts = RenderOptions {
        size: 128,
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();

    let run = make_run(&dir.path().join("a"), 2, 2);
    write_npy_i64(&run.join("embeddings/val/labels.npy"), &[0; 29], &[29]).unwrap();
    let err = render_run(&run, &opts).unwrap_err().to_string();
    assert!(
        err.contains("val/epoch_001.npy") && err.contains("30 rows") && err.contains("labels.npy"),
        "{err}"
    );
    assert!(!run.join("plots/val.gif").exists());

    let run = make_run(&dir.path().join("b"), 2, 2);
    write_npy_f32(
        &run.join("embeddings/train/epoch_002.npy"),
        &[0.5; 90],
        &[30, 3],
    )
    .unwrap();
    let err = render_run(&run, &opts).unwrap_err().to_string();
    assert!(
        err.contains("train/epoch_002.npy")
            && err.contains("2 dimensions")
            && err.contains("epoch_001.npy"),
        "{err}"
    );

    let run = make_run(&dir.path().join("c"), 2, 2);
    std::fs::remove_file(run.join("embeddings/centers/epoch_002.npy")).unwrap();
    let err = render_run(&run, &opts).unwrap_err().to_string();
    assert!(err.contains("centers/epoch_002.npy"), "{err}");

    let run = make_run(&dir.path().join("d"), 1, 2);
    std::fs::remove_file(run.join("embeddings/train/epoch_001.npy")).unwrap();
    let err = render_run(&run, &opts).unwrap_err();
    assert!(
        matches!(&err, VizError::NoEpochs { dir } if dir.ends_with("embeddings/train")),
        "{err}"
    );
    assert!(err.to_string().contains("no epoch files"));

    let run = make_run(&dir.path().join("e"), 1, 2);
    write_npy_i64(&run.join("embeddings/train/labels.npy"), &[3; 30], &[30]).unwrap();
    let err = render_run(&run, &opts).unwrap_err().to_string();
    assert!(
        err.contains("train/labels.npy") && err.contains("label 3"),
        "{err}"
    );

    let run = make_run(&dir.path().join("f"), 1, 1);
    let err = render_run(&run, &opts).unwrap_err().to_string();
    assert!(
        err.contains("epoch_001.npy") && err.contains("at least 2 dimensions"),
        "{err}"
    );

    let run = make_run(&dir.path().join("g"), 1, 2);
    std::fs::write(run.join("classes.json"), "{\"a\": 1}").unwrap();
    let err = render_run(&run, &opts).unwrap_err().to_string();
    assert!(
        err.contains("classes.json") && err.contains("JSON array"),
        "{err}"
    );

    let err = render_run(&dir.path().join("nope"), &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nope") && err.contains("classes.json"),
        "{err}"
    );
}

#[test]
fn a_comparison_of_three_d_runs_tiles_wide_frames() {
    // Two 3-D runs and the legend: a 2 x 2 grid of 128-px-high cells, each twice as wide for
    // the map, so 512 x 256; with the globe alone, square cells again.
    let dir = tempfile::tempdir().unwrap();
    let runs: Vec<crate::ComparedRun> = ["a", "b"]
        .iter()
        .map(|name| crate::ComparedRun {
            label: name.to_string(),
            dir: make_run(&dir.path().join(name), 2, 3),
            geometry: crate::Geometry::default(),
        })
        .collect();
    for (projection, dims) in [
        (Projection::Both, (512, 256)),
        (Projection::Globe, (256, 256)),
    ] {
        let out = dir.path().join(format!("cmp-{projection}"));
        std::fs::create_dir_all(&out).unwrap();
        let opts = RenderOptions {
            size: 256,
            projection,
            ..Default::default()
        };
        crate::render_comparison(&runs, &out, &opts).unwrap();
        assert_eq!(gif_delays_ms(&out.join("compare-val.gif"), dims).len(), 2);
        let png = image::open(out.join("compare-val.png")).unwrap().to_rgb8();
        assert_eq!(png.dimensions(), dims, "{projection}");
        // The legend cell (bottom left) is drawn: not all white.
        let legend_px = (0..dims.1 / 2)
            .flat_map(|y| (0..dims.0 / 2).map(move |x| (x, dims.1 / 2 + y)))
            .filter(|&(x, y)| png.get_pixel(x, y).0 != [255, 255, 255])
            .count();
        assert!(legend_px > 50, "{legend_px}");
    }
}
