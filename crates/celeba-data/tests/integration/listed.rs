//! `load_listed` (rebuild exactly a run's split) and `LoadedData::source_files`.

use std::path::{Path, PathBuf};

use celeba_data::{
    CelebaConfig, DataConfig, FolderConfig, HeldOut, MnistConfig, MnistSplit, Split, SplitRecord,
    load, load_listed,
};

use crate::fixtures::*;

/// `<root>/<class>/<class>_<k>.png` for k in `from..to`, each a distinct colour.
fn add_images(root: &Path, class: &str, id: u32, range: std::ops::Range<usize>) {
    std::fs::create_dir_all(root.join(class)).unwrap();
    for k in range {
        face_png(colour(id, k))
            .save(root.join(class).join(format!("{class}_{k:02}.png")))
            .unwrap();
    }
}

fn listed_err(cfg: &DataConfig, seed: u64, records: &[SplitRecord]) -> String {
    match load_listed(cfg, seed, records) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

/// A run on a folder set; then images are added to a class folder. A plain load now splits
/// differently, `load_listed` with the run's records gives them back exactly; a listed image
/// removed afterwards is an error naming it.
#[test]
fn a_folder_run_is_rebuilt_exactly_after_images_were_added() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("set");
    add_images(&root, "cat", 1, 0..6);
    add_images(&root, "dog", 2, 0..5);
    add_images(&root, "eel", 3, 0..4);
    let cfg = DataConfig::Folder(FolderConfig {
        val_fraction: 0.4,
        ..folder(&root)
    });
    let run = load(&cfg, 11).unwrap();
    let records = run.split_records();
    // 6 -> 2 val (2.4), 5 -> 2 val, 4 -> 2 val (1.6): 9 train, 6 val.
    assert_eq!(records.len(), 15);
    assert_eq!(run.val.len(), 6);

    add_images(&root, "dog", 2, 5..12);
    let today = load(&cfg, 11).unwrap().split_records();
    assert_eq!(today.len(), 22);
    assert_ne!(today, records, "adding images changes a plain load");

    let again = load_listed(&cfg, 11, &records).unwrap();
    assert_eq!(again.split_records(), records);
    assert_eq!(again.classes, ["cat", "dog", "eel"]);
    // The pixels are those of the listed files.
    let at = records
        .iter()
        .position(|r| r.file == "dog/dog_03.png")
        .unwrap();
    let (split, index) = if at < again.train.len() {
        (&again.train, at)
    } else {
        (&again.val, at - again.train.len())
    };
    // The centre crop of the 6x10 file is flat colour(2, 3) = (40, 60, 200): 8x8 per channel.
    let expected: Vec<u8> = [40u8, 60, 200].iter().flat_map(|&v| [v; 64]).collect();
    assert_eq!(split.item(index).pixels(), &expected[..]);

    // Another seed does not give the run's split: refused, naming where it first differs.
    let msg = listed_err(&cfg, 12, &records);
    assert!(msg.contains("no longer gives the run's split"), "{msg}");

    let gone = root.join("eel/eel_02.png");
    std::fs::remove_file(&gone).unwrap();
    let msg = listed_err(&cfg, 11, &records);
    assert_eq!(
        msg,
        format!(
            "image {} is in the run's splits (class \"eel\") but missing: the run's data \
             cannot be rebuilt without it",
            gone.display()
        )
    );
}

