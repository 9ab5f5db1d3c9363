//! `[train]`'s recipes end to end: `init_from` (with and without the head, the backbone frozen,
//! refusals) and the bad values of the optimizer and schedule keys, refused before anything is
//! written. The schedules and the SGD update are checked against hand-derived numbers in
//! `crates/cli/src/train/optim.rs`; the resumed schedule in `resume.rs`.

use std::path::{Path, PathBuf};

use crate::helpers::*;

/// [`synthetic_config`] with 40 images an identity (12 leave a validation loss that jumps
/// from epoch to epoch) and `train` lines added to its `[train]` table.
fn config_with(dir: &Path, name: &str, dim: usize, epochs: usize, train: &str) -> PathBuf {
    let path = synthetic_config(dir, name, dim, epochs, "arcface");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("images_per_identity = 12\n", "images_per_identity = 40\n")
        .replace("num_workers = 1\n", &format!("num_workers = 1\n{train}"));
    std::fs::write(&path, text).unwrap();
    path
}

/// The bytes of tensor `name` in a safetensors file.
fn tensor_bytes(file: &Path, name: &str) -> Vec<u8> {
    read_safetensors(file)
        .remove(name)
        .unwrap_or_else(|| panic!("no {name} in {}", file.display()))
        .1
}

/// `export RUN --format safetensors --out OUT`: the run's best backbone.
fn export_backbone(dir: &Path, run_dir: &Path, out: &str) -> PathBuf {
    ok(&run(
        dir,
        &[
            "export",
            run_dir.to_str().unwrap(),
            "--format",
            "safetensors",
            "--out",
            out,
        ],
    ));
    dir.join(out).join("model.safetensors")
}

#[test]
fn init_from_starts_where_the_source_ended() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    train_config(dir, &config_with(dir, "source", 2, 8, ""));
    let source = dir.join("runs/source");
    // `init_from` takes the source's best checkpoint: the tuned run starts from its best
    // validation loss, not its last (which on 40 images an identity jumps from epoch to epoch,
    // 1.3 to 5.7 here with only the convs' rounding changed).
    let source_best = metric(&source, "val_loss")
        .into_iter()
        .fold(f64::INFINITY, f64::min);
    train_config(dir, &config_with(dir, "scratch", 2, 1, ""));
    let scratch = dir.join("runs/scratch");
    let scratch_first = metric(&scratch, "val_loss")[0];

    // Fine-tuned on the same classes: backbone and head taken over, the backbone frozen.
    let config = config_with(
        dir,
        "tuned",
        2,
        1,
        "init_from = \"runs/source\"\nfreeze_backbone_epochs = 1\n",
    );
    let out = train_config(dir, &config);
    assert!(
        out.contains("init_from: the backbone and the head of runs/source/checkpoints/best.bpk"),
        "{out}"
    );
    let tuned = dir.join("runs/tuned");
    let tuned_first = metric(&tuned, "val_loss")[0];
    eprintln!(
        "val loss: source's best {source_best}, scratch's first {scratch_first}, tuned's first {tuned_first}"
    );
    assert!(
        (tuned_first - source_best).abs() < 0.25 * (scratch_first - source_best).abs(),
        "the tuned run's first val loss {tuned_first} should be near the source's best {source_best}, far from a fresh run's {scratch_first}"
    );
    // The frozen backbone's weights are the source's, bit for bit, after an epoch of training
    // (the batch-norm running statistics go on adapting: they are not weights).
    let a = export_backbone(dir, &source, "export-source");
    let b = export_backbone(dir, &tuned, "export-tuned");
    for name in [
        "backbone.block1.conv1.weight",
        "backbone.block3.bn2.weight",
        "backbone.embed.weight",
        "backbone.bn_embed.bias",
    ] {
        assert!(
            tensor_bytes(&a, name) == tensor_bytes(&b, name),
            "{name} changed"
        );
    }
    // The run's config.toml keeps init_from as given.
    let resolved = std::fs::read_to_string(tuned.join("config.toml")).unwrap();
    assert!(
        resolved.contains("init_from = \"runs/source\""),
        "{resolved}"
    );

    // Other classes: the backbone only, from a checkpoint file; the head starts anew.
    let config = config_with(
        dir,
        "three",
        2,
        1,
        "init_from = \"runs/source/checkpoints/last.bpk\"\n",
    );
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("identities = 4\n", "identities = 3\n")
        .replace("root = \"faces\"", "root = \"faces-3\"");
    std::fs::write(&config, text).unwrap();
    let out = train_config(dir, &config);
    assert!(
        out.contains("init_from: the backbone of runs/source/checkpoints/last.bpk; the head starts anew (its 4 classes are not this run's 3)"),
        "{out}"
    );

    // Another embedding size: refused by key, nothing written.
    let config = config_with(dir, "wide", 3, 1, "init_from = \"runs/source\"\n");
    let err = refused_cleanly(&run(dir, &train_args(&config, &[])));
    assert!(
        err.contains("key `train.init_from` = \"runs/source\": its embeddings have 2 dimensions"),
        "{err}"
    );
    assert!(err.contains("this run's 3"), "{err}");
    assert!(!dir.join("runs/wide").exists(), "{err}");

    // Another backbone: refused by key, nothing written.
    let config = config_with(dir, "residual", 2, 1, "init_from = \"runs/source\"\n");
    let args = train_args(
        &config,
        &[
            "--set",
            "model.backbone=\"resnet18\"",
            "--set",
            "model.base_width=4",
            "--set",
            "data.image_size=32",
        ],
    );
    let err = refused_cleanly(&run(dir, &args));
    assert!(
        err.contains("key `train.init_from` = \"runs/source\": its backbone is vgg8"),
        "{err}"
    );
    assert!(err.contains("this run's is resnet18"), "{err}");
    assert!(!dir.join("runs/residual").exists(), "{err}");
}

#[test]
fn bad_recipes_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cases: [(&str, &[&str]); 6] = [
        (
            "init_from = \"runs/nowhere\"\n",
            &[
                "bad.toml line 23: key `train.init_from` = \"runs/nowhere\": runs/nowhere does not exist",
            ],
        ),
        (
            "warmup_epochs = 2\n",
            &["key `train.warmup_epochs` = 2: expected fewer warm-up epochs than train.epochs = 2"],
        ),
        (
            "optimizer = \"lion\"\n",
            &["unknown variant `lion`, expected one of `adam`, `adamw`, `sgd`"],
        ),
        (
            "schedule = \"cosine\"\nstep_epochs = 3\n",
            &[
                "key `train.step_epochs`: [train] schedule = \"cosine\" has no key `step_epochs` (it belongs to step)",
            ],
        ),
        (
            "lr = -0.01\n",
            &["key `train.lr` = -0.01: expected a positive learning rate"],
        ),
        (
            "schedule = \"step\"\ngamma = 2.0\n",
            &["key `train.gamma` = 2: expected a factor in (0, 1]"],
        ),
    ];
    for (train, needles) in cases {
        let config = config_with(dir, "bad", 2, 2, train);
        let before = tree(dir);
        let err = refused_cleanly(&run(dir, &train_args(&config, &[])));
        for needle in needles {
            assert!(err.contains(needle), "{train:?}: no {needle:?} in\n{err}");
        }
        assert!(
            err.contains("bad.toml"),
            "{train:?}: the file is named\n{err}"
        );
        assert_eq!(before, tree(dir), "{train:?} wrote something:\n{err}");
    }
}
