use std::io::Write;
use std::path::Path;

use celeba_data::{DataConfig, MnistConfig, MnistSplit, load};
use flate2::Compression;
use flate2::write::GzEncoder;

const ROWS: usize = 4;
const COLS: usize = 3;
const LABELS: [u8; 6] = [7, 2, 1, 0, 4, 1];

/// Image `i` has pixel `p` = `i * 20 + p`, so every value is traceable.
fn pixel(i: usize, p: usize) -> u8 {
    (i * 20 + p) as u8
}

fn idx_images(count: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for v in [2051u32, count as u32, ROWS as u32, COLS as u32] {
        bytes.extend_from_slice(&v.to_be_bytes());
    }
    for i in 0..count {
        bytes.extend((0..ROWS * COLS).map(|p| pixel(i, p)));
    }
    bytes
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&2049u32.to_be_bytes());
    bytes.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    bytes.extend_from_slice(labels);
    bytes
}

fn write(dir: &Path, name: &str, bytes: &[u8], gz: bool) {
    if gz {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(bytes).unwrap();
        std::fs::write(dir.join(format!("{name}.gz")), enc.finish().unwrap()).unwrap();
    } else {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

fn config(root: &Path, val_fraction: f64, limit: Option<usize>) -> DataConfig {
    DataConfig::Mnist(MnistConfig {
        root: root.to_owned(),
        val_fraction,
        limit,
        split: MnistSplit::Auto,
    })
}

#[test]
fn raw_and_gzip_pairs_load_the_same_digits() {
    for gz in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "t10k-images-idx3-ubyte",
            &idx_images(LABELS.len()),
            gz,
        );
        write(
            dir.path(),
            "t10k-labels-idx1-ubyte",
            &idx_labels(&LABELS),
            gz,
        );
        let data = load(&config(dir.path(), 0.5, None), 9).unwrap();
        assert_eq!(data.shape, [1, ROWS, COLS]);
        assert_eq!(
            data.classes,
            ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
        );
        assert_eq!((data.train.len(), data.val.len()), (3, 3));
        let store = data.train.store();
        for (i, &label) in LABELS.iter().enumerate() {
            assert_eq!(store.name(i), format!("t10k#{i}"));
            assert_eq!(store.label(i), u32::from(label));
            let expected: Vec<u8> = (0..ROWS * COLS).map(|p| pixel(i, p)).collect();
            assert_eq!(store.pixels(i), expected.as_slice());
        }
        let mut all: Vec<usize> = data
            .train
            .indices()
            .iter()
            .chain(data.val.indices())
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..LABELS.len()).collect::<Vec<_>>());
    }
}

