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

/// Writes `bytes` at `path` and dates it `age` in the past.
fn temp_file(path: &Path, bytes: usize, age: Duration) -> std::fs::File {
    std::fs::write(path, vec![7u8; bytes]).unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
    file
}

fn removal_warnings(data: &LoadedData) -> Vec<&String> {
    data.warnings
        .iter()
        .filter(|w| w.contains("stale temporary cache file"))
        .collect()
}

/// A rebuild removes the temporary file an interrupted build of the same cache left (no
/// process holds its lock), but not one a live build is still writing (locked), whatever
/// their age; finished caches are never touched.
#[test]
fn a_rebuild_removes_the_abandoned_temporary_of_its_cache_only() {
    let data_dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    celeba_tree(data_dir.path(), &IDS);
    let cfg = DataConfig::Celeba(cached(data_dir.path(), cache_dir.path()));
    let first = load_ok(cfg.clone());
    let cache = first.cache.unwrap().path;
    assert!(removal_warnings(&load_ok(cfg.clone())).is_empty());

    // As an interrupted build leaves things: no finished cache, a temporary of 1000 bytes
    // from a writer that is gone (pid 999999999 cannot exist on Linux: pid_max <= 2^22).
    std::fs::remove_file(&cache).unwrap();
    let name = cache.file_name().unwrap().to_str().unwrap().to_owned();
    let abandoned = cache_dir.path().join(format!("{name}.tmp-999999999-1"));
    drop(temp_file(&abandoned, 1000, Duration::ZERO));
    // A live build of the same cache: it holds the lock.
    let live = cache_dir.path().join(format!("{name}.tmp-1-2"));
    let live_file = temp_file(&live, 500, Duration::from_secs(3 * 24 * 3600));
    live_file.try_lock().unwrap();
    // A finished cache of other sources, last used long ago.
    let other = cache_dir.path().join("celeba-8px-3ch-0123456789abcdef.afc");
    drop(temp_file(&other, 300, Duration::from_secs(30 * 24 * 3600)));

    let data = load_ok(cfg);
    assert!(data.cache.as_ref().unwrap().built);
    assert_eq!(
        removal_warnings(&data),
        [&format!(
            "removed a stale temporary cache file {} (1000 bytes), left by an interrupted build",
            abandoned.display()
        )]
    );
    let mut expected = vec![cache.clone(), live.clone(), other.clone()];
    expected.sort();
    assert_eq!(cache_files(cache_dir.path()), expected);
    assert_eq!(std::fs::read(&other).unwrap(), vec![7u8; 300]);
    drop(live_file);
}

/// Any build also removes other caches' temporaries older than a day, unless locked, and
/// leaves younger ones (their build may still be running in an older version without locks).
#[test]
fn a_build_removes_day_old_temporaries_of_other_caches() {
    let data_dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    celeba_tree(data_dir.path(), &IDS);
    let dir = cache_dir.path();
    let day = Duration::from_secs(24 * 3600);
    let old = dir.join("folder-64px-3ch-00000000000000aa.afc.tmp-5-6");
    drop(temp_file(&old, 2048, day + Duration::from_secs(3600)));
    let young = dir.join("folder-64px-3ch-00000000000000bb.afc.tmp-5-7");
    drop(temp_file(&young, 10, day - Duration::from_secs(3600)));
    let old_locked = dir.join("folder-64px-3ch-00000000000000cc.afc.tmp-5-8");
    let locked = temp_file(&old_locked, 10, 2 * day);
    locked.try_lock().unwrap();
    let old_finished = dir.join("folder-64px-3ch-00000000000000dd.afc");
    drop(temp_file(&old_finished, 10, 40 * day));
    let unrelated = dir.join("notes.tmp-1");
    drop(temp_file(&unrelated, 10, 40 * day));

    let data = load_ok(DataConfig::Celeba(cached(data_dir.path(), dir)));
    let cache = data.cache.as_ref().unwrap().path.clone();
    assert_eq!(
        removal_warnings(&data),
        [&format!(
            "removed a stale temporary cache file {} (2048 bytes), left by an interrupted build",
            old.display()
        )]
    );
    let mut expected = vec![cache, young, old_locked, old_finished, unrelated];
    expected.sort();
    assert_eq!(cache_files(dir), expected);
    drop(locked);
}
