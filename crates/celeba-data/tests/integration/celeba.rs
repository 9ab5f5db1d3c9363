use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use celeba_data::{CelebaConfig, DataConfig, DataError, HeldOut, LoadedData, load};
use image::{Rgb, RgbImage};

/// (id, image count), listed in this file order. 20 and 30 tie at 3 images; 30 comes first
/// in the file, so only the id tie-break (not file order) makes top_k = 2 choose 20.
const IDENTITIES: [(u32, usize); 5] = [(10, 5), (30, 3), (20, 3), (5, 2), (40, 1)];

/// A distinct colour per image, so each loaded image can be traced back to its file.
fn colour_of(id: u32, k: usize) -> Rgb<u8> {
    Rgb([id as u8 * 4, 40 + k as u8 * 20, 200])
}

/// Writes a CelebA-layout fixture of PNGs 6 wide and 10 tall: the top and bottom two rows
/// are red, the centre 6x6 square is the image's colour, so a correct centre crop sees only
/// the colour.
fn write_fixture(root: &Path) -> BTreeMap<String, (u32, Rgb<u8>)> {
    let dir = root.join("img_align_celeba");
    std::fs::create_dir_all(&dir).unwrap();
    let mut lines = String::new();
    let mut expected = BTreeMap::new();
    let mut file_no = 1;
    for (id, count) in IDENTITIES {
        for k in 0..count {
            let name = format!("{file_no:06}.png");
            let colour = colour_of(id, k);
            let img = RgbImage::from_fn(6, 10, |_, y| {
                if (2..8).contains(&y) {
                    colour
                } else {
                    Rgb([255, 0, 0])
                }
            });
            img.save(dir.join(&name)).unwrap();
            lines.push_str(&format!("{name} {id}\n"));
            expected.insert(name, (id, colour));
            file_no += 1;
        }
    }
    std::fs::write(root.join("identity_CelebA.txt"), lines).unwrap();
    expected
}

fn config(root: &Path, top_k: Option<usize>, ids: Option<Vec<u32>>) -> DataConfig {
    // No held-out identities and no cache: these tests are about selection and decoding.
    DataConfig::Celeba(CelebaConfig {
        top_k,
        ids,
        image_size: 8,
        held_out: HeldOut::None,
        cache: false,
        ..CelebaConfig::new(root)
    })
}

fn val_names_by_id(data: &LoadedData) -> Vec<BTreeSet<String>> {
    let mut out = vec![BTreeSet::new(); data.classes.len()];
    for (name, label) in data.val.names().into_iter().zip(data.val.labels()) {
        out[label as usize].insert(name);
    }
    out
}

#[test]
fn top_k_breaks_ties_by_smaller_id_and_orders_classes_by_id() {
    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path());
    let data = load(&config(dir.path(), Some(2), None), 1).unwrap();
    assert_eq!(data.classes, ["10", "20"]);
    let data = load(&config(dir.path(), Some(4), None), 1).unwrap();
    assert_eq!(data.classes, ["5", "10", "20", "30"]);
    assert_eq!(data.shape, [3, 8, 8]);
}

#[test]
fn images_keep_their_labels_and_are_centre_cropped() {
    let dir = tempfile::tempdir().unwrap();
    let expected = write_fixture(dir.path());
    let data = load(&config(dir.path(), Some(3), None), 1).unwrap();
    let store = data.train.store();
    assert_eq!(store.len(), 5 + 3 + 3);
    for i in 0..store.len() {
        let (id, colour) = expected[store.name(i)];
        assert_eq!(data.classes[store.label(i) as usize], id.to_string());
        let pixels = store.pixels(i);
        assert_eq!(pixels.len(), 3 * 8 * 8);
        for c in 0..3 {
            // A uniform square stays uniform under resizing; any red means a bad crop.
            assert!(
                pixels[c * 64..(c + 1) * 64]
                    .iter()
                    .all(|&v| v == colour.0[c]),
                "{}",
                store.name(i)
            );
        }
    }
}

#[test]
fn split_sizes_follow_val_fraction_per_identity() {
    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path());
    let data = load(&config(dir.path(), None, Some(vec![40, 5, 10, 20])), 3).unwrap();
    assert_eq!(data.classes, ["5", "10", "20", "40"]);
    let count = |labels: Vec<i64>| {
        let mut counts = [0usize; 4];
        for l in labels {
            counts[l as usize] += 1;
        }
        counts
    };
    // 0.2 * 2 = 0.4 rounds to 0 but both sides keep one; 0.2 * 5 = 1; 0.2 * 3 = 0.6 -> 1;
    // a single image all goes to train.
    assert_eq!(count(data.val.labels()), [1, 1, 1, 0]);
    assert_eq!(count(data.train.labels()), [1, 4, 2, 1]);
}

