use std::collections::BTreeMap;
use std::path::Path;

use celeba_data::{DataConfig, SynthSpec, SyntheticConfig, describe, generate_synthetic, load};

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in walk(dir) {
        let rel = entry
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        out.insert(rel, std::fs::read(&entry).unwrap());
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

const SMALL: SynthSpec = SynthSpec {
    identities: 3,
    held_out_identities: 0,
    images_per_identity: 10,
    image_size: 24,
    seed: 5,
};

#[test]
fn generation_is_deterministic_by_seed() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    generate_synthetic(a.path(), &SMALL).unwrap();
    generate_synthetic(b.path(), &SMALL).unwrap();
    generate_synthetic(c.path(), &SynthSpec { seed: 6, ..SMALL }).unwrap();
    let (fa, fb, fc) = (files(a.path()), files(b.path()), files(c.path()));
    assert_eq!(fa.len(), 30 + 3);
    assert!(fa == fb, "same spec gave different files");
    let first = "img_align_celeba/000001.jpg";
    assert_ne!(fa[first], fc[first], "the seed does not change the images");
}

#[test]
fn identity_and_partition_files_are_well_formed() {
    let dir = tempfile::tempdir().unwrap();
    generate_synthetic(dir.path(), &SMALL).unwrap();
    let identity = std::fs::read_to_string(dir.path().join("identity_CelebA.txt")).unwrap();
    let partition = std::fs::read_to_string(dir.path().join("list_eval_partition.txt")).unwrap();
    let mut per_id = BTreeMap::<u32, usize>::new();
    let mut per_id_part = BTreeMap::<(u32, u8), usize>::new();
    for (n, (id_line, part_line)) in identity.lines().zip(partition.lines()).enumerate() {
        let name = format!("{:06}.jpg", n + 1);
        let (file, id) = id_line.split_once(' ').unwrap();
        let (pfile, part) = part_line.split_once(' ').unwrap();
        assert_eq!((file, pfile), (name.as_str(), name.as_str()));
        assert!(dir.path().join("img_align_celeba").join(file).is_file());
        let id: u32 = id.parse().unwrap();
        let part: u8 = part.parse().unwrap();
        assert!(part <= 2);
        *per_id.entry(id).or_default() += 1;
        *per_id_part.entry((id, part)).or_default() += 1;
    }
    assert_eq!(identity.lines().count(), 30);
    assert_eq!(partition.lines().count(), 30);
    assert_eq!(per_id, BTreeMap::from([(1, 10), (2, 10), (3, 10)]));
    for id in 1..=3 {
        let counts = [0, 1, 2].map(|p| per_id_part.get(&(id, p)).copied().unwrap_or(0));
        assert_eq!(counts, [8, 1, 1], "identity {id}");
    }
    let image = image::open(dir.path().join("img_align_celeba/000001.jpg")).unwrap();
    assert_eq!((image.width(), image.height()), (24, 24));
}

/// Identity traits must outweigh pose, light and background, yet photos must differ.
#[test]
fn images_of_one_identity_are_closer_than_images_of_different_ones() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SyntheticConfig {
        images_per_identity: 16,
        ..SyntheticConfig::new(dir.path().join("faces"))
    };
    let data = load(&DataConfig::Synthetic(cfg), 0).unwrap();
    let store = data.train.store();
    let distance = |i: usize, j: usize| {
        let sq: f64 = store
            .pixels(i)
            .iter()
            .zip(store.pixels(j))
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
            .sum();
        sq.sqrt()
    };
    let (mut within, mut between) = ((0.0, 0usize), (0.0, 0usize));
    let mut closest_within = f64::INFINITY;
    for i in 0..store.len() {
        for j in i + 1..store.len() {
            let d = distance(i, j);
            if store.label(i) == store.label(j) {
                within = (within.0 + d, within.1 + 1);
                closest_within = closest_within.min(d);
            } else {
                between = (between.0 + d, between.1 + 1);
            }
        }
    }
    let (within, between) = (within.0 / within.1 as f64, between.0 / between.1 as f64);
    eprintln!("mean L2 within {within:.1}, between {between:.1}");
    assert!(
        within < 0.9 * between,
        "within {within:.1} vs between {between:.1}"
    );
    assert!(
        closest_within > 100.0,
        "two photos are nearly identical: {closest_within:.1}"
    );
}