/// CelebA with `top_k` and a `fraction` hold-out: both draws depend on every identity in the
/// file, so new identities and images would change them; the listed load does not.
#[test]
fn a_celeba_run_with_top_k_and_held_out_identities_is_rebuilt_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    celeba_tree(root, &[(3, 5), (8, 4), (11, 3), (12, 3), (20, 2)]);
    let cfg = DataConfig::Celeba(CelebaConfig {
        top_k: Some(2),
        held_out: HeldOut::Fraction,
        held_out_fraction: 0.5,
        ..celeba(root)
    });
    let run = load(&cfg, 3).unwrap();
    let records = run.split_records();
    assert!(!run.held_out.is_empty());
    assert_eq!(run.classes.len(), 2);

    // A new identity with many images and more images for identity 20, listed at the end.
    let image_dir = root.join("img_align_celeba");
    let mut lines = std::fs::read_to_string(root.join("identity_CelebA.txt")).unwrap();
    for n in 18..=30 {
        let name = format!("{n:06}.png");
        face_png(colour(30, n)).save(image_dir.join(&name)).unwrap();
        lines.push_str(&format!("{name} {}\n", if n <= 20 { 20 } else { 40 }));
    }
    std::fs::write(root.join("identity_CelebA.txt"), &lines).unwrap();
    assert_ne!(load(&cfg, 3).unwrap().split_records(), records);

    let again = load_listed(&cfg, 3, &records).unwrap();
    assert_eq!(again.split_records(), records);
    assert_eq!(again.classes, run.classes);
    assert_eq!(again.held_out_classes, run.held_out_classes);

    // A listed image moved to another identity in the list: named, with both classes.
    let first = &records[0];
    let moved = lines.replacen(
        &format!("{} {}\n", first.file, first.class),
        &format!("{} 99\n", first.file),
        1,
    );
    assert_ne!(moved, lines);
    std::fs::write(root.join("identity_CelebA.txt"), &moved).unwrap();
    let msg = listed_err(&cfg, 3, &records);
    assert!(
        msg.contains(&image_dir.join(&first.file).display().to_string())
            && msg.contains(&format!(
                "is of class \"{}\" in the run's splits",
                first.class
            ))
            && msg.contains("now puts it in class \"99\""),
        "{msg}"
    );

    // A listed image dropped from the identity file (but still on disk).
    let dropped = lines.replacen(&format!("{} {}\n", first.file, first.class), "", 1);
    std::fs::write(root.join("identity_CelebA.txt"), &dropped).unwrap();
    let msg = listed_err(&cfg, 3, &records);
    assert!(
        msg.contains(&first.file) && msg.contains("no longer listed in"),
        "{msg}"
    );
}

/// The files a CelebA load came from, listed by hand: the two list files, then the train
/// images (val_fraction 0: all of identity 3's), then the held-out identity 8's (partition 2).
#[test]
fn source_files_are_the_lists_and_every_image_of_every_split() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    celeba_tree(root, &[(3, 2), (8, 2), (9, 1)]);
    std::fs::write(
        root.join("list_eval_partition.txt"),
        "000001.png 0\n000002.png 1\n000003.png 2\n000004.png 2\n000005.png 0\n",
    )
    .unwrap();
    let data = load(
        &DataConfig::Celeba(CelebaConfig {
            val_fraction: 0.0,
            held_out: HeldOut::Partition,
            ids: Some(vec![3]),
            ..celeba(root)
        }),
        0,
    )
    .unwrap();
    let images = root.join("img_align_celeba");
    let expected: Vec<PathBuf> = vec![
        root.join("identity_CelebA.txt"),
        root.join("list_eval_partition.txt"),
        images.join("000001.png"),
        images.join("000002.png"),
        images.join("000003.png"),
        images.join("000004.png"),
    ];
    assert_eq!(data.source_files(), expected);
}

#[test]
fn mnist_source_files_are_the_idx_files_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut images = Vec::new();
    for v in [2051u32, 2, 2, 2] {
        images.extend_from_slice(&v.to_be_bytes());
    }
    images.extend_from_slice(&[0; 8]);
    let mut labels = Vec::new();
    for v in [2049u32, 2] {
        labels.extend_from_slice(&v.to_be_bytes());
    }
    labels.extend_from_slice(&[3, 4]);
    std::fs::write(dir.path().join("t10k-images-idx3-ubyte"), &images).unwrap();
    std::fs::write(dir.path().join("t10k-labels-idx1-ubyte"), &labels).unwrap();
    let cfg = DataConfig::Mnist(MnistConfig {
        root: dir.path().to_owned(),
        val_fraction: 0.5,
        limit: None,
        split: MnistSplit::Auto,
    });
    let data = load(&cfg, 0).unwrap();
    assert_eq!(
        data.source_files(),
        [
            dir.path().join("t10k-images-idx3-ubyte"),
            dir.path().join("t10k-labels-idx1-ubyte")
        ]
    );
    // MNIST's list is fixed: the listed load compares, and refuses another split.
    let records = data.split_records();
    assert_eq!(records.len(), 2);
    assert_eq!(
        load_listed(&cfg, 0, &records).unwrap().split_records(),
        records
    );
    let mut swapped = records.clone();
    swapped[0].split = if swapped[0].split == Split::Train {
        Split::Val
    } else {
        Split::Train
    };
    let msg = listed_err(&cfg, 0, &swapped);
    assert!(
        msg.contains(&format!("{}: the run has", records[0].file)),
        "{msg}"
    );
}