#[test]
fn both_pairs_give_the_standard_split_and_limit_applies_to_each() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "t10k-images-idx3-ubyte", &idx_images(2), false);
    write(
        dir.path(),
        "t10k-labels-idx1-ubyte",
        &idx_labels(&[3, 3]),
        false,
    );
    write(
        dir.path(),
        "train-images-idx3-ubyte",
        &idx_images(LABELS.len()),
        true,
    );
    write(
        dir.path(),
        "train-labels-idx1-ubyte",
        &idx_labels(&LABELS),
        true,
    );
    // Auto: both pairs present, so train = the training file, val = the t10k file.
    let data = load(&config(dir.path(), 0.5, Some(4)), 0).unwrap();
    assert_eq!((data.train.len(), data.val.len()), (4, 2));
    assert_eq!(data.train.labels(), [7, 2, 1, 0]);
    assert_eq!(data.train.names()[3], "train#3");
    assert_eq!(data.val.labels(), [3, 3]);
    assert_eq!(data.val.names(), ["t10k#0", "t10k#1"]);
    // t10k image 1 is pixel(1, p) = 20 + p.
    let val_pixels = data.val.item(1).pixels().to_vec();
    assert_eq!(
        val_pixels,
        (0..ROWS * COLS).map(|p| pixel(1, p)).collect::<Vec<_>>()
    );
    assert!(data.held_out.is_empty());

    // Random: the training pair alone, split by val_fraction (0: all train).
    let DataConfig::Mnist(mut cfg) = config(dir.path(), 0.0, Some(4)) else {
        unreachable!()
    };
    cfg.split = MnistSplit::Random;
    let data = load(&DataConfig::Mnist(cfg.clone()), 0).unwrap();
    assert_eq!((data.train.len(), data.val.len()), (4, 0));
    assert_eq!(data.train.labels(), [7, 2, 1, 0]);

    // Standard without the training pair is refused, naming the key.
    let only_test = tempfile::tempdir().unwrap();
    write(
        only_test.path(),
        "t10k-images-idx3-ubyte",
        &idx_images(2),
        false,
    );
    write(
        only_test.path(),
        "t10k-labels-idx1-ubyte",
        &idx_labels(&[3, 3]),
        false,
    );
    cfg.root = only_test.path().to_owned();
    cfg.split = MnistSplit::Standard;
    let msg = load(&DataConfig::Mnist(cfg), 0).unwrap_err().to_string();
    assert!(msg.contains("split") && msg.contains("train"), "{msg}");
}

fn error_text(cfg: &DataConfig) -> String {
    match load(cfg, 0) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn wrong_magic_is_reported_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut images = idx_images(LABELS.len());
    images[3] = 0x01; // 2049: a label file's magic
    write(dir.path(), "t10k-images-idx3-ubyte", &images, false);
    write(
        dir.path(),
        "t10k-labels-idx1-ubyte",
        &idx_labels(&LABELS),
        false,
    );
    let msg = error_text(&config(dir.path(), 0.2, None));
    assert!(
        msg.contains("t10k-images-idx3-ubyte") && msg.contains("2049") && msg.contains("2051"),
        "{msg}"
    );
}

#[test]
fn inconsistent_files_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut images = idx_images(LABELS.len());
    images.pop();
    write(dir.path(), "t10k-images-idx3-ubyte", &images, false);
    write(
        dir.path(),
        "t10k-labels-idx1-ubyte",
        &idx_labels(&LABELS),
        false,
    );
    let msg = error_text(&config(dir.path(), 0.2, None));
    assert!(
        msg.contains("t10k-images-idx3-ubyte") && msg.contains("bytes"),
        "{msg}"
    );

    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "t10k-images-idx3-ubyte",
        &idx_images(LABELS.len()),
        false,
    );
    write(
        dir.path(),
        "t10k-labels-idx1-ubyte",
        &idx_labels(&LABELS[..5]),
        false,
    );
    let msg = error_text(&config(dir.path(), 0.2, None));
    assert!(
        msg.contains("t10k-labels-idx1-ubyte") && msg.contains("5 labels"),
        "{msg}"
    );

    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "t10k-images-idx3-ubyte", &idx_images(2), false);
    let msg = error_text(&config(dir.path(), 0.2, None));
    assert!(msg.contains("no complete MNIST pair"), "{msg}");
}

#[test]
fn shared_t10k_set_loads_when_present() {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/mnist"
    ));
    if !dir.join("t10k-images-idx3-ubyte.gz").is_file() {
        eprintln!("skipping: no MNIST test set at {}", dir.display());
        return;
    }
    let data = load(&config(dir, 0.2, None), 1).unwrap();
    assert_eq!(data.train.len() + data.val.len(), 10_000);
    assert_eq!((data.train.len(), data.val.len()), (8_000, 2_000));
    let store = data.train.store();
    assert_eq!(store.label(0), 7);
    assert_eq!(store.name(0), "t10k#0");
    let mut counts = [0usize; 10];
    for i in 0..store.len() {
        counts[store.label(i) as usize] += 1;
    }
    assert_eq!(
        counts,
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
}
