//! `identify`: queries ranked against a gallery of one folder per identity, with the gallery's
//! embeddings cached in the run folder.

use std::path::Path;

use crate::helpers::*;

fn img(n: usize) -> String {
    format!("faces/img_align_celeba/{n:06}.jpg")
}

/// Cosine of two rows, computed here.
fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let a: Vec<f64> = a.iter().map(|&x| f64::from(x)).collect();
    let b: Vec<f64> = b.iter().map(|&x| f64::from(x)).collect();
    let dot: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    dot / (a.iter().map(|x| x * x).sum::<f64>().sqrt()
        * b.iter().map(|x| x * x).sum::<f64>().sqrt())
}

/// `identify --json` lines, parsed.
fn identify(dir: &Path, extra: &[&str]) -> (Vec<serde_json::Value>, String) {
    let mut args = vec![
        "identify",
        "runs/idf",
        "--gallery",
        "gallery",
        "--json",
        "--device",
        "flex",
    ];
    args.extend_from_slice(extra);
    let out = run(dir, &args);
    let t = ok(&out);
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (lines, t)
}

#[test]
fn identify_ranks_gallery_identities_and_caches_the_gallery() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    train_config(dir, &synthetic_held_out_config(dir, "idf", 2, 2));
    let run_dir = dir.join("runs/idf");
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("eval.json")).unwrap()).unwrap();
    let t_1e2 = eval["held_out"]["threshold_at_far_1e2"].as_f64().unwrap();

    // Held-out identity 5 is files 49..=60, identity 6 is 61..=72.
    let five: Vec<usize> = (49..=52).collect();
    let six: Vec<usize> = (61..=64).collect();
    for (name, files) in [("five", &five), ("six", &six)] {
        std::fs::create_dir_all(dir.join("gallery").join(name)).unwrap();
        for &n in files.iter() {
            std::fs::copy(
                dir.join(img(n)),
                dir.join(format!("gallery/{name}/{n:06}.jpg")),
            )
            .unwrap();
        }
    }
    let queries = [img(55), img(67)];

    // The reference: every image embedded by `embed`, scored here.
    let all: Vec<String> = five
        .iter()
        .chain(&six)
        .map(|&n| img(n))
        .chain(queries.iter().cloned())
        .collect();
    let mut args = vec!["embed", "runs/idf", "--device", "flex", "--out", "all.npy"];
    args.extend(all.iter().map(String::as_str));
    ok(&run(dir, &args));
    let (rows, _) = npy_f32(&dir.join("all.npy"));
    let row = |k: usize| &rows[k * 2..k * 2 + 2];
    let expected = |q: usize, mean: bool| -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = [("five", 0..4), ("six", 4..8)]
            .into_iter()
            .map(|(name, range)| {
                let s: Vec<f64> = range.map(|g| cosine(row(8 + q), row(g))).collect();
                let score = if mean {
                    s.iter().sum::<f64>() / s.len() as f64
                } else {
                    s.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                };
                (name.to_owned(), score)
            })
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out
    };

    for (mean, score) in [(false, "max"), (true, "mean")] {
        let (lines, _) = identify(dir, &["--score", score, &queries[0], &queries[1]]);
        assert_eq!(lines.len(), 2);
        for (q, line) in lines.iter().enumerate() {
            assert_eq!(line["query"], queries[q].as_str());
            assert!((line["threshold"].as_f64().unwrap() - t_1e2).abs() < 1e-12);
            assert_eq!(line["source"], "held_out");
            let want = expected(q, mean);
            let got = line["matches"].as_array().unwrap();
            assert_eq!(got.len(), 2);
            for (g, (name, s)) in got.iter().zip(&want) {
                assert_eq!(g["identity"], name.as_str());
                assert!(
                    (g["score"].as_f64().unwrap() - s).abs() < 1e-9,
                    "{g} vs {s}"
                );
            }
            if want[0].1 >= t_1e2 {
                assert_eq!(line["identity"], want[0].0.as_str());
            } else {
                assert!(line["identity"].is_null(), "{line}");
            }
        }
    }

    // --top 1 keeps one; a threshold above every cosine makes every query unknown.
    let (lines, t) = identify(dir, &["--top", "1", "--threshold", "1.5", &queries[0]]);
    assert!(
        t.contains("cached in"),
        "the second run reads the cache:\n{t}"
    );
    assert_eq!(lines[0]["matches"].as_array().unwrap().len(), 1);
    assert!(lines[0]["identity"].is_null());
    let plain = ok(&run(
        dir,
        &[
            "identify",
            "runs/idf",
            "--gallery",
            "gallery",
            "--threshold",
            "1.5",
            "--device",
            "flex",
            &queries[0],
        ],
    ));
    assert!(plain.contains(": unknown"), "{plain}");

    // The cache: one .npy in RUN_DIR/galleries, redone when a gallery file is added.
    let cached: Vec<_> = std::fs::read_dir(run_dir.join("galleries"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "npy"))
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let (g, shape) = npy_f32(&cached[0]);
    assert_eq!(shape, vec![8, 2]);
    assert_eq!(g, rows[..16].to_vec());
    std::fs::copy(dir.join(&queries[0]), dir.join("gallery/five/query.jpg")).unwrap();
    let (lines, t) = identify(dir, &["--top", "1", &queries[0]]);
    assert!(t.contains("changed since"), "{t}");
    let (_, shape) = npy_f32(&cached[0]);
    assert_eq!(shape, vec![9, 2]);
    // The query itself is now in identity five: its best score is 1 (up to rounding).
    assert_eq!(lines[0]["matches"][0]["identity"], "five");
    assert!((lines[0]["matches"][0]["score"].as_f64().unwrap() - 1.0).abs() < 1e-6);

    // A gallery without identity folders.
    std::fs::create_dir(dir.join("flat")).unwrap();
    let t = refused_cleanly(&run(
        dir,
        &["identify", "runs/idf", "--gallery", "flat", &queries[0]],
    ));
    assert!(t.contains("flat: expected one folder per identity"), "{t}");
}
