//! `verify`: two images against the threshold `eval` stored in eval.json.

use std::path::Path;

use crate::helpers::*;

/// `verify --json` of `a` and `b` with `extra` options, parsed.
fn verify_json(dir: &Path, a: &str, b: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["verify", "runs/ver", a, b, "--json", "--device", "flex"];
    args.extend_from_slice(extra);
    let out = run(dir, &args);
    ok(&out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one line:\n{stdout}");
    serde_json::from_str(stdout.trim()).unwrap()
}

/// The cosine of the two rows of `embed`'s .npy output, computed here.
fn cosine_from_embed(dir: &Path, a: &str, b: &str, out: &str) -> f64 {
    ok(&run(
        dir,
        &["embed", "runs/ver", a, b, "--device", "flex", "--out", out],
    ));
    let (rows, shape) = npy_f32(&dir.join(out));
    assert_eq!(shape, vec![2, 2]);
    let v: Vec<f64> = rows.iter().map(|&x| f64::from(x)).collect();
    let dot = v[0] * v[2] + v[1] * v[3];
    dot / ((v[0] * v[0] + v[1] * v[1]).sqrt() * (v[2] * v[2] + v[3] * v[3]).sqrt())
}

#[test]
fn verify_uses_the_held_out_threshold_of_eval_json() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    train_config(dir, &synthetic_held_out_config(dir, "ver", 2, 2));
    let run_dir = dir.join("runs/ver");
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("eval.json")).unwrap()).unwrap();
    let held = &eval["held_out"];
    let t_1e2 = held["threshold_at_far_1e2"].as_f64().unwrap();
    let t_eer = held["threshold_at_eer"].as_f64().unwrap();
    assert!(held["threshold_at_far_1e1"].as_f64().unwrap() <= t_1e2);
    assert!(t_1e2 <= held["threshold_at_far_1e3"].as_f64().unwrap());

    // Held-out identity 5 is files 49..=60 and identity 6 is 61..=72 (4 x 12 training
    // images first).
    let a = "faces/img_align_celeba/000049.jpg";
    let a2 = "faces/img_align_celeba/000050.jpg";
    let b = "faces/img_align_celeba/000061.jpg";
    for path in [a, a2, b] {
        assert!(dir.join(path).exists(), "{path}");
    }

    for (x, y, out) in [(a, a2, "same.npy"), (a, b, "diff.npy")] {
        let j = verify_json(dir, x, y, &[]);
        let s = j["similarity"].as_f64().unwrap();
        let t = j["threshold"].as_f64().unwrap();
        assert!((t - t_1e2).abs() < 1e-12, "{t} vs eval.json {t_1e2}");
        assert_eq!(j["far"].as_f64().unwrap(), 1e-2);
        assert_eq!(j["source"], "held_out");
        assert_eq!(j["same"].as_bool().unwrap(), s >= t);
        let expected = cosine_from_embed(dir, x, y, out);
        assert!((s - expected).abs() < 1e-9, "{s} vs {expected}");
    }

    // --far eer, --threshold.
    let j = verify_json(dir, a, b, &["--far", "eer"]);
    assert!((j["threshold"].as_f64().unwrap() - t_eer).abs() < 1e-12);
    assert_eq!(j["source"], "held_out");
    let j = verify_json(dir, a, a2, &["--threshold", "1.5"]);
    assert_eq!(j["source"], "user");
    assert_eq!(j["same"], false);
    assert!(j["far"].is_null());
    let j = verify_json(dir, a, a2, &["--threshold", "-1.5"]);
    assert_eq!(j["same"], true);

    // The sentence for people.
    let t = ok(&run(dir, &["verify", "runs/ver", a, b, "--device", "flex"]));
    assert!(
        t.contains(
            "at this threshold at most 1.0% of the different-identity pairs of the held-out set"
        ),
        "{t}"
    );

    // Without eval.json, eval runs first and writes it again.
    std::fs::remove_file(run_dir.join("eval.json")).unwrap();
    let out = run(
        dir,
        &["verify", "runs/ver", a, b, "--json", "--device", "flex"],
    );
    let t = ok(&out);
    assert!(
        t.contains("eval.json is missing: evaluating the best checkpoint first"),
        "{t}"
    );
    assert!(run_dir.join("eval.json").exists());

    // A folder is not an image.
    let t = refused_cleanly(&run(dir, &["verify", "runs/ver", "faces", b]));
    assert!(t.contains("faces: no such image file"), "{t}");
}

#[test]
fn verify_without_held_out_identities_evaluates_and_uses_the_val_threshold() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let run_dir = train_tiny(dir, "closed", 2, 2);
    // No held-out identities: train runs no eval, so verify does, on the validation pairs.
    assert!(!run_dir.join("eval.json").exists());
    let a = "faces/img_align_celeba/000001.jpg";
    let b = "faces/img_align_celeba/000013.jpg";
    let out = run(
        dir,
        &[
            "verify",
            "runs/closed",
            a,
            b,
            "--json",
            "--far",
            "1e-1",
            "--device",
            "flex",
        ],
    );
    let t = ok(&out);
    assert!(
        t.contains("eval.json is missing: evaluating the best checkpoint first"),
        "{t}"
    );
    let j: serde_json::Value =
        serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("eval.json")).unwrap()).unwrap();
    assert!(eval["held_out"].is_null());
    let expected = eval["val"]["threshold_at_far_1e1"].as_f64().unwrap();
    assert_eq!(j["source"], "val");
    assert_eq!(j["far"].as_f64().unwrap(), 0.1);
    assert!((j["threshold"].as_f64().unwrap() - expected).abs() < 1e-12);

    // --checkpoint last when eval.json is of best: evaluated again, for last.
    let t = ok(&run(
        dir,
        &[
            "verify",
            "runs/closed",
            a,
            b,
            "--checkpoint",
            "last",
            "--device",
            "flex",
        ],
    ));
    assert!(t.contains("is of the \"best\" checkpoint"), "{t}");
    assert!(t.contains("of the validation set"), "{t}");
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("eval.json")).unwrap()).unwrap();
    assert_eq!(eval["checkpoint"], "last");
}
