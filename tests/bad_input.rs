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