#[test]
fn split_is_disjoint_complete_and_seeded() {
    let dir = tempfile::tempdir().unwrap();
    let expected = write_fixture(dir.path());
    let cfg = config(dir.path(), Some(5), None);
    let a = load(&cfg, 42).unwrap();
    let b = load(&cfg, 42).unwrap();
    assert_eq!(a.val.names(), b.val.names());
    assert_eq!(a.train.names(), b.train.names());

    let train: BTreeSet<String> = a.train.names().into_iter().collect();
    let val: BTreeSet<String> = a.val.names().into_iter().collect();
    assert!(train.is_disjoint(&val));
    let all: BTreeSet<String> = train.union(&val).cloned().collect();
    assert_eq!(all, expected.keys().cloned().collect());

    let first = val_names_by_id(&a);
    let differs = (0..20).any(|seed| val_names_by_id(&load(&cfg, seed).unwrap()) != first);
    assert!(differs, "the split ignores the seed");
}

#[test]
fn grayscale_has_one_channel() {
    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path());
    let DataConfig::Celeba(mut cfg) = config(dir.path(), Some(1), None) else {
        unreachable!()
    };
    cfg.grayscale = true;
    let data = load(&DataConfig::Celeba(cfg), 0).unwrap();
    assert_eq!(data.shape, [1, 8, 8]);
    assert_eq!(data.train.store().pixels(0).len(), 64);
}

fn error_text(cfg: &DataConfig) -> String {
    match load(cfg, 0) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn malformed_identity_line_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path());
    let path = dir.path().join("identity_CelebA.txt");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text = text.replacen("000003.png 10", "000003.png ten", 1);
    std::fs::write(&path, text).unwrap();
    let msg = error_text(&config(dir.path(), Some(1), None));
    assert!(msg.contains("identity_CelebA.txt:3"), "{msg}");
    assert!(msg.contains("000003.png ten"), "{msg}");
    assert!(msg.contains("<integer id>"), "{msg}");
}

#[test]
fn missing_image_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path());
    std::fs::remove_file(dir.path().join("img_align_celeba/000002.png")).unwrap();
    let msg = error_text(&config(dir.path(), Some(1), None));
    assert!(
        msg.contains("000002.png") && msg.contains("1 of the 5 selected image"),
        "{msg}"
    );
}

#[test]
fn truncated_jpeg_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path());
    let img = RgbImage::from_fn(32, 32, |x, y| Rgb([(x * 8) as u8, (y * 8) as u8, 90]));
    let mut jpeg = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut jpeg),
        image::ImageFormat::Jpeg,
    )
    .unwrap();
    let jpeg_path = dir.path().join("img_align_celeba/000001.png");
    // Cut inside the headers, then inside the scan (which the decoder alone would accept).
    for keep in [jpeg.len() / 3, jpeg.len() * 9 / 10] {
        std::fs::write(&jpeg_path, &jpeg[..keep]).unwrap();
        let msg = error_text(&config(dir.path(), Some(1), None));
        assert!(
            msg.contains("000001.png") && msg.contains("decode"),
            "{msg}"
        );
    }
}

#[test]
fn top_k_too_large_says_both_numbers() {
    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path());
    let msg = error_text(&config(dir.path(), Some(6), None));
    assert!(
        msg.contains("top_k = 6") && msg.contains("only 5 eligible identities"),
        "{msg}"
    );
}

#[test]
fn unknown_ids_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path());
    let msg = error_text(&config(dir.path(), None, Some(vec![10, 11, 12])));
    assert!(msg.contains("11, 12") && !msg.contains("10,"), "{msg}");
}

#[test]
fn missing_folders_and_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("nowhere");
    let msg = error_text(&config(&root, Some(1), None));
    assert!(
        msg.contains("nowhere") && msg.contains("does not exist"),
        "{msg}"
    );

    write_fixture(dir.path());
    std::fs::remove_file(dir.path().join("identity_CelebA.txt")).unwrap();
    let msg = error_text(&config(dir.path(), Some(1), None));
    assert!(msg.contains("identity_CelebA.txt"), "{msg}");

    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path());
    std::fs::remove_dir_all(dir.path().join("img_align_celeba")).unwrap();
    let msg = error_text(&config(dir.path(), Some(1), None));
    assert!(msg.contains("img_align_celeba"), "{msg}");
}

#[test]
fn selection_and_val_fraction_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path());
    let msg = error_text(&config(dir.path(), Some(1), Some(vec![10])));
    assert!(msg.contains("top_k") && msg.contains("ids"), "{msg}");
    let msg = error_text(&config(dir.path(), None, Some(vec![])));
    assert!(msg.contains("ids") && msg.contains("empty"), "{msg}");
    let DataConfig::Celeba(mut cfg) = config(dir.path(), Some(1), None) else {
        unreachable!()
    };
    cfg.val_fraction = 1.0;
    let err = load(&DataConfig::Celeba(cfg), 0).err().unwrap();
    assert!(
        matches!(
            err,
            DataError::Config {
                field: "val_fraction",
                ..
            }
        ),
        "{err}"
    );
}
