//! `arcface-lab bench`: the JSON line the comparison scripts parse.

use crate::helpers::*;

fn json_line(out: &str) -> serde_json::Value {
    let line = out.lines().last().expect("one output line");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

#[test]
fn step_and_embed_benches_report_the_shapes_they_ran_and_a_consistent_rate() {
    for kind in ["step", "embed"] {
        step_or_embed(kind);
    }
}

fn step_or_embed(kind: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(&run(
        dir.path(),
        &[
            "bench",
            kind,
            "--input",
            "3x16x24",
            "--classes",
            "5",
            "--dim",
            "2",
            "--batch",
            "4",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--device",
            "flex",
            "--json",
        ],
    ));
    let v = json_line(&out);
    assert_eq!(v["impl"], "arcface-lab");
    assert_eq!(v["bench"], kind);
    assert_eq!(v["device"], "flex");
    assert_eq!(v["input"], serde_json::json!([3, 16, 24]));
    assert_eq!(
        (
            v["batch"].as_u64(),
            v["classes"].as_u64(),
            v["dim"].as_u64()
        ),
        (Some(4), Some(5), Some(2))
    );
    let seconds = v["seconds"].as_f64().unwrap();
    assert!(seconds > 0.0);
    // 2 steps of 4 images in `seconds`.
    let rate = v["images_per_s"].as_f64().unwrap();
    assert!(
        (rate - 8.0 / seconds).abs() <= 1e-6 * rate,
        "{rate} vs {}",
        8.0 / seconds
    );
    let ms = v["ms_per_step"].as_f64().unwrap();
    assert!((ms - 500.0 * seconds).abs() <= 1e-6 * ms);
    // Nothing is written where it ran.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn head_bench_runs_every_head_kind_it_names() {
    let dir = tempfile::tempdir().unwrap();
    for head in ["softmax", "cosface", "subcenter"] {
        let out = ok(&run(
            dir.path(),
            &[
                "bench",
                "head",
                "--head",
                head,
                "--batch",
                "8",
                "--classes",
                "7",
                "--dim",
                "4",
                "--steps",
                "1",
                "--warmup",
                "0",
                "--device",
                "flex",
                "--json",
            ],
        ));
        let v = json_line(&out);
        assert_eq!(
            (v["bench"].as_str(), v["head"].as_str()),
            (Some("head"), Some(head))
        );
        assert!(v["input"].is_null());
    }
}

#[test]
fn bench_rejects_bad_shapes_and_heads_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(&run(
        dir.path(),
        &["bench", "step", "--input", "28x28", "--device", "flex"],
    ));
    assert!(err.contains("--input") && err.contains("CxHxW"), "{err}");
    let err = fails(&run(
        dir.path(),
        &["bench", "head", "--head", "arcfase", "--device", "flex"],
    ));
    assert!(err.contains("arcfase") && err.contains("arcface"), "{err}");
    let err = fails(&run(
        dir.path(),
        &["bench", "head", "--steps", "0", "--device", "flex"],
    ));
    assert!(err.contains("--steps"), "{err}");
}

/// 20 classes on the circle are 18 degrees apart: ArcFace's m = 0.5 rad cannot fit between them.
#[test]
fn train_warns_about_a_margin_the_class_count_cannot_hold() {
    let dir = tempfile::tempdir().unwrap();
    let config = synthetic_config(dir.path(), "wide", 2, 1, "arcface");
    let out = run(
        dir.path(),
        &[
            "train",
            config.to_str().unwrap(),
            "--device",
            "flex",
            "--no-render",
            "--set",
            "data.identities=20",
            "--set",
            "data.images_per_identity=4",
            "--set",
            "model.margin=0.5",
        ],
    );
    let all = text(&out);
    assert!(all.contains("warning: model.margin = 0.5"), "{all}");
    // The suggestion is half the gap: pi / 20.
    assert!(
        all.contains(&format!(
            "model.margin = {:.3}",
            std::f64::consts::PI / 20.0
        )),
        "{all}"
    );
}
