//! The memory-mapped image cache: round trip, invalidation, corruption. Every test points
//! `cache_dir` at its own temporary folder.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use celeba_data::{CelebaConfig, DataConfig, LoadedData, OnBadImage};
use image::Rgb;

use crate::fixtures::*;

const IDS: [(u32, usize); 3] = [(3, 4), (8, 3), (11, 2)];

fn cached(root: &Path, cache_dir: &Path) -> CelebaConfig {
    CelebaConfig {
        cache: true,
        cache_dir: Some(cache_dir.to_owned()),
        ..celeba(root)
    }
}

/// File name -> pixels, over train and val.
fn pixels_by_name(data: &LoadedData) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = [&data.train, &data.val]
        .iter()
        .flat_map(|split| {
            (0..split.len()).map(|i| {
                let item = split.item(i);
                (
                    item.store.name(item.index).to_owned(),
                    item.pixels().to_vec(),
                )
            })
        })
        .collect();
    out.sort();
    out
}

fn cache_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    out
}

#[test]
fn cached_pixels_equal_direct_decode_and_the_second_run_maps_the_file() {
    let data_dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let names = celeba_tree(data_dir.path(), &IDS);
    // Real JPEGs too, not only flat PNGs: replace one file per identity.
    for list in &names {
        std::fs::write(
            data_dir.path().join("img_align_celeba").join(&list[0]),
            jpeg_bytes(36, 44),
        )
        .unwrap();
    }
    let direct = load_ok(DataConfig::Celeba(celeba(data_dir.path())));
    assert!(direct.cache.is_none());
    assert!(!direct.train.store().is_memory_mapped());

    let first = load_ok(DataConfig::Celeba(cached(
        data_dir.path(),
        cache_dir.path(),
    )));
    let info = first.cache.clone().unwrap();
    assert!(info.built);
    assert_eq!(info.images, 9);
    assert!(first.train.store().is_memory_mapped());
    assert_eq!(pixels_by_name(&first), pixels_by_name(&direct));
    // A flat PNG's centre decodes to its colour: identity 8's second image is colour(8, 1).
    let c = colour(8, 1).0;
    let expected: Vec<u8> = c.iter().flat_map(|&v| [v; 64]).collect();
    let (_, pixels) = pixels_by_name(&first)
        .into_iter()
        .find(|(n, _)| *n == names[1][1])
        .unwrap();
    assert_eq!(pixels, expected);

    let second = load_ok(DataConfig::Celeba(cached(
        data_dir.path(),
        cache_dir.path(),
    )));
    let again = second.cache.clone().unwrap();
    assert!(!again.built);
    assert_eq!(again.path, info.path);
    assert_eq!(pixels_by_name(&second), pixels_by_name(&direct));
    assert_eq!(second.train.names(), direct.train.names());
    assert_eq!(second.val.names(), direct.val.names());
    // One finished file, no temporaries; its size is the header page plus 9 records of
    // 3 x 8 x 8 plus the trailer.
    assert_eq!(
        cache_files(cache_dir.path()),
        std::slice::from_ref(&info.path)
    );
    assert!(info.bytes > 9 * 192 && info.bytes < 4096 + 9 * 192 + 4096);
}

#[test]
fn a_changed_source_or_setting_builds_a_new_cache() {
    let data_dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let names = celeba_tree(data_dir.path(), &IDS);
    let first = load_ok(DataConfig::Celeba(cached(
        data_dir.path(),
        cache_dir.path(),
    )));
    let first_path = first.cache.unwrap().path;

    // Only the mtime changes (same bytes): the cache must notice.
    let file = data_dir.path().join("img_align_celeba").join(&names[0][0]);
    let touch = |secs| {
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(SystemTime::now() + Duration::from_secs(secs))
            .unwrap();
    };
    touch(5);
    let touched = load_ok(DataConfig::Celeba(cached(
        data_dir.path(),
        cache_dir.path(),
    )));
    let touched_path = touched.cache.unwrap().path;
    assert_ne!(touched_path, first_path);

    // New content: the new pixels are read.
    face_png(Rgb([9, 99, 199])).save(&file).unwrap();
    touch(10);
    let changed = load_ok(DataConfig::Celeba(cached(
        data_dir.path(),
        cache_dir.path(),
    )));
    let info = changed.cache.clone().unwrap();
    assert!(info.built);
    assert!(info.path != first_path && info.path != touched_path);
    let (_, pixels) = pixels_by_name(&changed)
        .into_iter()
        .find(|(n, _)| *n == names[0][0])
        .unwrap();
    assert_eq!(&pixels[..64], &[9; 64]);
    assert_eq!(&pixels[64..128], &[99; 64]);

    // Another image size or grayscale: other files again.
    let mut paths = vec![info.path.clone()];
    for cfg in [
        CelebaConfig {
            image_size: 10,
            ..cached(data_dir.path(), cache_dir.path())
        },
        CelebaConfig {
            grayscale: true,
            ..cached(data_dir.path(), cache_dir.path())
        },
        CelebaConfig {
            top_k: Some(2),
            ..cached(data_dir.path(), cache_dir.path())
        },
    ] {
        let data = load_ok(DataConfig::Celeba(cfg));
        let info = data.cache.unwrap();
        assert!(info.built);
        assert!(!paths.contains(&info.path));
        paths.push(info.path);
    }
    // And each is reused as is afterwards.
    let data = load_ok(DataConfig::Celeba(CelebaConfig {
        grayscale: true,
        ..cached(data_dir.path(), cache_dir.path())
    }));
    assert!(!data.cache.unwrap().built);
}

