use crate::helpers::*;

#[test]
fn render_rebuilds_the_pictures_of_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = synthetic_config(dir, "r", 2, 2, "arcface");
    ok(&run(
        dir,
        &["train", config.to_str().unwrap(), "--no-render"],
    ));
    let run_dir = dir.join("runs/r");
    assert!(!run_dir.join("plots").exists());
    ok(&run(dir, &["render", "runs/r", "--size", "200"]));
    let img = image::open(run_dir.join("plots/val/epoch_002.png")).unwrap();
    assert_eq!(img.width(), 200);
    assert!(run_dir.join("plots/train.gif").exists());

    let err = fails(&run(dir, &["render", "runs/nothing-here"]));
    assert!(err.contains("runs/nothing-here"), "{err}");
}

#[test]
fn three_d_frames_hold_the_map_unless_the_globe_alone_is_asked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let run_dir = train_tiny(dir, "s", 3, 1);
    let dims = |path: &str| {
        let img = image::open(run_dir.join(path)).unwrap();
        (img.width(), img.height())
    };
    // The default, render.projection = "both": the globe and the map, twice as wide as tall.
    ok(&run(dir, &["render", "runs/s"]));
    assert_eq!(dims("plots/val/epoch_001.png"), (320, 160));
    assert_eq!(gif_size(&run_dir.join("plots/val.gif")), (320, 160));
    ok(&run(dir, &["render", "runs/s", "--projection", "globe"]));
    assert_eq!(dims("plots/val/epoch_001.png"), (160, 160));
    assert_eq!(gif_size(&run_dir.join("plots/train.gif")), (160, 160));
    let err = fails(&run(dir, &["render", "runs/s", "--projection", "sphere"]));
    assert!(
        err.contains("sphere") && err.contains(r#"expected one of "globe", "map", "both""#),
        "{err}"
    );
}

#[test]
fn synth_writes_a_celeba_layout_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(&run(
        dir,
        &[
            "synth",
            "faces",
            "--identities",
            "3",
            "--images-per-identity",
            "4",
            "--size",
            "24",
        ],
    ));
    let identity = std::fs::read_to_string(dir.join("faces/identity_CelebA.txt")).unwrap();
    assert_eq!(identity.lines().count(), 12);
    assert!(identity.lines().all(|l| {
        let mut parts = l.split_whitespace();
        let file = parts.next().unwrap();
        let id: u32 = parts.next().unwrap().parse().unwrap();
        (1..=3).contains(&id) && dir.join("faces/img_align_celeba").join(file).exists()
    }));
    let img = image::open(dir.join("faces/img_align_celeba/000001.jpg")).unwrap();
    assert_eq!((img.width(), img.height()), (24, 24));
    assert!(dir.join("faces/list_eval_partition.txt").exists());

    // Two held-out identities: ids 4 and 5, images 13..=20, all in the test partition.
    ok(&run(
        dir,
        &[
            "synth",
            "more",
            "--identities",
            "3",
            "--held-out-identities",
            "2",
            "--images-per-identity",
            "4",
            "--size",
            "24",
        ],
    ));
    let identity = std::fs::read_to_string(dir.join("more/identity_CelebA.txt")).unwrap();
    let partition = std::fs::read_to_string(dir.join("more/list_eval_partition.txt")).unwrap();
    assert_eq!(identity.lines().count(), 20);
    assert_eq!(identity.lines().nth(12), Some("000013.jpg 4"));
    assert_eq!(identity.lines().nth(19), Some("000020.jpg 5"));
    let held: Vec<&str> = partition.lines().skip(12).collect();
    assert_eq!(held.len(), 8);
    assert!(held.iter().all(|l| l.ends_with(" 2")), "{held:?}");
}

#[test]
fn help_explains_the_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let help = ok(&run(tmp.path(), &["--help"]));
    for word in ["train", "render", "synth", "configs/demo.toml"] {
        assert!(help.contains(word), "{help}");
    }
    let help = ok(&run(tmp.path(), &["train", "--help"]));
    for word in [
        "--epochs",
        "--out",
        "--device",
        "--set",
        "--overwrite",
        "--no-render",
        "wgpu",
        "flex",
    ] {
        assert!(help.contains(word), "{help}");
    }
}

/// `export`: the CSV repeats the .npy values with the file names of splits.json; the projector
/// TSVs have one line per point; numpy itself reads the .npz (skipped, saying why, without it).
#[test]
fn export_writes_csv_projector_and_npz() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let run_dir = train_tiny(dir, "exp", 3, 2);
    let rd = run_dir.to_str().unwrap();

    ok(&run(
        dir,
        &["export", rd, "--format", "csv", "--epoch", "1"],
    ));
    let csv = std::fs::read_to_string(run_dir.join("export/epoch_001.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "split,index,label,class,file,e0,e1,e2");
    assert_eq!(lines.len(), 1 + 36 + 12);
    let (train, _) = npy_f32(&run_dir.join("embeddings/train/epoch_001.npy"));
    let first: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(first[0], "train");
    assert!(
        first[4].ends_with(".jpg"),
        "the file name from splits.json: {}",
        lines[1]
    );
    for d in 0..3 {
        assert_eq!(first[5 + d].parse::<f32>().unwrap(), train[d]);
    }

    ok(&run(dir, &["export", rd, "--format", "projector"]));
    let best = serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string(run_dir.join("run.json")).unwrap(),
    )
    .unwrap()["best_epoch"]
        .as_u64()
        .unwrap();
    let proj = run_dir.join(format!("export/projector-epoch_{best:03}"));
    let tensors = std::fs::read_to_string(proj.join("tensors.tsv")).unwrap();
    let metadata = std::fs::read_to_string(proj.join("metadata.tsv")).unwrap();
    assert_eq!(tensors.lines().count(), 48);
    assert!(tensors.lines().all(|l| l.split('\t').count() == 3));
    assert_eq!(
        metadata.lines().count(),
        49,
        "a header and one line per point"
    );

    ok(&run(dir, &["export", rd, "--format", "npz"]));
    let npz = run_dir.join("export/embeddings.npz");
    let script = format!(
        "import numpy as np; d = np.load({:?}); print(sorted(d.keys())); print(d['train_epoch_002'].shape, d['centers_epoch_001'].shape, d['val_labels'].shape)",
        npz.to_str().unwrap()
    );
    let has_numpy = std::process::Command::new("python3")
        .args(["-c", "import numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_numpy {
        let out = std::process::Command::new("python3")
            .args(["-c", &script])
            .output()
            .unwrap();
        let text = text(&out);
        assert!(out.status.success(), "numpy cannot read the .npz:\n{text}");
        assert!(text.contains("(36, 3) (4, 3) (12,)"), "{text}");
        assert!(
            text.contains("'val_epoch_001'") && text.contains("'train_labels'"),
            "{text}"
        );
    } else {
        println!("skipped the numpy check of the .npz: python3 with numpy is not installed");
    }

    let err = fails(&run(dir, &["export", rd, "--epoch", "9"]));
    assert!(err.contains("epoch 9"), "{err}");
}
