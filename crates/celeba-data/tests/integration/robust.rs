//! Odd list files, bad images and one-folder-per-class sets.

use std::path::Path;

use celeba_data::{DataConfig, FolderConfig, OnBadImage};
use image::{GrayImage, Luma, Rgb, RgbImage};

use crate::fixtures::*;

#[test]
fn identity_file_variants_load_like_the_plain_one_and_duplicates_warn() {
    let dir = tempfile::tempdir().unwrap();
    celeba_tree(dir.path(), &[(4, 3), (9, 2)]);
    let plain = load_ok(DataConfig::Celeba(celeba(dir.path())));
    assert!(plain.warnings.is_empty(), "{:?}", plain.warnings);

    // A count line, a header, CRLF, trailing spaces, blank lines, and two duplicates.
    let text = "5\r\nimage_id identity\r\n000001.png 4  \r\n\r\n000002.png 4\r\n000003.png\t4\r\n\
                000002.png 4\r\n000004.png 9 \r\n000005.png 9\r\n\r\n000005.png 9\r\n";
    std::fs::write(dir.path().join("identity_CelebA.txt"), text).unwrap();
    let odd = load_ok(DataConfig::Celeba(celeba(dir.path())));
    assert_eq!(odd.classes, plain.classes);
    assert_eq!(odd.train.names(), plain.train.names());
    assert_eq!(odd.val.names(), plain.val.names());
    assert_eq!(odd.warnings.len(), 1, "{:?}", odd.warnings);
    let w = &odd.warnings[0];
    assert!(
        w.contains("identity_CelebA.txt")
            && w.contains("2 duplicate")
            && w.contains("line 7 (000002.png, first on line 5)")
            && w.contains("line 11 (000005.png, first on line 9)"),
        "{w}"
    );

    // The same image under two identities is an error naming both lines.
    std::fs::write(
        dir.path().join("identity_CelebA.txt"),
        "000001.png 4\n000002.png 4\n000001.png 9\n",
    )
    .unwrap();
    let msg = load_err(DataConfig::Celeba(celeba(dir.path())));
    assert!(
        msg.contains("identity_CelebA.txt:3") && msg.contains("line 1"),
        "{msg}"
    );
}

/// CelebA tree of 3 identities x 4 images with two bad files: 000002 is a truncated JPEG,
/// 000007 is missing.
fn tree_with_bad_files(root: &Path) {
    celeba_tree(root, &[(1, 4), (2, 4), (3, 4)]);
    let jpeg = jpeg_bytes(40, 48);
    std::fs::write(
        root.join("img_align_celeba/000002.png"),
        &jpeg[..jpeg.len() / 2],
    )
    .unwrap();
    std::fs::remove_file(root.join("img_align_celeba/000007.png")).unwrap();
}

#[test]
fn bad_images_fail_before_training_listing_paths_and_count() {
    let dir = tempfile::tempdir().unwrap();
    tree_with_bad_files(dir.path());
    // The missing file is found without decoding anything.
    let msg = load_err(DataConfig::Celeba(celeba(dir.path())));
    assert!(
        msg.contains("1 of the 12 selected") && msg.contains("000007.png: file not found"),
        "{msg}"
    );
    assert!(msg.contains("on_bad_image = \"skip\""), "{msg}");
    // With the missing one back, the truncated one is reported after decoding.
    face_png(Rgb([1, 2, 3]))
        .save(dir.path().join("img_align_celeba/000007.png"))
        .unwrap();
    let msg = load_err(DataConfig::Celeba(celeba(dir.path())));
    assert!(
        msg.contains("1 of the 12 selected")
            && msg.contains("000002.png: cannot decode")
            && msg.contains("truncated"),
        "{msg}"
    );
}