/// Damages the cache file with `damage`, reloads, and checks the damage was reported, the
/// cache rebuilt and the pixels right.
fn survives(damage: impl Fn(&Path)) {
    let data_dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    celeba_tree(data_dir.path(), &IDS);
    let direct = load_ok(DataConfig::Celeba(celeba(data_dir.path())));
    let first = load_ok(DataConfig::Celeba(cached(
        data_dir.path(),
        cache_dir.path(),
    )));
    let path = first.cache.clone().unwrap().path;
    drop(first);
    damage(&path);
    let again = load_ok(DataConfig::Celeba(cached(
        data_dir.path(),
        cache_dir.path(),
    )));
    let info = again.cache.clone().unwrap();
    assert!(info.built, "damage went unnoticed");
    assert_eq!(info.path, path);
    assert!(
        again
            .warnings
            .iter()
            .any(|w| w.contains("unusable") && w.contains("rebuilt")),
        "{:?}",
        again.warnings
    );
    assert_eq!(pixels_by_name(&again), pixels_by_name(&direct));
    let third = load_ok(DataConfig::Celeba(cached(
        data_dir.path(),
        cache_dir.path(),
    )));
    assert!(!third.cache.unwrap().built);
    assert_eq!(cache_files(cache_dir.path()), [path]);
}

#[test]
fn a_flipped_record_byte_is_caught_by_the_checksum() {
    survives(|path| {
        let mut bytes = std::fs::read(path).unwrap();
        // Records start at 4096 (the header is padded to one page); flip one in the middle.
        bytes[4096 + 700] ^= 0x40;
        std::fs::write(path, bytes).unwrap();
    });
}

#[test]
fn a_truncated_cache_is_rebuilt() {
    survives(|path| {
        let bytes = std::fs::read(path).unwrap();
        std::fs::write(path, &bytes[..bytes.len() - 30]).unwrap();
    });
    // Cut inside the records: what an interrupted writer would leave.
    survives(|path| {
        let bytes = std::fs::read(path).unwrap();
        std::fs::write(path, &bytes[..5000]).unwrap();
    });
}

#[test]
fn a_damaged_header_or_foreign_file_is_rebuilt() {
    survives(|path| {
        let mut bytes = std::fs::read(path).unwrap();
        bytes[40] ^= 1;
        std::fs::write(path, bytes).unwrap();
    });
    survives(|path| std::fs::write(path, b"not a cache").unwrap());
}

#[test]
fn bad_images_are_remembered_by_the_cache() {
    let data_dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let names = celeba_tree(data_dir.path(), &IDS);
    let jpeg = jpeg_bytes(30, 30);
    let bad = data_dir.path().join("img_align_celeba").join(&names[1][0]);
    std::fs::write(&bad, &jpeg[..jpeg.len() / 2]).unwrap();

    // The failing run still leaves a finished cache (nothing about it depends on the policy).
    let msg = load_err(DataConfig::Celeba(cached(
        data_dir.path(),
        cache_dir.path(),
    )));
    assert!(
        msg.contains(&names[1][0]) && msg.contains("cannot decode"),
        "{msg}"
    );
    assert_eq!(cache_files(cache_dir.path()).len(), 1);
    // The skip run maps it and reads the bad list from it.
    let data = load_ok(DataConfig::Celeba(CelebaConfig {
        on_bad_image: OnBadImage::Skip,
        ..cached(data_dir.path(), cache_dir.path())
    }));
    assert!(!data.cache.unwrap().built);
    assert_eq!(data.skipped.len(), 1);
    assert_eq!(data.skipped[0].path, bad);
    assert!(data.skipped[0].reason.contains("cannot decode"));
    assert_eq!(data.train.len() + data.val.len(), 8);
}

#[test]
fn an_unwritable_cache_folder_is_an_error_naming_it() {
    let data_dir = tempfile::tempdir().unwrap();
    celeba_tree(data_dir.path(), &IDS);
    let blocker = data_dir.path().join("a-file");
    std::fs::write(&blocker, "x").unwrap();
    let msg = load_err(DataConfig::Celeba(cached(
        data_dir.path(),
        &blocker.join("cache"),
    )));
    assert!(msg.contains("a-file") && msg.contains("cache"), "{msg}");
}
