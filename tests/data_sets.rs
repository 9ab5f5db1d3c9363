use crate::helpers::*;

/// A one-folder-per-class set of 16x16 PNGs: `classes` folders of `per_class` images, each
/// class a different flat colour with a little per-image variation.
fn folder_set(root: &std::path::Path, classes: &[&str], per_class: usize) {
    for (c, name) in classes.iter().enumerate() {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            let img = image::RgbImage::from_fn(16, 16, |x, y| {
                let base = [60 * c as u8, 255 - 70 * c as u8, 40 + 50 * c as u8];
                image::Rgb(base.map(|v| v.wrapping_add(((x + y) as u8).wrapping_mul(i as u8 + 1))))
            });
            img.save(dir.join(format!("{i:02}.png"))).unwrap();
        }
    }
}

/// A folder set through the CLI: a bad file skipped and listed, one identity held out and kept
/// out of training, every image's split written to splits.json, augmentation accepted.
#[test]
fn a_folder_set_trains_with_a_held_out_identity_and_a_skipped_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("people");
    folder_set(&data, &["ann", "bob", "cy", "dee"], 8);
    std::fs::write(data.join("bob/broken.jpg"), b"not a jpeg at all").unwrap();
    let config = dir.join("folder.toml");
    std::fs::write(
        &config,
        format!(
            r#"name = "people"
[data]
kind = "folder"
root = "{}"
image_size = 16
val_fraction = 0.25
held_out = "fraction"
held_out_fraction = 0.5
on_bad_image = "skip"
[data.augment]
horizontal_flip = true
crop_padding = 2
[model]
embedding_dim = 2
[train]
epochs = 1
batch_size = 4
num_workers = 1
"#,
            data.display()
        ),
    )
    .unwrap();
    let out = train_config(dir, &config);
    assert!(
        out.contains("warning:") && out.contains("broken.jpg"),
        "{out}"
    );
    assert!(
        out.contains("held out for open-set evaluation: 16 images of 2 identities"),
        "{out}"
    );

    let run_dir = dir.join("runs/people");
    let skipped: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("skipped.json")).unwrap())
            .unwrap();
    let skipped = skipped.as_array().unwrap();
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0]["path"].as_str().unwrap().ends_with("broken.jpg"));

    let classes: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("classes.json")).unwrap())
            .unwrap();
    assert_eq!(
        classes.len(),
        2,
        "two of four identities are held out: {classes:?}"
    );
    let splits: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("splits.json")).unwrap())
            .unwrap();
    assert_eq!(
        splits.len(),
        32,
        "every good image once, the broken one not at all"
    );
    let held: Vec<&str> = splits
        .iter()
        .filter(|r| r["split"] == "held_out")
        .map(|r| r["class"].as_str().unwrap())
        .collect();
    assert_eq!(held.len(), 16);
    assert!(held.iter().all(|c| !classes.contains(&c.to_string())));
    for split in ["train", "val"] {
        let n = splits.iter().filter(|r| r["split"] == split).count();
        assert_eq!(
            n,
            if split == "train" { 12 } else { 4 },
            "{split}: 2 identities x (6 + 2)"
        );
    }
    // With identities held out, train ends with `eval` of the best checkpoint on them.
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("eval.json")).unwrap()).unwrap();
    assert_eq!(eval["checkpoint"], "best");
    let held = &eval["held_out"];
    assert_eq!(held["samples"], 16);
    assert_eq!(held["classes"], 2);
    // All same-identity pairs (2 x C(8,2) = 56) and as many different-identity ones.
    assert_eq!(held["positive_pairs"], 56);
    assert_eq!(held["negative_pairs"], 56);
    let auc = held["auc"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&auc), "{auc}");
    assert_eq!(eval["val"]["samples"], 4);
    assert!(image::open(run_dir.join("plots/roc.png")).is_ok());
    assert!(out.contains("held out (identities never seen)"), "{out}");

    // The image cache went to the test's own cache folder.
    assert!(dir.join(".cache/arcface-lab/data").is_dir());
}
