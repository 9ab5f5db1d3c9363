use std::path::Path;

use crate::helpers::*;

/// A CelebA-layout folder with `ids` identities of `per_id` 20x24 JPEGs each.
fn celeba_fixture(root: &Path, ids: &[u32], per_id: usize) {
    let images = root.join("img_align_celeba");
    std::fs::create_dir_all(&images).unwrap();
    let mut lines = String::new();
    let mut n = 0;
    for &id in ids {
        for _ in 0..per_id {
            n += 1;
            let name = format!("{n:06}.jpg");
            let img = image::RgbImage::from_fn(20, 24, |x, y| {
                image::Rgb([(x * 10) as u8, (y * 9) as u8, (id * 40) as u8])
            });
            img.save(images.join(&name)).unwrap();
            lines.push_str(&format!("{name} {id}\n"));
        }
    }
    std::fs::write(root.join("identity_CelebA.txt"), lines).unwrap();
}

fn celeba_config(dir: &Path, extra_model: &str, data: &str) -> std::path::PathBuf {
    let text = format!(
        "name = \"c\"\n[data]\nkind = \"celeba\"\nroot = \"celeba\"\nimage_size = 16\n{data}\n[model]\n{extra_model}\n[train]\nepochs = 1\nbatch_size = 4\n"
    );
    let path = dir.join("c.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `train` on the config and checks: non-zero exit, every `needles` in the message, and no
/// run folder written.
fn refused(dir: &Path, config: &Path, needles: &[&str]) {
    let err = fails(&run(
        dir,
        &["train", config.to_str().unwrap(), "--device", "flex"],
    ));
    for needle in needles {
        assert!(err.contains(needle), "message lacks {needle:?}:\n{err}");
    }
    assert!(
        !dir.join("runs/c").exists(),
        "a refused run writes nothing:\n{err}"
    );
}

#[test]
fn missing_dataset_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let config = celeba_config(tmp.path(), "", "top_k = 2");
    refused(tmp.path(), &config, &["celeba"]);
}

#[test]
fn malformed_identity_line_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("celeba");
    celeba_fixture(&root, &[1, 2], 3);
    let mut text = std::fs::read_to_string(root.join("identity_CelebA.txt")).unwrap();
    text.push_str("000007.jpg not-a-number\n");
    std::fs::write(root.join("identity_CelebA.txt"), text).unwrap();
    let config = celeba_config(tmp.path(), "", "top_k = 2");
    refused(tmp.path(), &config, &["identity_CelebA.txt", "7"]);
}

#[test]
fn identity_file_naming_a_missing_image() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("celeba");
    celeba_fixture(&root, &[1, 2], 3);
    std::fs::remove_file(root.join("img_align_celeba/000002.jpg")).unwrap();
    let config = celeba_config(tmp.path(), "", "top_k = 2");
    refused(tmp.path(), &config, &["000002.jpg"]);
}

#[test]
fn undecodable_image() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("celeba");
    celeba_fixture(&root, &[1, 2], 3);
    let path = root.join("img_align_celeba/000004.jpg");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    let config = celeba_config(tmp.path(), "", "top_k = 2");
    refused(tmp.path(), &config, &["000004.jpg"]);
}

#[test]
fn top_k_larger_than_the_identities() {
    let tmp = tempfile::tempdir().unwrap();
    celeba_fixture(&tmp.path().join("celeba"), &[1, 2], 3);
    let config = celeba_config(tmp.path(), "", "top_k = 5");
    refused(tmp.path(), &config, &["top_k", "5", "2"]);
}

#[test]
fn embedding_size_zero() {
    let tmp = tempfile::tempdir().unwrap();
    celeba_fixture(&tmp.path().join("celeba"), &[1, 2], 3);
    let config = celeba_config(tmp.path(), "embedding_dim = 0", "top_k = 2");
    refused(tmp.path(), &config, &["model.embedding_dim"]);
}

#[test]
fn unknown_and_mistyped_keys_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    celeba_fixture(&tmp.path().join("celeba"), &[1, 2], 3);
    let config = celeba_config(tmp.path(), "marign = 0.2", "top_k = 2");
    refused(tmp.path(), &config, &["c.toml", "marign", "line"]);
    let config = celeba_config(tmp.path(), "scale = \"big\"", "top_k = 2");
    refused(tmp.path(), &config, &["c.toml", "scale"]);
    let config = celeba_config(tmp.path(), "", "top_k = 2\ncrop = 3");
    refused(tmp.path(), &config, &["c.toml", "crop"]);
}

#[test]
fn a_backend_not_compiled_in_is_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let config = synthetic_config(tmp.path(), "c", 2, 1, "arcface");
    let err = fails(&run(
        tmp.path(),
        &["train", config.to_str().unwrap(), "--device", "cuda"],
    ));
    assert!(err.contains("--features cuda"), "{err}");
}

