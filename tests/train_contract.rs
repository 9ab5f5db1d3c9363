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
        Some("epoch,train_loss,val_loss,train_acc,val_acc,lr,seconds")
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
