//! Property tests over the public loader: whatever a user's files hold, `load` answers with
//! data or an error, never a panic; well-formed files load to exactly what they hold.

use std::path::Path;

use celeba_data::{CelebaConfig, DataConfig, HeldOut, MnistConfig, MnistSplit, load};
use proptest::prelude::*;

use crate::fixtures::celeba;

fn mnist(root: &Path, split: MnistSplit) -> DataConfig {
    DataConfig::Mnist(MnistConfig {
        root: root.to_owned(),
        val_fraction: 0.0,
        limit: None,
        split,
    })
}

/// A 4-byte big-endian field: mostly the values that matter (right magic, small counts),
/// sometimes anything.
fn field(right: u32) -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => Just(right),
        3 => 0u32..6,
        1 => Just(u32::MAX),
        1 => any::<u32>(),
    ]
}

fn be(fields: &[u32]) -> Vec<u8> {
    fields.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// An IDX image file and a label file with headers drawn from [`field`], bodies of any
/// length, each possibly cut short anywhere (also inside the header).
fn idx_pair() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    (
        (field(2051), field(3), field(2), field(2)),
        prop::collection::vec(any::<u8>(), 0..40),
        any::<prop::sample::Index>(),
        (field(2049), field(3)),
        prop::collection::vec(0u8..12, 0..8),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(|((m, n, r, c), body, cut, (lm, ln), labels, lcut, whole)| {
            let mut images = be(&[m, n, r, c]);
            images.extend(body);
            let mut label_bytes = be(&[lm, ln]);
            label_bytes.extend(labels);
            if !whole {
                images.truncate(cut.index(images.len() + 1));
                label_bytes.truncate(lcut.index(label_bytes.len() + 1));
            }
            (images, label_bytes)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_idx_files_load_or_fail_cleanly((images, labels) in idx_pair(), both in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t10k-images-idx3-ubyte"), &images).unwrap();
        std::fs::write(dir.path().join("t10k-labels-idx1-ubyte"), &labels).unwrap();
        if both {
            std::fs::write(dir.path().join("train-images-idx3-ubyte"), &images).unwrap();
            std::fs::write(dir.path().join("train-labels-idx1-ubyte"), &labels).unwrap();
        }
        if let Err(e) = load(&mnist(dir.path(), MnistSplit::Auto), 0) {
            let msg = e.to_string();
            prop_assert!(msg.contains("-ubyte"), "the error names no file: {}", msg);
        }
    }

    /// The oracle: a well-formed pair written byte by byte from the IDX spec loads to the
    /// same digits and pixels, in file order (val_fraction 0: everything in train).
    #[test]
    fn a_well_formed_idx_pair_loads_to_its_digits(
        (rows, cols, digits) in (1usize..5, 1usize..5, prop::collection::vec(0u8..10, 1..7)),
        seed in any::<u64>(),
    ) {
        let pixels: Vec<u8> = (0..digits.len() * rows * cols)
            .map(|p| (p as u64 ^ seed) as u8)
            .collect();
        let mut images = be(&[2051, digits.len() as u32, rows as u32, cols as u32]);
        images.extend(&pixels);
        let mut labels = be(&[2049, digits.len() as u32]);
        labels.extend(&digits);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t10k-images-idx3-ubyte"), &images).unwrap();
        std::fs::write(dir.path().join("t10k-labels-idx1-ubyte"), &labels).unwrap();
        let data = load(&mnist(dir.path(), MnistSplit::Random), seed).unwrap();
        prop_assert_eq!(data.shape, [1, rows, cols]);
        let want: Vec<i64> = digits.iter().map(|&d| i64::from(d)).collect();
        prop_assert_eq!(data.train.labels(), want);
        let got: Vec<u8> = (0..data.train.len())
            .flat_map(|i| data.train.item(i).pixels().to_vec())
            .collect();
        prop_assert_eq!(got, pixels);
    }

    /// Identity and partition files of any content, through the whole CelebA load (no
    /// image exists, so a parse that succeeds ends in a clean "missing image" error).
    #[test]
    fn any_celeba_lists_load_or_fail_cleanly(
        identity in "(\\PC{0,12}[ ,\\t]?[0-9]{0,3}(\\r?\\n)?){0,8}",
        partition in prop::option::of("(\\PC{0,12}[ ,]?[0-3]?(\\r?\\n)?){0,8}"),
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("img_align_celeba")).unwrap();
        std::fs::write(dir.path().join("identity_CelebA.txt"), &identity).unwrap();
        if let Some(partition) = &partition {
            std::fs::write(dir.path().join("list_eval_partition.txt"), partition).unwrap();
        }
        let cfg = DataConfig::Celeba(CelebaConfig {
            held_out: HeldOut::Auto,
            ..celeba(dir.path())
        });
        prop_assert!(load(&cfg, 0).is_err(), "no image exists, yet the load succeeded");
    }
}