#[test]
fn skip_leaves_bad_images_out_and_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    tree_with_bad_files(dir.path());
    let data = load_ok(DataConfig::Celeba(celeba_data::CelebaConfig {
        on_bad_image: OnBadImage::Skip,
        val_fraction: 0.25,
        ..celeba(dir.path())
    }));
    let mut skipped: Vec<String> = data
        .skipped
        .iter()
        .map(|s| {
            let name = s.path.file_name().unwrap().to_str().unwrap().to_owned();
            format!("{name}: {}", s.reason)
        })
        .collect();
    skipped.sort();
    assert_eq!(skipped.len(), 2);
    assert!(
        skipped[0].starts_with("000002.png: cannot decode"),
        "{skipped:?}"
    );
    assert_eq!(skipped[1], "000007.png: file not found");
    assert!(data.skipped[0].path.is_absolute() || data.skipped[0].path.starts_with(dir.path()));
    assert!(
        data.warnings.iter().any(|w| w.contains("skipped 2 of")),
        "{:?}",
        data.warnings
    );
    // 10 usable images: identity 1 and 2 keep 3 each (1 val), identity 3 keeps 4 (1 val).
    assert_eq!(data.classes, ["1", "2", "3"]);
    assert_eq!(data.train.len() + data.val.len(), 10);
    assert_eq!(data.val.len(), 3);
    let names: Vec<String> = data
        .train
        .names()
        .into_iter()
        .chain(data.val.names())
        .collect();
    assert!(!names.contains(&"000002.png".to_owned()) && !names.contains(&"000007.png".to_owned()));
    // Every usable image reads back as its colour (no zeroed record of a bad file leaks in).
    for split in [&data.train, &data.val] {
        for i in 0..split.len() {
            let item = split.item(i);
            assert!(item.pixels().iter().any(|&v| v != 0));
        }
    }
}

/// A folder set: `alice` (RGB PNG 6x10, a JPEG with an upper-case extension, a grayscale
/// PGM), `bob` (a BMP 12x20, a grayscale PNG 9x9), `carol` (one PNG), plus things to ignore.
fn folder_tree(root: &Path) {
    for class in ["alice", "bob", "carol", "empty", ".hidden"] {
        std::fs::create_dir_all(root.join(class)).unwrap();
    }
    RgbImage::from_pixel(6, 10, Rgb([200, 100, 50]))
        .save(root.join("alice/a1.png"))
        .unwrap();
    std::fs::write(root.join("alice/a2.JPG"), jpeg_bytes(30, 30)).unwrap();
    GrayImage::from_pixel(7, 5, Luma([77]))
        .save(root.join("alice/a3.pgm"))
        .unwrap();
    RgbImage::from_pixel(12, 20, Rgb([10, 20, 30]))
        .save(root.join("bob/b1.bmp"))
        .unwrap();
    GrayImage::from_pixel(9, 9, Luma([140]))
        .save(root.join("bob/b2.png"))
        .unwrap();
    RgbImage::from_pixel(8, 8, Rgb([1, 2, 3]))
        .save(root.join("carol/c1.png"))
        .unwrap();
    RgbImage::from_pixel(8, 8, Rgb([9, 9, 9]))
        .save(root.join(".hidden/h.png"))
        .unwrap();
    std::fs::write(root.join("alice/readme.md"), "not an image").unwrap();
    std::fs::write(root.join("alice/.DS_Store"), "junk").unwrap();
    std::fs::write(root.join("notes.txt"), "not a class").unwrap();
}

fn pixels_of(data: &celeba_data::LoadedData, file: &str) -> Vec<u8> {
    let store = data.train.store();
    let i = (0..store.len()).find(|&i| store.name(i) == file).unwrap();
    store.pixels(i).to_vec()
}

#[test]
fn folder_sets_mix_formats_sizes_and_colour_kinds() {
    let dir = tempfile::tempdir().unwrap();
    folder_tree(dir.path());
    let data = load_ok(DataConfig::Folder(FolderConfig {
        val_fraction: 0.0,
        ..folder(dir.path())
    }));
    assert_eq!(data.classes, ["alice", "bob", "carol"]);
    assert_eq!(data.shape, [3, 8, 8]);
    assert_eq!(data.train.len(), 6);
    let mut names = data.train.names();
    names.sort();
    assert_eq!(
        names,
        [
            "alice/a1.png",
            "alice/a2.JPG",
            "alice/a3.pgm",
            "bob/b1.bmp",
            "bob/b2.png",
            "carol/c1.png"
        ]
    );
    // Uniform images stay uniform through crop and resize; gray becomes R = G = B.
    let plane = |v: [u8; 3]| -> Vec<u8> { v.iter().flat_map(|&c| [c; 64]).collect() };
    assert_eq!(pixels_of(&data, "alice/a1.png"), plane([200, 100, 50]));
    assert_eq!(pixels_of(&data, "alice/a3.pgm"), plane([77, 77, 77]));
    assert_eq!(pixels_of(&data, "bob/b1.bmp"), plane([10, 20, 30]));
    assert_eq!(pixels_of(&data, "bob/b2.png"), plane([140, 140, 140]));
    // Ignored things are reported: the empty class folder, the non-image files.
    let all = data.warnings.join("\n");
    assert!(all.contains("empty"), "{all}");
    assert!(
        all.contains("readme.md") && all.contains("notes.txt"),
        "{all}"
    );
    assert!(
        !all.contains(".DS_Store") && !all.contains(".hidden"),
        "{all}"
    );

    // Grayscale: colour becomes Rec. 709 luma, 0.2126 R + 0.7152 G + 0.0722 B, to the nearest
    // integer: (200, 100, 50) -> 42.52 + 71.52 + 3.61 = 117.65 -> 118.
    let gray = load_ok(DataConfig::Folder(FolderConfig {
        grayscale: true,
        ..folder(dir.path())
    }));
    assert_eq!(gray.shape, [1, 8, 8]);
    assert_eq!(pixels_of(&gray, "alice/a1.png"), vec![118; 64]);
    assert_eq!(pixels_of(&gray, "alice/a3.pgm"), vec![77; 64]);
}