#[test]
fn load_generates_once_and_rejects_a_different_spec() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("faces");
    let cfg = SyntheticConfig {
        identities: 3,
        images_per_identity: 5,
        ..SyntheticConfig::new(&root)
    };
    let data = load(&DataConfig::Synthetic(cfg.clone()), 0).unwrap();
    assert_eq!(data.classes, ["1", "2", "3"]);
    assert_eq!(data.shape, [3, 32, 32]);
    assert_eq!((data.train.len(), data.val.len()), (12, 3));

    let manifest = root.join("synth.json");
    let written = std::fs::metadata(&manifest).unwrap().modified().unwrap();
    load(&DataConfig::Synthetic(cfg.clone()), 0).unwrap();
    assert_eq!(
        std::fs::metadata(&manifest).unwrap().modified().unwrap(),
        written
    );

    let other = SyntheticConfig {
        generator_seed: 8,
        ..cfg
    };
    let msg = load(&DataConfig::Synthetic(other), 0)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("synth.json") && msg.contains("delete") && msg.contains("seed 8"),
        "{msg}"
    );
}

#[test]
fn describe_names_the_set() {
    let cfg = DataConfig::Synthetic(SyntheticConfig::new("/tmp/x"));
    assert!(describe(&cfg).starts_with("synthetic faces: 8 identities x 60 images, 32x32 RGB"));
}

/// 3 training identities x 5 images and 2 held out: ids 1..=3 are the classes, ids 4 and 5
/// (files 000016.jpg ..= 000025.jpg) the held-out set.
fn with_held_out(root: &Path, held_out_identities: usize) -> SyntheticConfig {
    SyntheticConfig {
        identities: 3,
        held_out_identities,
        images_per_identity: 5,
        image_size: 16,
        ..SyntheticConfig::new(root)
    }
}

#[test]
fn held_out_identities_are_the_extra_ids_and_all_their_images() {
    let dir = tempfile::tempdir().unwrap();
    let data = load(
        &DataConfig::Synthetic(with_held_out(&dir.path().join("faces"), 2)),
        0,
    )
    .unwrap();
    assert_eq!(data.classes, ["1", "2", "3"]);
    assert_eq!(data.held_out_classes, ["4", "5"]);
    // 3 x 5 images in train + val, 2 x 5 held out; val is round(0.2 x 5) = 1 per identity.
    assert_eq!((data.train.len(), data.val.len()), (12, 3));
    assert_eq!(data.held_out.len(), 10);
    assert_eq!(data.held_out.labels(), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);

    let records = data.split_records();
    let held: Vec<(&str, &str)> = records
        .iter()
        .filter(|r| r.split == celeba_data::Split::HeldOut)
        .map(|r| (r.file.as_str(), r.class.as_str()))
        .collect();
    let expected: Vec<(String, &str)> = (16..=25)
        .map(|n| (format!("{n:06}.jpg"), if n <= 20 { "4" } else { "5" }))
        .collect();
    assert_eq!(
        held,
        expected
            .iter()
            .map(|(f, c)| (f.as_str(), *c))
            .collect::<Vec<_>>()
    );
    for r in records
        .iter()
        .filter(|r| r.split != celeba_data::Split::HeldOut)
    {
        assert!(["1", "2", "3"].contains(&r.class.as_str()), "{r:?}");
        let number: usize = r.file[..6].parse().unwrap();
        assert!((1..=15).contains(&number), "{r:?}");
    }
    assert_eq!(records.len(), 25);
    // The partition file does not pick the held-out identities here: no warning about it.
    assert!(
        !data.warnings.iter().any(|w| w.contains("partition")),
        "{:?}",
        data.warnings
    );

    // Every image of a held-out identity is in the test partition.
    let partition =
        std::fs::read_to_string(dir.path().join("faces/list_eval_partition.txt")).unwrap();
    let held_parts: Vec<&str> = partition.lines().skip(15).collect();
    assert_eq!(held_parts.len(), 10);
    assert!(
        held_parts.iter().all(|l| l.ends_with(" 2")),
        "{held_parts:?}"
    );
}

#[test]
fn adding_held_out_identities_leaves_the_training_identities_unchanged() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    generate_synthetic(a.path(), &SMALL).unwrap();
    generate_synthetic(
        b.path(),
        &SynthSpec {
            held_out_identities: 2,
            ..SMALL
        },
    )
    .unwrap();
    let (fa, fb) = (files(a.path()), files(b.path()));
    for n in 1..=30 {
        let name = format!("img_align_celeba/{n:06}.jpg");
        assert!(fa[&name] == fb[&name], "{name} differs");
    }
    assert!(fb.contains_key("img_align_celeba/000050.jpg"));
    assert!(!fb.contains_key("img_align_celeba/000051.jpg"));
    let identity = String::from_utf8(fb["identity_CelebA.txt"].clone()).unwrap();
    assert_eq!(identity.lines().count(), 50);
    assert_eq!(identity.lines().nth(30), Some("000031.jpg 4"));
    assert_eq!(identity.lines().last(), Some("000050.jpg 5"));
}

