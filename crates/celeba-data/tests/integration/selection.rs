//! Identity selection, held-out identities and split records against hand-counted fixtures.

use std::collections::BTreeSet;

use celeba_data::{DataConfig, HeldOut, Split, SplitRecord};

use crate::fixtures::*;

/// (id, images). By count: 1 (6), 7 (5), 3 (4), 4 (4), 6 (3), 2 (2), 5 (1).
const IDS: [(u32, usize); 7] = [(1, 6), (2, 2), (3, 4), (4, 4), (5, 1), (6, 3), (7, 5)];

fn classes(cfg: celeba_data::CelebaConfig) -> Vec<String> {
    load_ok(DataConfig::Celeba(cfg)).classes
}

#[test]
fn top_k_min_images_ids_and_all_pick_the_hand_counted_identities() {
    let dir = tempfile::tempdir().unwrap();
    celeba_tree(dir.path(), &IDS);
    let base = celeba(dir.path());

    // All: every identity, ascending id.
    assert_eq!(classes(base.clone()), ["1", "2", "3", "4", "5", "6", "7"]);
    // top 3 by count: 1 (6), 7 (5), then 3 and 4 tie at 4 and the smaller id wins.
    let top3 = celeba_data::CelebaConfig {
        top_k: Some(3),
        ..base.clone()
    };
    assert_eq!(classes(top3), ["1", "3", "7"]);
    // At least 4 images: 1, 3, 4, 7.
    let min4 = celeba_data::CelebaConfig {
        min_images_per_identity: 4,
        ..base.clone()
    };
    assert_eq!(classes(min4.clone()), ["1", "3", "4", "7"]);
    let min4_top2 = celeba_data::CelebaConfig {
        top_k: Some(2),
        ..min4.clone()
    };
    assert_eq!(classes(min4_top2), ["1", "7"]);
    // top_k beyond what min_images leaves: the message gives both numbers and why.
    let msg = load_err(DataConfig::Celeba(celeba_data::CelebaConfig {
        top_k: Some(5),
        ..min4.clone()
    }));
    assert!(
        msg.contains("top_k = 5")
            && msg.contains("only 4 eligible")
            && msg.contains("3 with fewer"),
        "{msg}"
    );
    // Listed ids, any order, duplicates ignored.
    let ids = celeba_data::CelebaConfig {
        ids: Some(vec![6, 2, 6]),
        ..base.clone()
    };
    assert_eq!(classes(ids), ["2", "6"]);
    // A listed id below min_images is refused, naming it and its count.
    let msg = load_err(DataConfig::Celeba(celeba_data::CelebaConfig {
        ids: Some(vec![1, 5]),
        min_images_per_identity: 2,
        ..base.clone()
    }));
    assert!(msg.contains("5 (1 images)"), "{msg}");

    // The stores hold exactly the selected identities' images: 6 + 4 + 5 for top 3.
    let data = load_ok(DataConfig::Celeba(celeba_data::CelebaConfig {
        top_k: Some(3),
        ..base
    }));
    assert_eq!(data.train.len() + data.val.len(), 15);
    assert_eq!(data.train.store().len(), 15);
    assert!(data.held_out.is_empty() && data.held_out_classes.is_empty());
}

#[test]
fn fraction_held_out_is_identity_disjoint_and_seeded() {
    let dir = tempfile::tempdir().unwrap();
    celeba_tree(dir.path(), &IDS);
    let cfg = celeba_data::CelebaConfig {
        held_out: HeldOut::Fraction,
        held_out_fraction: 0.3,
        ..celeba(dir.path())
    };
    let mut seen = BTreeSet::new();
    for seed in 0..12 {
        let data = celeba_data::load(&DataConfig::Celeba(cfg.clone()), seed).unwrap();
        // round(0.3 * 7) = 2 identities held out, the other 5 trained on.
        assert_eq!(data.held_out_classes.len(), 2);
        assert_eq!(data.classes.len(), 5);
        let held: BTreeSet<&String> = data.held_out_classes.iter().collect();
        let trained: BTreeSet<&String> = data.classes.iter().collect();
        assert!(held.is_disjoint(&trained));
        assert_eq!(held.len() + trained.len(), 7);
        // No record of train or val belongs to a held-out identity, and vice versa.
        for record in data.split_records() {
            match record.split {
                Split::HeldOut => assert!(held.contains(&record.class)),
                Split::Train | Split::Val => assert!(!held.contains(&record.class)),
            }
        }
        // Every image of a held-out identity is in the held-out set.
        let held_images: usize = held
            .iter()
            .map(|name| {
                IDS.iter()
                    .find(|(id, _)| id.to_string() == **name)
                    .unwrap()
                    .1
            })
            .sum();
        assert_eq!(data.held_out.len(), held_images);
        let again = celeba_data::load(&DataConfig::Celeba(cfg.clone()), seed).unwrap();
        assert_eq!(again.held_out_classes, data.held_out_classes);
        seen.insert(data.held_out_classes.clone());
    }
    assert!(seen.len() > 1, "the held-out draw ignores the seed");

    // min_images removes identity 5 (1 image) from both pools: round(0.3 * 6) = 2 held out,
    // 4 trained on, and 5 nowhere.
    let data = load_ok(DataConfig::Celeba(celeba_data::CelebaConfig {
        min_images_per_identity: 2,
        ..cfg.clone()
    }));
    assert_eq!((data.held_out_classes.len(), data.classes.len()), (2, 4));
    assert!(!data.classes.contains(&"5".into()) && !data.held_out_classes.contains(&"5".into()));

    // Listed ids are never drawn into the held-out set.
    for seed in 0..12 {
        let data = celeba_data::load(
            &DataConfig::Celeba(celeba_data::CelebaConfig {
                ids: Some(vec![1, 2, 3]),
                ..cfg.clone()
            }),
            seed,
        )
        .unwrap();
        assert_eq!(data.classes, ["1", "2", "3"]);
        // round(0.3 * 4 unlisted) = 1.
        assert_eq!(data.held_out_classes.len(), 1);
        assert!(["4", "5", "6", "7"].contains(&data.held_out_classes[0].as_str()));
    }
}

