use crate::helpers::*;

#[test]
fn compare_trains_each_head_and_tiles_them_with_a_legend() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = synthetic_config(dir, "cmp", 2, 2, "arcface");
    let cfg = config.to_str().unwrap();
    let out = ok(&run(
        dir,
        &[
            "compare",
            cfg,
            "--heads",
            "softmax,cosface",
            "--device",
            "flex",
            "--set",
            "compare.size=320",
        ],
    ));
    let root = dir.join("runs/cmp");
    for head in ["softmax", "cosface"] {
        let status: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.join(head).join("run.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(status["status"], "finished", "{head}");
        assert!(out.contains(head), "the summary table names {head}:\n{out}");
    }
    // The config's margin (0.3) is ArcFace's; CosFace gets its own default, 0.35.
    let cosface = std::fs::read_to_string(root.join("cosface/config.toml")).unwrap();
    assert!(
        cosface.contains("head = \"cosface\"") && cosface.contains("margin = 0.35"),
        "{cosface}"
    );
    // Two heads and the legend: 2 columns x 2 rows of 160-px tiles.
    for split in ["train", "val"] {
        assert_eq!(
            gif_size(&root.join(format!("compare-{split}.gif"))),
            (320, 320)
        );
        let png = image::open(root.join(format!("compare-{split}.png"))).unwrap();
        assert_eq!((png.width(), png.height()), (320, 320));
    }
    assert!(image::open(root.join("compare-diagnostics.png")).is_ok());

    // A second comparison into the same folder refuses and keeps the first.
    let before = std::fs::read(root.join("softmax/metrics.csv")).unwrap();
    let err = fails(&run(
        dir,
        &["compare", cfg, "--heads", "softmax", "--device", "flex"],
    ));
    assert!(
        err.contains("already holds a comparison") && err.contains("--overwrite"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(root.join("softmax/metrics.csv")).unwrap(),
        before
    );

    // `render` of the folder redraws every run and the grid.
    std::fs::remove_file(root.join("compare-val.gif")).unwrap();
    ok(&run(dir, &["render", root.to_str().unwrap()]));
    assert_eq!(gif_size(&root.join("compare-val.gif")), (320, 320));
}

#[test]
fn compare_names_an_unknown_head() {
    let tmp = tempfile::tempdir().unwrap();
    let config = synthetic_config(tmp.path(), "cmp", 2, 1, "arcface");
    let err = fails(&run(
        tmp.path(),
        &[
            "compare",
            config.to_str().unwrap(),
            "--heads",
            "softmax,arcfce",
        ],
    ));
    assert!(
        err.contains("arcfce") && err.contains("expected softmax"),
        "{err}"
    );
    assert!(
        !tmp.path().join("runs/cmp").exists(),
        "nothing written for bad input"
    );
}

/// A learning rate of 1e30 blows the weights up within a few steps: the guard stops the run
/// at once, says what turned non-finite and when, marks the run diverged and suggests fixes.
#[test]
fn a_diverging_run_stops_with_the_step_and_the_usual_fixes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = synthetic_config(dir, "nan", 2, 3, "arcface");
    let err = fails(&run(
        dir,
        &[
            "train",
            config.to_str().unwrap(),
            "--device",
            "flex",
            "--set",
            "train.lr=1e30",
        ],
    ));
    assert!(
        err.contains("not finite") || err.contains("became NaN") || err.contains("became inf"),
        "{err}"
    );
    assert!(
        err.contains("epoch 1") && err.contains("lower train.lr"),
        "{err}"
    );
    let status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("runs/nan/run.json")).unwrap())
            .unwrap();
    assert_eq!(status["status"], "diverged");
    assert_eq!(status["epochs_done"], 0);
    assert!(
        !dir.join("runs/nan/checkpoints/last.bpk").exists(),
        "no checkpoint of a NaN model"
    );
}
