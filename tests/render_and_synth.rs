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