#[test]
fn folder_sets_select_by_name_count_and_minimum() {
    let dir = tempfile::tempdir().unwrap();
    folder_tree(dir.path());
    let classes = |cfg: FolderConfig| load_ok(DataConfig::Folder(cfg)).classes;
    let base = folder(dir.path());
    assert_eq!(
        classes(FolderConfig {
            top_k: Some(2),
            ..base.clone()
        }),
        ["alice", "bob"]
    );
    assert_eq!(
        classes(FolderConfig {
            min_images_per_identity: 3,
            ..base.clone()
        }),
        ["alice"]
    );
    assert_eq!(
        classes(FolderConfig {
            ids: Some(vec!["carol".into(), "alice".into()]),
            ..base.clone()
        }),
        ["alice", "carol"]
    );
    let msg = load_err(DataConfig::Folder(FolderConfig {
        ids: Some(vec!["alice".into(), "dave".into()]),
        ..base.clone()
    }));
    assert!(msg.contains("dave") && !msg.contains("alice,"), "{msg}");
    let msg = load_err(DataConfig::Folder(FolderConfig {
        min_images_per_identity: 4,
        ..base
    }));
    assert!(msg.contains("no identity is left"), "{msg}");
}

#[test]
#[cfg(unix)]
fn folder_set_bad_files_error_or_skip() {
    let dir = tempfile::tempdir().unwrap();
    folder_tree(dir.path());
    // A dangling link (missing file) and a truncated JPEG.
    std::os::unix::fs::symlink(dir.path().join("gone.png"), dir.path().join("bob/b3.png")).unwrap();
    let jpeg = jpeg_bytes(30, 30);
    std::fs::write(
        dir.path().join("carol/c2.jpeg"),
        &jpeg[..jpeg.len() * 2 / 3],
    )
    .unwrap();

    let msg = load_err(DataConfig::Folder(folder(dir.path())));
    assert!(msg.contains("bob/b3.png: file not found"), "{msg}");
    std::fs::remove_file(dir.path().join("bob/b3.png")).unwrap();
    let msg = load_err(DataConfig::Folder(folder(dir.path())));
    assert!(msg.contains("carol/c2.jpeg: cannot decode"), "{msg}");

    std::os::unix::fs::symlink(dir.path().join("gone.png"), dir.path().join("bob/b3.png")).unwrap();
    let data = load_ok(DataConfig::Folder(FolderConfig {
        on_bad_image: OnBadImage::Skip,
        ..folder(dir.path())
    }));
    assert_eq!(data.skipped.len(), 2);
    assert_eq!(data.train.len() + data.val.len(), 6);
}

#[test]
fn missing_folder_root_and_folder_without_classes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let msg = load_err(DataConfig::Folder(folder(&dir.path().join("nope"))));
    assert!(
        msg.contains("nope") && msg.contains("does not exist"),
        "{msg}"
    );
    std::fs::create_dir(dir.path().join("flat")).unwrap();
    RgbImage::from_pixel(4, 4, Rgb([0, 0, 0]))
        .save(dir.path().join("flat/x.png"))
        .unwrap();
    let msg = load_err(DataConfig::Folder(folder(&dir.path().join("flat"))));
    assert!(msg.contains("flat") && msg.contains("sub-folders"), "{msg}");
}
