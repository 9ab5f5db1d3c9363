//! Held-out identities of the synthetic set: per-epoch snapshots, eval.json, export and the
//! comparison's open-set table.

use crate::helpers::*;

/// Held-out rows of the tiny config: 2 held-out identities x 12 images.
const HELD_OUT_ROWS: usize = 2 * 12;

#[test]
fn held_out_identities_get_snapshots_every_epoch_and_an_eval() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = train_config(dir, &synthetic_held_out_config(dir, "held", 2, 2));
    assert!(
        out.contains("held out for open-set evaluation: 24 images of 2 identities"),
        "{out}"
    );
    let run_dir = dir.join("runs/held");

    // Ids 1..=4 train; ids 5 and 6 are held out, in id order.
    let held_classes: Vec<String> = serde_json::from_str(
        &std::fs::read_to_string(run_dir.join("held_out_classes.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(held_classes, ["5", "6"]);
    let classes: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("classes.json")).unwrap())
            .unwrap();
    assert_eq!(classes, ["1", "2", "3", "4"]);

    let (labels, shape) = npy_i64(&run_dir.join("embeddings/held_out/labels.npy"));
    assert_eq!(shape, vec![HELD_OUT_ROWS]);
    let expected: Vec<i64> = [0; 12].into_iter().chain([1; 12]).collect();
    assert_eq!(labels, expected);
    for epoch in ["001", "002"] {
        let (points, shape) =
            npy_f32(&run_dir.join(format!("embeddings/held_out/epoch_{epoch}.npy")));
        assert_eq!(shape, vec![HELD_OUT_ROWS, 2]);
        assert!(points.iter().all(|v| v.is_finite()));
    }
    assert!(!run_dir.join("embeddings/held_out/epoch_003.npy").exists());

    // The snapshot rows are the held_out rows of splits.json, in order: identity 5's images
    // (files 49..=60, after 4 x 12 training images), then identity 6's (61..=72).
    let splits: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("splits.json")).unwrap())
            .unwrap();
    let held: Vec<(String, String, i64)> = splits
        .iter()
        .filter(|r| r["split"] == "held_out")
        .map(|r| {
            (
                r["file"].as_str().unwrap().to_string(),
                r["class"].as_str().unwrap().to_string(),
                r["label"].as_i64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, String, i64)> = (49..=72)
        .map(|n: i64| {
            let id = if n <= 60 { 5 } else { 6 };
            (format!("{n:06}.jpg"), id.to_string(), id - 5)
        })
        .collect();
    assert_eq!(held, want);
    assert_eq!(
        splits.len(),
        6 * 12,
        "every image once, training and held out"
    );

    // Held-out identities have no head class: metrics.csv keeps its columns.
    let metrics = std::fs::read_to_string(run_dir.join("metrics.csv")).unwrap();
    assert!(!metrics.lines().next().unwrap().contains("held"));

    // train ran eval on the best checkpoint: both sections, the held-out one on all 24 images.
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("eval.json")).unwrap()).unwrap();
    assert_eq!(eval["held_out"]["samples"], 24);
    assert_eq!(eval["held_out"]["classes"], 2);
    // All same-identity pairs, 2 x C(12, 2) = 132.
    assert_eq!(eval["held_out"]["positive_pairs"], 132);
    assert_eq!(eval["val"]["classes"], 4);
    // eval embeds the best checkpoint again; its precision@1 on the held-out set, worked out
    // here from the definition on that epoch's snapshot (is each row's nearest other row by
    // cosine of the same identity?), ties the snapshot rows to eval's rows and labels.
    let best = eval["epoch"].as_u64().unwrap();
    let (points, _) = npy_f32(&run_dir.join(format!("embeddings/held_out/epoch_{best:03}.npy")));
    let unit: Vec<[f64; 2]> = points
        .chunks_exact(2)
        .map(|p| {
            let (x, y) = (f64::from(p[0]), f64::from(p[1]));
            let n = x.hypot(y).max(1e-12);
            [x / n, y / n]
        })
        .collect();
    let hits = (0..HELD_OUT_ROWS)
        .filter(|&i| {
            let nearest = (0..HELD_OUT_ROWS)
                .filter(|&j| j != i)
                .max_by(|&a, &b| {
                    let cos = |j: usize| unit[i][0] * unit[j][0] + unit[i][1] * unit[j][1];
                    cos(a).total_cmp(&cos(b))
                })
                .unwrap();
            labels[nearest] == labels[i]
        })
        .count();
    let p_at_1 = eval["held_out"]["precision_at_1"].as_f64().unwrap();
    assert!(
        (p_at_1 - hits as f64 / HELD_OUT_ROWS as f64).abs() < 1e-9,
        "eval.json P@1 {p_at_1}, snapshot of epoch {best}: {hits}/{HELD_OUT_ROWS}"
    );

    // export carries the held-out rows with their identities.
    let rd = run_dir.to_str().unwrap();
    ok(&run(
        dir,
        &["export", rd, "--format", "csv", "--epoch", "2"],
    ));
    let csv = std::fs::read_to_string(run_dir.join("export/epoch_002.csv")).unwrap();
    let held_rows: Vec<Vec<&str>> = csv
        .lines()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|c| c[0] == "held_out")
        .collect();
    assert_eq!(held_rows.len(), HELD_OUT_ROWS);
    assert_eq!(held_rows[0][..5], ["held_out", "0", "0", "5", "000049.jpg"]);
    assert_eq!(
        held_rows[23][..5],
        ["held_out", "23", "1", "6", "000072.jpg"]
    );
    let (points, _) = npy_f32(&run_dir.join("embeddings/held_out/epoch_002.npy"));
    assert_eq!(held_rows[23][6].parse::<f32>().unwrap(), points[23 * 2 + 1]);
    assert_eq!(csv.lines().count(), 1 + 36 + 12 + HELD_OUT_ROWS);

    ok(&run(dir, &["export", rd, "--format", "npz"]));
    let npz = std::fs::read(run_dir.join("export/embeddings.npz")).unwrap();
    let has = |name: &str| npz.windows(name.len()).any(|w| w == name.as_bytes());
    for name in [
        "held_out_labels.npy",
        "held_out_epoch_001.npy",
        "held_out_epoch_002.npy",
    ] {
        assert!(has(name), "the .npz holds {name}");
    }
}

