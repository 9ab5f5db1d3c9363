use crate::helpers::*;

/// One tiny run checked against every file of the run-output contract.
#[test]
fn demo_style_run_leaves_the_contracted_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = synthetic_config(dir, "tiny", 2, 2, "arcface");
    let out = ok(&run(
        dir,
        &["train", config.to_str().unwrap(), "--device", "flex"],
    ));
    assert!(
        out.contains("epoch   2/2"),
        "one plain line per epoch when stdout is not a terminal:\n{out}"
    );

    let run_dir = dir.join("runs/tiny");
    // 4 identities x 12 images, a quarter of each identity to validation.
    let (train_labels, shape) = npy_i64(&run_dir.join("embeddings/train/labels.npy"));
    assert_eq!(shape, vec![36]);
    let (val_labels, shape) = npy_i64(&run_dir.join("embeddings/val/labels.npy"));
    assert_eq!(shape, vec![12]);
    for class in 0..4 {
        assert_eq!(
            val_labels.iter().filter(|&&l| l == class).count(),
            3,
            "3 val images per identity"
        );
        assert_eq!(train_labels.iter().filter(|&&l| l == class).count(), 9);
    }
    for epoch in ["001", "002"] {
        let (points, shape) = npy_f32(&run_dir.join(format!("embeddings/train/epoch_{epoch}.npy")));
        assert_eq!(shape, vec![36, 2]);
        assert!(points.iter().all(|v| v.is_finite()));
        assert_eq!(
            npy_f32(&run_dir.join(format!("embeddings/val/epoch_{epoch}.npy"))).1,
            vec![12, 2]
        );
        assert_eq!(
            npy_f32(&run_dir.join(format!("embeddings/centers/epoch_{epoch}.npy"))).1,
            vec![4, 2]
        );
        for split in ["train", "val"] {
            let png = run_dir.join(format!("plots/{split}/epoch_{epoch}.png"));
            let img = image::open(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
            assert_eq!((img.width(), img.height()), (160, 160));
        }
    }
    for gif in ["plots/train.gif", "plots/val.gif"] {
        let bytes = std::fs::read(run_dir.join(gif)).unwrap();
        assert!(
            bytes.starts_with(b"GIF89a") && bytes.ends_with(&[0x3b]),
            "{gif} is a complete GIF"
        );
    }

    let classes: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("classes.json")).unwrap())
            .unwrap();
    assert_eq!(
        classes,
        vec!["1", "2", "3", "4"],
        "synthetic identities are ids 1..=4"
    );

    let metrics = std::fs::read_to_string(run_dir.join("metrics.csv")).unwrap();
    let mut lines = metrics.lines();
    assert_eq!(
        lines.next(),
        Some(
            "epoch,train_loss,val_loss,train_acc,val_acc,lr,seconds,\
             train_angle_mean_deg,train_angle_p95_deg,val_angle_mean_deg,val_angle_p95_deg,\
             center_angle_min_deg,train_overflow,val_overflow,train_knn_acc,val_knn_acc"
        )
    );
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 2);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[0], (i + 1) as f64);
        assert!(
            row[1] > 0.0
                && row[2] > 0.0
                && (0.0..=1.0).contains(&row[3])
                && (0.0..=1.0).contains(&row[4])
        );
        assert_eq!(row[5], 1e-3);
    }

    // The saved validation embeddings, in labels.npy order, reproduce metrics.csv's val_acc:
    // ArcFace predicts the class whose centre has the largest cosine.
    for row in &rows {
        let epoch = row[0] as usize;
        let (points, _) = npy_f32(&run_dir.join(format!("embeddings/val/epoch_{epoch:03}.npy")));
        let (centres, _) =
            npy_f32(&run_dir.join(format!("embeddings/centers/epoch_{epoch:03}.npy")));
        let correct = val_labels
            .iter()
            .enumerate()
            .filter(|&(i, &label)| {
                nearest_by_cosine(&points[2 * i..2 * i + 2], &centres) == label as usize
            })
            .count();
        assert!(
            (correct as f64 / 12.0 - row[4]).abs() < 1e-6,
            "epoch {epoch}: {correct}/12 vs {}",
            row[4]
        );
    }

    // The angle columns, recomputed here from the saved embeddings and centres.
    for row in &rows {
        let epoch = row[0] as usize;
        let (points, _) = npy_f32(&run_dir.join(format!("embeddings/val/epoch_{epoch:03}.npy")));
        let (centres, _) =
            npy_f32(&run_dir.join(format!("embeddings/centers/epoch_{epoch:03}.npy")));
        let angle = |a: &[f32], b: &[f32]| {
            let dot = f64::from(a[0] * b[0] + a[1] * b[1]);
            let na = f64::from(a[0].hypot(a[1]));
            let nb = f64::from(b[0].hypot(b[1]));
            (dot / (na * nb)).clamp(-1.0, 1.0).acos().to_degrees()
        };
        let mean = val_labels
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                angle(
                    &points[2 * i..2 * i + 2],
                    &centres[2 * l as usize..2 * l as usize + 2],
                )
            })
            .sum::<f64>()
            / 12.0;
        assert!(
            (row[9] - mean).abs() < 2e-3,
            "epoch {epoch}: val angle {} vs {mean}",
            row[9]
        );
        let mut closest = f64::MAX;
        for a in 0..4 {
            for b in a + 1..4 {
                closest = closest.min(angle(
                    &centres[2 * a..2 * a + 2],
                    &centres[2 * b..2 * b + 2],
                ));
            }
        }
        assert!(
            (row[11] - closest).abs() < 2e-3,
            "epoch {epoch}: min centre angle"
        );
        assert!((0.0..=1.0).contains(&row[14]) && (0.0..=1.0).contains(&row[15]));
    }
    // angles.csv: one histogram per split and epoch, counting every sample once.
    let angles = std::fs::read_to_string(run_dir.join("angles.csv")).unwrap();
    let hist: Vec<Vec<&str>> = angles
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(hist.len(), 4, "2 epochs x 2 splits:\n{angles}");
    for h in &hist {
        let total: u64 = h[2..].iter().map(|c| c.parse::<u64>().unwrap()).sum();
        assert_eq!(total, if h[1] == "train" { 36 } else { 12 });
    }
    for chart in ["plots/diagnostics.png", "plots/angles.png"] {
        assert!(
            image::open(run_dir.join(chart)).is_ok(),
            "{chart} is a picture"
        );
    }

    // best.bpk is the epoch with the lowest validation loss in metrics.csv.
    let status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(status["status"], "finished");
    let best = rows.iter().min_by(|a, b| a[2].total_cmp(&b[2])).unwrap()[0] as u64;
    assert_eq!(status["best_epoch"].as_u64(), Some(best));
    assert!(
        run_dir.join("checkpoints/best.bpk").exists()
            && run_dir.join("checkpoints/last.bpk").exists()
    );

    let resolved = std::fs::read_to_string(run_dir.join("config.toml")).unwrap();
    assert!(
        resolved.contains("epochs = 2") && resolved.contains("lr = 0.001"),
        "{resolved}"
    );

    // A second train into the finished run refuses and leaves it alone...
    let before = std::fs::read(run_dir.join("metrics.csv")).unwrap();
    let err = fails(&run(
        dir,
        &["train", config.to_str().unwrap(), "--epochs", "1"],
    ));
    assert!(
        err.contains("already holds a run") && err.contains("--overwrite"),
        "{err}"
    );
    assert_eq!(std::fs::read(run_dir.join("metrics.csv")).unwrap(), before);
    // ...unless asked.
    ok(&run(
        dir,
        &[
            "train",
            config.to_str().unwrap(),
            "--epochs",
            "1",
            "--overwrite",
            "--no-render",
        ],
    ));
    let metrics = std::fs::read_to_string(run_dir.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 2, "the replaced run has one epoch");
    assert!(!run_dir.join("plots").exists(), "--no-render draws nothing");
}