#[test]
fn a_set_with_other_held_out_identities_is_regenerated_not_reused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("faces");
    let images = |root: &Path| {
        std::fs::read_dir(root.join("img_align_celeba"))
            .unwrap()
            .count()
    };

    let data = load(&DataConfig::Synthetic(with_held_out(&root, 0)), 0).unwrap();
    assert!(data.held_out.is_empty());
    assert_eq!(images(&root), 15);
    let first = std::fs::read(root.join("img_align_celeba/000001.jpg")).unwrap();

    let data = load(&DataConfig::Synthetic(with_held_out(&root, 2)), 0).unwrap();
    assert_eq!(data.held_out.len(), 10);
    assert_eq!(images(&root), 25);
    assert!(
        data.warnings
            .iter()
            .any(|w| w.contains("held 0 held-out") && w.contains("with the 2")),
        "{:?}",
        data.warnings
    );
    assert_eq!(
        std::fs::read(root.join("img_align_celeba/000001.jpg")).unwrap(),
        first
    );

    // Back to none: the extra images go, and the set reads as 15 images of 3 identities.
    let data = load(&DataConfig::Synthetic(with_held_out(&root, 0)), 0).unwrap();
    assert!(data.held_out.is_empty());
    assert_eq!(images(&root), 15);
    let identity = std::fs::read_to_string(root.join("identity_CelebA.txt")).unwrap();
    assert_eq!(identity.lines().count(), 15);

    // A different training set is still refused, held-out identities or not.
    let other = SyntheticConfig {
        identities: 4,
        ..with_held_out(&root, 2)
    };
    let msg = load(&DataConfig::Synthetic(other), 0)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("synth.json") && msg.contains("delete"),
        "{msg}"
    );
}

#[test]
fn one_held_out_identity_is_rejected_by_name() {
    let cfg = with_held_out(Path::new("/nonexistent/faces"), 1);
    let msg = load(&DataConfig::Synthetic(cfg), 0)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("held_out_identities") && msg.contains("at least 2"),
        "{msg}"
    );
}

/// A real-looking CelebA folder (no synth.json): two images and the identity file.
fn user_celeba(root: &Path) {
    std::fs::create_dir_all(root.join("img_align_celeba")).unwrap();
    std::fs::write(root.join("img_align_celeba/000001.jpg"), b"user image 1").unwrap();
    std::fs::write(root.join("img_align_celeba/000002.jpg"), b"user image 2").unwrap();
    std::fs::write(
        root.join("identity_CelebA.txt"),
        "000001.jpg 7\n000002.jpg 7\n",
    )
    .unwrap();
}

fn synthetic_at(root: &Path) -> DataConfig {
    DataConfig::Synthetic(SyntheticConfig {
        identities: 3,
        images_per_identity: 10,
        image_size: 24,
        generator_seed: 5,
        ..SyntheticConfig::new(root)
    })
}

/// Runs `write` against a folder `prepare` fills, and checks that it fails with a message
/// naming the folder and containing `says`, and that every file is byte for byte as before
/// (none added, none changed, none removed).
fn refused(prepare: impl Fn(&Path), write: impl Fn(&Path) -> String, says: &str) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    std::fs::create_dir_all(&root).unwrap();
    prepare(&root);
    let before = files(&root);
    let msg = write(&root);
    assert!(
        msg.contains(&root.display().to_string()) && msg.contains(says),
        "{msg}"
    );
    assert!(msg.contains("refusing to write"), "{msg}");
    assert!(files(&root) == before, "the folder changed");
}

fn synth_err(root: &Path) -> String {
    generate_synthetic(root, &SMALL).unwrap_err().to_string()
}

fn loader_err(root: &Path) -> String {
    load(&synthetic_at(root), 0).err().unwrap().to_string()
}

#[test]
fn synth_into_a_celeba_folder_changes_nothing() {
    refused(
        user_celeba,
        synth_err,
        "holds files that are not a synthetic set written by arcface-lab (no synth.json): 2 \
         entries (identity_CelebA.txt, img_align_celeba/)",
    );
    refused(user_celeba, loader_err, "(no synth.json)");
}