/// Runs `args` in `dir` and checks a clean refusal (exit status 1, no panic or abort) whose
/// message holds every one of `needles`, with nothing under `dir` created, removed or changed:
/// no run folder, no generated or cached data, the config and the data folder byte for byte.
fn refused_untouched(dir: &Path, args: &[&str], needles: &[&str]) -> String {
    let before = tree(dir);
    let err = refused_cleanly(&run(dir, args));
    for needle in needles {
        assert!(err.contains(needle), "message lacks {needle:?}:\n{err}");
    }
    let after = tree(dir);
    let changed: Vec<_> = after
        .iter()
        .filter(|(path, bytes)| before.get(*path) != Some(*bytes))
        .map(|(path, _)| path)
        .chain(before.keys().filter(|p| !after.contains_key(*p)))
        .collect();
    assert!(changed.is_empty(), "{args:?} changed {changed:?}:\n{err}");
    err
}

/// `config` with `from` replaced by `to` (which must occur).
fn edit(config: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    assert!(text.contains(from), "{from:?} not in {text}");
    std::fs::write(config, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn export_of_a_missing_epoch_names_the_epochs_the_run_has() {
    let tmp = tempfile::tempdir().unwrap();
    train_tiny(tmp.path(), "two", 2, 2);
    // A run whose validation loss rose in its last epoch has its best epoch first; the
    // message used to print "1..=<best epoch>", so pin that case.
    let status_path = tmp.path().join("runs/two/run.json");
    let mut status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&status_path).unwrap()).unwrap();
    status["best_epoch"] = serde_json::json!(1);
    std::fs::write(&status_path, serde_json::to_string(&status).unwrap()).unwrap();

    for format in ["csv", "projector"] {
        let err = refused_untouched(
            tmp.path(),
            &["export", "runs/two", "--format", format, "--epoch", "99"],
            &[
                "--epoch 99",
                "no snapshot of epoch 99",
                "the run has epochs 1..=2",
            ],
        );
        assert!(!err.contains("1..=1"), "{err}");
    }
    // The epochs named are real: the last one exports.
    ok(&run(
        tmp.path(),
        &["export", "runs/two", "--format", "csv", "--epoch", "2"],
    ));
    let csv = std::fs::read_to_string(tmp.path().join("runs/two/export/epoch_002.csv")).unwrap();
    // 4 identities x 12 images, a quarter of each for val: 36 train + 12 val rows and a header.
    assert_eq!(csv.lines().count(), 1 + 48, "{csv}");
}

#[test]
fn render_keys_are_refused_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let config = synthetic_config(tmp.path(), "r", 2, 1, "arcface");
    let path = config.to_str().unwrap();
    let train = |extra: &[&'static str]| {
        let mut args = vec!["train", path, "--device", "flex"];
        args.extend_from_slice(extra);
        args
    };
    // In the file: the line is named with the range (the synthetic set is not generated).
    edit(&config, "size = 160", "size = 100000");
    refused_untouched(
        tmp.path(),
        &train(&[]),
        &["r.toml line 25: key `render.size` = 100000: expected 64..=8192 pixels"],
    );
    // --no-render does not make a bad value good: the config is written into the run.
    refused_untouched(
        tmp.path(),
        &train(&["--no-render"]),
        &["render.size", "100000"],
    );
    edit(&config, "size = 100000", "size = 160");
    // An unknown projection, at its line (the one after `size = 160`).
    edit(&config, "size = 160", "size = 160\nprojection = \"sphere\"");
    refused_untouched(
        tmp.path(),
        &train(&[]),
        &[
            r#"r.toml line 26: key `render.projection` = "sphere": expected one of "globe", "map", "both""#,
        ],
    );
    edit(&config, "size = 160\nprojection = \"sphere\"", "size = 160");
    for (set, want) in [
        (
            "render.size=100000",
            "key `render.size` = 100000: expected 64..=8192 pixels",
        ),
        (
            "render.size=10",
            "key `render.size` = 10: expected 64..=8192 pixels",
        ),
        (
            "render.frame_ms=0",
            "key `render.frame_ms` = 0: expected 10..=655350 milliseconds",
        ),
        (
            "render.last_frame_ms=700000",
            "key `render.last_frame_ms` = 700000: expected 10..=655350 milliseconds",
        ),
        (
            "compare.size=100",
            "key `compare.size` = 100: expected 192..=8192 pixels",
        ),
        (
            "render.projection=mollweide",
            r#"key `render.projection` = "mollweide": expected one of "globe", "map", "both""#,
        ),
    ] {
        let err = refused_untouched(tmp.path(), &train(&["--set", set]), &[want]);
        assert!(err.contains(&format!("--set {set}: ")), "{err}");
    }
    // The same checks stop `compare` before its first head trains.
    refused_untouched(
        tmp.path(),
        &[
            "compare",
            path,
            "--device",
            "flex",
            "--set",
            "render.size=100000",
        ],
        &["key `render.size` = 100000"],
    );
}