#[test]
fn partition_file_holds_out_the_test_identities() {
    let dir = tempfile::tempdir().unwrap();
    let names = celeba_tree(dir.path(), &IDS);
    // Identities 3 and 6 wholly in the test partition (2); 7 with one test image (so all of
    // 7 is held out, with a warning); the rest in train (0) and val (1). CRLF and a header.
    let mut text = String::from("image_id partition\r\n");
    for (k, (id, _)) in IDS.iter().enumerate() {
        for (j, name) in names[k].iter().enumerate() {
            let part = match id {
                3 | 6 => 2,
                7 if j == 0 => 2,
                _ => j % 2,
            };
            text.push_str(&format!("{name} {part}\r\n"));
        }
    }
    std::fs::write(dir.path().join("list_eval_partition.txt"), text).unwrap();

    for held_out in [HeldOut::Auto, HeldOut::Partition] {
        let data = load_ok(DataConfig::Celeba(celeba_data::CelebaConfig {
            held_out,
            ..celeba(dir.path())
        }));
        assert_eq!(data.held_out_classes, ["3", "6", "7"]);
        assert_eq!(data.classes, ["1", "2", "4", "5"]);
        assert_eq!(data.held_out.len(), 4 + 3 + 5);
        assert!(
            data.warnings
                .iter()
                .any(|w| w.contains("both in and out") && w.contains('7')),
            "{:?}",
            data.warnings
        );
    }
    // Without the partition picking the held-out identities, its straddlers do not matter.
    let data = load_ok(DataConfig::Celeba(celeba_data::CelebaConfig {
        held_out: HeldOut::None,
        ..celeba(dir.path())
    }));
    assert!(
        !data.warnings.iter().any(|w| w.contains("both in and out")),
        "{:?}",
        data.warnings
    );
    // top_k picks among the non-held-out identities: 1 (6), 4 (4).
    let data = load_ok(DataConfig::Celeba(celeba_data::CelebaConfig {
        held_out: HeldOut::Auto,
        top_k: Some(2),
        ..celeba(dir.path())
    }));
    assert_eq!(data.classes, ["1", "4"]);
    // Asking to train on a test identity is refused.
    let msg = load_err(DataConfig::Celeba(celeba_data::CelebaConfig {
        held_out: HeldOut::Auto,
        ids: Some(vec![1, 6]),
        ..celeba(dir.path())
    }));
    assert!(msg.contains('6') && msg.contains("test partition"), "{msg}");
    // "partition" without the file is an error naming it.
    std::fs::remove_file(dir.path().join("list_eval_partition.txt")).unwrap();
    let msg = load_err(DataConfig::Celeba(celeba_data::CelebaConfig {
        held_out: HeldOut::Partition,
        ..celeba(dir.path())
    }));
    assert!(msg.contains("list_eval_partition.txt"), "{msg}");
}

#[test]
fn split_records_name_every_image_once_and_serialise() {
    let dir = tempfile::tempdir().unwrap();
    let names = celeba_tree(dir.path(), &IDS);
    let data = load_ok(DataConfig::Celeba(celeba_data::CelebaConfig {
        held_out: HeldOut::Fraction,
        held_out_fraction: 0.3,
        ..celeba(dir.path())
    }));
    let records = data.split_records();
    let all: BTreeSet<String> = names.iter().flatten().cloned().collect();
    let listed: BTreeSet<String> = records.iter().map(|r| r.file.clone()).collect();
    assert_eq!(records.len(), all.len());
    assert_eq!(listed, all);
    // Each record's class is the identity its file belongs to in the fixture.
    for r in &records {
        let k = names.iter().position(|n| n.contains(&r.file)).unwrap();
        assert_eq!(r.class, IDS[k].0.to_string());
        let classes = match r.split {
            Split::HeldOut => &data.held_out_classes,
            _ => &data.classes,
        };
        assert_eq!(classes[r.label as usize], r.class);
    }
    let counts = |s: Split| records.iter().filter(|r| r.split == s).count();
    assert_eq!(counts(Split::Train), data.train.len());
    assert_eq!(counts(Split::Val), data.val.len());
    assert_eq!(counts(Split::HeldOut), data.held_out.len());

    let json = data.splits_json();
    let back: Vec<SplitRecord> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, records);
    let first: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(json.contains("\"held_out\""));
    assert_eq!(first[0]["split"], "train");
    assert!(first[0]["file"].as_str().unwrap().ends_with(".png"));
}