#[test]
fn compare_reports_each_heads_held_out_verification() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = synthetic_held_out_config(dir, "cmpheld", 1, 2);
    let out = ok(&run(
        dir,
        &[
            "compare",
            config.to_str().unwrap(),
            "--heads",
            "softmax,arcface",
            "--device",
            "flex",
            "--no-render",
        ],
    ));
    assert!(out.contains("held-out identities"), "{out}");
    assert!(out.contains("TAR@FAR=1e-2") && out.contains("EER"), "{out}");
    let root = dir.join("runs/cmpheld");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("compare.json")).unwrap()).unwrap();
    let rows = index["held_out"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (row, head) in rows.iter().zip(["softmax", "arcface"]) {
        assert_eq!(row["head"], head);
        // Each head's own eval.json, which compare ran, holds the same figures.
        let eval: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.join(head).join("eval.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(eval["held_out"]["samples"], 24);
        for (key, source) in [
            ("auc", "auc"),
            ("eer", "eer"),
            ("tar_at_far_1e2", "tar_at_far_1e2"),
            ("ten_fold_accuracy", "ten_fold_mean"),
            ("precision_at_1", "precision_at_1"),
        ] {
            assert_eq!(row[key], eval["held_out"][source], "{head} {key}");
        }
        let auc = row["auc"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&auc), "{head}: AUC {auc}");
        assert_eq!(row["epoch"], 1);
    }
}