#[test]
fn model_and_data_keys_are_refused_before_the_data_is_generated() {
    let tmp = tempfile::tempdir().unwrap();
    let config = synthetic_config(tmp.path(), "m", 2, 1, "arcface");
    let path = config.to_str().unwrap();
    for (set, want) in [
        (
            "model.margin=4.0",
            "key `model.margin` = 4: expected an angle in radians in [0, pi)",
        ),
        (
            "model.dropout=1.5",
            "key `model.dropout` = 1.5: expected a probability in [0, 1)",
        ),
        (
            "data.image_size=4",
            "key `data.image_size` = 4 is outside 8..=1024",
        ),
        (
            "train.num_workers=1000000",
            "key `train.num_workers` = 1000000: expected 0..=1024",
        ),
    ] {
        refused_untouched(
            tmp.path(),
            &["train", path, "--device", "flex", "--set", set],
            &[want],
        );
    }
    // A comparison's per-head margin, which used to fail only when that head's turn came.
    edit(
        &config,
        "[render]",
        "[compare]\nheads = [\"arcface\", \"sphereface\"]\n[compare.margins]\nsphereface = 2.5\n\n[render]",
    );
    refused_untouched(
        tmp.path(),
        &["compare", path, "--device", "flex"],
        &["key `compare.margins.sphereface` = 2.5: expected a whole number >= 1"],
    );
}

/// A CelebA-layout config at `image_size` with the user's `[model]` / `[train]` lines.
fn celeba_sized(dir: &Path, image_size: usize, model: &str, train: &str) -> std::path::PathBuf {
    let text = format!(
        "name = \"c\"\n[data]\nkind = \"celeba\"\nroot = \"celeba\"\ntop_k = 2\nimage_size = {image_size}\n[model]\n{model}\n[train]\nepochs = 1\n{train}\n"
    );
    let path = dir.join("c.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn sizes_that_cannot_fit_in_memory_are_refused_with_their_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    celeba_fixture(&tmp.path().join("celeba"), &[1, 2], 3);
    // 64x64 RGB: 64 x 8 x 8 = 4096 features. (2 classes + 4096) x 1e8 dims x 16 bytes = 6.6 TB.
    let config = celeba_sized(
        tmp.path(),
        64,
        "embedding_dim = 100000000",
        "batch_size = 4",
    );
    let path = config.to_str().unwrap();
    refused_untouched(
        tmp.path(),
        &["train", path, "--device", "flex"],
        &[
            "c.toml line 8: model.embedding_dim = 100000000: training would need at least 6.6 TB, more than this machine's",
            "(100000000 x (2 classes + 4096 flattened features) x 16 bytes: weights, gradient and Adam's two moments, f32)",
        ],
    );
    // A batch too large: 1e8 images x (3 + 16) channels x 1024 x 1024 x 4 bytes = 8.0 PB.
    let config = celeba_sized(tmp.path(), 1024, "", "batch_size = 100000000");
    refused_untouched(
        tmp.path(),
        &["train", config.to_str().unwrap(), "--device", "flex"],
        &[
            "c.toml line 11: train.batch_size = 100000000 with data.image_size = 1024: training would need at least 8.0 PB",
            "(100000000 images x (3 + 16) channels x 1024 x 1024 pixels x 4 bytes)",
        ],
    );
    // Through --set, on the synthetic set, which is then not generated: 16x16 RGB gives
    // 256 features, (4 classes + 256) x 1e8 x 16 bytes = 416.0 GB.
    let synthetic = synthetic_config(tmp.path(), "s", 2, 1, "arcface");
    refused_untouched(
        tmp.path(),
        &[
            "train",
            synthetic.to_str().unwrap(),
            "--device",
            "flex",
            "--set",
            "model.embedding_dim=100000000",
        ],
        &[
            "--set model.embedding_dim=100000000: model.embedding_dim = 100000000: training would need at least 416.0 GB",
        ],
    );
}

#[test]
fn bench_shapes_that_cannot_fit_in_memory_are_refused_with_their_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let bench = |args: &[&'static str]| {
        let mut all = vec!["bench"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--steps", "1", "--warmup", "0", "--device", "flex"]);
        all
    };
    // 32 images x (3 + 16) channels x 1e5 x 1e5 pixels x 4 bytes = 24.3 TB, and the embedding
    // layer (10 classes + 64 x 12500 x 12500 features) x 3 dims x 16 bytes = 0.5 TB more.
    refused_untouched(
        tmp.path(),
        &bench(&["step", "--input", "3x100000x100000"]),
        &[
            "--batch 32 with --input 3x100000x100000: training would need at least 24.8 TB",
            "(32 images x (3 + 16) channels x 100000 x 100000 pixels x 4 bytes)",
        ],
    );
    // 1e10 classes x 512 dims x 8 bytes (weights and gradient) = 41.0 TB.
    refused_untouched(
        tmp.path(),
        &bench(&["head", "--classes", "10000000000", "--dim", "512"]),
        &[
            "--dim 512 with --classes 10000000000: the head bench would need at least 41.0 TB",
            "the head 41.0 TB (512 x 10000000000 classes x 8 bytes: weights and gradient, f32)",
        ],
    );
}
