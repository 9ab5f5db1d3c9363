//! `view`: the report page, loaded from `file://` in a real browser (headless Chromium driven
//! over the DevTools pipe by tests/browser/drive_viewer.py), scrubbed with the mouse and read
//! back from the page.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::{
    fails, npy_i64, ok, run, synthetic_held_out_config, train_config, train_tiny,
};

/// Chromium from `ARCFACE_CHROMIUM`, else the first of the usual names on the PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ARCFACE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
    .find(|p| p.is_file())
}

/// The browser and python3, or the reason to skip (a failure when `ARCFACE_REQUIRE_BROWSER=1`,
/// which .ci/run sets once it has installed Chromium).
fn browser_or_skip() -> Option<PathBuf> {
    let required = std::env::var("ARCFACE_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let python = Command::new("python3").arg("--version").output().is_ok();
    let reason = match chromium() {
        None => "no Chromium found (install Debian's `chromium` or set ARCFACE_CHROMIUM)",
        Some(_) if !python => "python3 (which drives the browser) is not installed",
        Some(browser) => return Some(browser),
    };
    assert!(!required, "ARCFACE_REQUIRE_BROWSER=1 but {reason}");
    eprintln!("skipped: {reason}");
    None
}

/// Loads `page` in the browser, drags the slider, turns train on, hovers a point (and with
/// `extra` = `["--map"]`, switches to the map and hovers there); the driver's JSON report.
fn drive(browser: &Path, page: &Path, screenshot: &Path, extra: &[&str]) -> serde_json::Value {
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser/drive_viewer.py");
    let out = Command::new("python3")
        .arg(driver)
        .arg("--chromium")
        .arg(browser)
        .arg("--page")
        .arg(page)
        .arg("--screenshot")
        .arg(screenshot)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the browser driver failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn rows(run: &Path, split: &str) -> usize {
    npy_i64(&run.join("embeddings").join(split).join("labels.npy"))
        .0
        .len()
}

fn artifact(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The page's own report is checked against what the run folder holds: the rows of its
/// labels.npy files and its epoch count.
fn check_page(report: &serde_json::Value, run: &Path, epochs: usize, panels: usize) {
    let (train, val) = (rows(run, "train"), rows(run, "val"));
    let held = if run.join("embeddings/held_out").is_dir() {
        rows(run, "held_out")
    } else {
        0
    };
    assert_eq!(
        report["errors"],
        serde_json::json!([]),
        "console errors: {report}"
    );
    let initial = &report["initial"];
    assert_eq!(
        initial["label"],
        format!("epoch {epochs} / {epochs}"),
        "{report}"
    );
    // Validation and held-out points are shown at first, in every panel.
    assert_eq!(initial["points"], panels * (val + held), "{report}");

    let after = &report["after_drag"];
    let slider = after["slider"].as_u64().unwrap() as usize;
    assert!(
        slider < epochs - 1,
        "the drag did not move the slider: {report}"
    );
    assert_eq!(
        after["label"],
        format!("epoch {} / {epochs}", slider + 1),
        "{report}"
    );
    assert_eq!(after["epoch"], (slider + 1).to_string(), "{report}");

    assert_eq!(
        report["with_train"]["points"],
        panels * (train + val + held),
        "{report}"
    );
    let tip = &report["tooltip"];
    assert_eq!(tip["hidden"], false, "{report}");
    // An angle to a centre, whichever split the hovered point is in.
    assert!(
        tip["text"].as_str().unwrap().contains("centre")
            && tip["text"].as_str().unwrap().contains('°'),
        "{report}"
    );
    assert_eq!(tip["thumbnail"], true, "{report}");

    let shot = image::open(report["screenshot"].as_str().unwrap())
        .unwrap()
        .to_rgb8();
    assert_eq!(shot.dimensions(), (1400, 1000));
    let colours: std::collections::BTreeSet<[u8; 3]> = shot.pixels().map(|p| p.0).collect();
    assert!(
        colours.len() > 50,
        "the screenshot looks blank ({} colours)",
        colours.len()
    );
}

#[test]
fn the_viewer_scrubs_toggles_and_hovers_in_a_real_browser() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Two held-out identities: the page shows them too, as their own toggle.
    let config = synthetic_held_out_config(dir, "viewed", 3, 2);
    let cfg = config.to_str().unwrap();
    train_config(dir, &config);
    let text = ok(&run(dir, &["view", "runs/viewed"]));
    assert!(text.contains("report.html"), "{text}");
    let report = drive(
        &browser,
        &dir.join("runs/viewed/report.html"),
        &artifact("viewer-run.png"),
        &[],
    );
    assert!(dir.join("runs/viewed/embeddings/held_out").is_dir());
    check_page(&report, &dir.join("runs/viewed"), 3, 1);
    eprintln!("screenshot: {}", artifact("viewer-run.png").display());

    // A comparison: every head in its own panel on one slider.
    ok(&run(
        dir,
        &[
            "compare",
            cfg,
            "--heads",
            "softmax,arcface",
            "--device",
            "flex",
            "--epochs",
            "2",
            "--out",
            "runs/cmp",
            "--no-render",
        ],
    ));
    ok(&run(dir, &["view", "runs/cmp", "--thumb-size", "8"]));
    let report = drive(
        &browser,
        &dir.join("runs/cmp/report.html"),
        &artifact("viewer-compare.png"),
        &[],
    );
    check_page(&report, &dir.join("runs/cmp/arcface"), 2, 2);
}

#[test]
fn a_3d_run_can_be_seen_whole_on_the_map() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let run_dir = train_tiny(dir, "sphere", 3, 2);
    ok(&run(dir, &["view", "runs/sphere", "--thumb-size", "8"]));
    let report = drive(
        &browser,
        &run_dir.join("report.html"),
        &artifact("viewer-map.png"),
        &["--map"],
    );
    check_page(&report, &run_dir, 2, 1);
    assert_eq!(report["map_toggle"], true, "{report}");
    let map = &report["map"];
    assert_eq!(map["state"]["view"], "map", "{report}");
    // Every point is drawn (nothing is behind anything on the map), on canvases about half as
    // tall as wide.
    let (train, val) = (rows(&run_dir, "train"), rows(&run_dir, "val"));
    assert_eq!(map["state"]["points"], train + val, "{report}");
    let canvas: Vec<u64> = serde_json::from_value(map["state"]["canvas"].clone()).unwrap();
    assert!(
        2 * canvas[1] > canvas[0] && canvas[1] < canvas[0] * 6 / 10,
        "{canvas:?}"
    );
    // The page's map is the frames' map: the pole at (0, √2), and 150° east of the centre, 10°
    // south at (2.401806, -0.219221) (crates/viz/src/hammer.rs works both by hand).
    let near = |v: &serde_json::Value, x: f64, y: f64| {
        (v[0].as_f64().unwrap() - x).abs() < 1e-5 && (v[1].as_f64().unwrap() - y).abs() < 1e-5
    };
    assert!(near(&map["pole"], 0.0, 2f64.sqrt()), "{report}");
    assert!(near(&map["back"], 2.401_806, -0.219_221), "{report}");
    let tip = &report["map_tooltip"];
    assert_eq!(tip["hidden"], false, "{report}");
    assert!(tip["text"].as_str().unwrap().contains("centre"), "{report}");
    eprintln!("screenshot: {}", artifact("viewer-map.png").display());
}

#[test]
fn view_names_a_folder_that_is_not_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let err = fails(&run(tmp.path(), &["view", "."]));
    assert!(
        err.contains("neither a run folder") && err.contains("run.json"),
        "{err}"
    );
}