/// A 3-D softmax run through `--out`, `--set` and the sphere renderer.
#[test]
fn softmax_sphere_run_with_overrides() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = synthetic_config(dir, "sphere", 2, 3, "arcface");
    ok(&run(
        dir,
        &[
            "train",
            config.to_str().unwrap(),
            "--epochs",
            "1",
            "--out",
            "elsewhere/ball",
            "--set",
            "model.embedding_dim=3",
            "--set",
            "model.head=\"softmax\"",
        ],
    ));
    let run_dir = dir.join("elsewhere/ball");
    assert_eq!(
        npy_f32(&run_dir.join("embeddings/val/epoch_001.npy")).1,
        vec![12, 3]
    );
    assert_eq!(
        npy_f32(&run_dir.join("embeddings/centers/epoch_001.npy")).1,
        vec![4, 3]
    );
    assert!(
        !run_dir.join("embeddings/val/epoch_002.npy").exists(),
        "--epochs 1 wins over the file's 3"
    );
    let resolved = std::fs::read_to_string(run_dir.join("config.toml")).unwrap();
    assert!(
        resolved.contains("head = \"softmax\"") && resolved.contains("embedding_dim = 3"),
        "{resolved}"
    );
    assert!(run_dir.join("plots/val/epoch_001.png").exists());
}

fn nearest_by_cosine(x: &[f32], centres: &[f32]) -> usize {
    let d = x.len();
    let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>().sqrt();
    (0..centres.len() / d)
        .map(|j| {
            let c = &centres[j * d..(j + 1) * d];
            let dot: f32 = x.iter().zip(c).map(|(a, b)| a * b).sum();
            (j, dot / (norm(x) * norm(c)))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap()
        .0
}

/// Every head trains, stays finite and leaves one centre per class.
#[test]
fn every_head_trains() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = synthetic_config(dir, "h", 2, 1, "arcface");
    let config = config.to_str().unwrap();
    let heads = [
        "softmax",
        "arcface",
        "normface",
        "cosface",
        "sphereface",
        "combined",
        "subcenter",
    ];
    for head in heads {
        let out = format!("runs/{head}");
        let set = format!("model.head=\"{head}\"");
        let mut args = vec!["train", config, "--out", &out, "--set", &set, "--no-render"];
        if head == "sphereface" {
            // The file's margin of 0.3 rad means nothing to SphereFace's whole-number multiplier.
            let err = fails(&run(dir, &args));
            assert!(
                err.contains("model.margin") && err.contains("whole number"),
                "{err}"
            );
            args.extend(["--set", "model.margin=4"]);
        }
        ok(&run(dir, &args));
        let run_dir = dir.join(&out);
        let (centres, shape) = npy_f32(&run_dir.join("embeddings/centers/epoch_001.npy"));
        assert_eq!(shape, vec![4, 2], "{head}");
        assert!(centres.iter().all(|v| v.is_finite()), "{head}");
        let resolved = std::fs::read_to_string(run_dir.join("config.toml")).unwrap();
        assert!(
            resolved.contains(&format!("head = \"{head}\"")),
            "{resolved}"
        );
    }
}