#[test]
fn the_loader_does_not_fill_a_folder_of_images_or_anything_else() {
    // Images in CelebA layout without an identity file: once overwritten, now refused.
    let images_only = |root: &Path| {
        std::fs::create_dir_all(root.join("img_align_celeba")).unwrap();
        std::fs::write(root.join("img_align_celeba/000001.jpg"), b"mine").unwrap();
    };
    refused(images_only, loader_err, "(no synth.json)");
    refused(images_only, synth_err, "(no synth.json)");
    // Any other non-empty folder: once hundreds of files were added to it.
    let notes = |root: &Path| std::fs::write(root.join("notes.txt"), b"keep me").unwrap();
    refused(notes, loader_err, "1 entries (notes.txt)");
    refused(notes, synth_err, "1 entries (notes.txt)");
}

#[test]
fn a_foreign_or_broken_synth_json_is_not_taken_for_ours() {
    let foreign = |root: &Path| {
        std::fs::write(
            root.join("synth.json"),
            r#"{"generator": "someone else", "version": 1, "spec": {"identities": 3, "images_per_identity": 10, "image_size": 24, "seed": 5}}"#,
        )
        .unwrap();
        std::fs::write(root.join("identity_CelebA.txt"), "000001.jpg 1\n").unwrap();
    };
    refused(foreign, synth_err, "written by \"someone else\"");
    refused(foreign, loader_err, "written by \"someone else\"");
    let broken = |root: &Path| std::fs::write(root.join("synth.json"), b"{not json").unwrap();
    refused(
        broken,
        synth_err,
        "not an arcface-lab synthetic-set manifest",
    );
    refused(
        broken,
        loader_err,
        "not an arcface-lab synthetic-set manifest",
    );
}

#[test]
fn a_file_is_not_a_folder_to_write_into() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faces");
    std::fs::write(&path, b"a file").unwrap();
    let msg = generate_synthetic(&path, &SMALL).unwrap_err().to_string();
    assert!(msg.contains("is a file, not a folder"), "{msg}");
    assert_eq!(std::fs::read(&path).unwrap(), b"a file");
}

#[test]
fn an_empty_or_missing_folder_is_written_and_our_own_set_rewritten() {
    let (reference, empty, missing) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let nested = missing.path().join("a/b");
    generate_synthetic(reference.path(), &SMALL).unwrap();
    generate_synthetic(empty.path(), &SMALL).unwrap();
    generate_synthetic(&nested, &SMALL).unwrap();
    let want = files(reference.path());
    assert!(files(empty.path()) == want);
    assert!(files(&nested) == want);

    // Our set with another spec: regenerated as if fresh, the images past the smaller set
    // gone (30 images -> 2 x 4 = 8).
    let smaller = SynthSpec {
        identities: 2,
        images_per_identity: 4,
        ..SMALL
    };
    let fresh = tempfile::tempdir().unwrap();
    generate_synthetic(fresh.path(), &smaller).unwrap();
    generate_synthetic(&nested, &smaller).unwrap();
    let got = files(&nested);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        files(fresh.path()).keys().collect::<Vec<_>>()
    );
    assert!(got == files(fresh.path()));
    assert_eq!(got.len(), 8 + 3);
}

#[test]
fn the_loader_completes_an_interrupted_generation_and_reuses_a_complete_one() {
    let (dir, reference) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let root = dir.path().join("faces");
    generate_synthetic(reference.path(), &SMALL).unwrap();
    // Interrupted as a generation can be: manifest and some images, no identity file.
    generate_synthetic(&root, &SMALL).unwrap();
    std::fs::remove_file(root.join("identity_CelebA.txt")).unwrap();
    std::fs::remove_file(root.join("list_eval_partition.txt")).unwrap();
    for n in 11..=30 {
        std::fs::remove_file(root.join(format!("img_align_celeba/{n:06}.jpg"))).unwrap();
    }
    let data = load(&synthetic_at(&root), 0).unwrap();
    assert_eq!(data.classes, ["1", "2", "3"]);
    assert!(files(&root) == files(reference.path()));

    // Complete and the same spec: used as it is, not a byte changed.
    let before = files(&root);
    let mtime = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let stamp = mtime(&root.join("img_align_celeba/000001.jpg"));
    load(&synthetic_at(&root), 0).unwrap();
    assert!(files(&root) == before);
    assert_eq!(mtime(&root.join("img_align_celeba/000001.jpg")), stamp);
}
