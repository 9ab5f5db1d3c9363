//! The GPU code path, proven through wgpu (on CI: Mesa's software Vulkan, lavapipe).
//!
//! Compiled in with `--features cli/wgpu`. Without a Vulkan/Metal adapter the test prints why it
//! skipped, unless `ARCFACE_REQUIRE_WGPU=1` (set by `.ci/run`) makes that a failure.

use crate::helpers::*;

#[test]
fn a_short_run_trains_on_wgpu() {
    if !cfg!(feature = "wgpu") {
        eprintln!("skipped: this test binary was built without `--features cli/wgpu`");
        return;
    }
    let required = std::env::var("ARCFACE_REQUIRE_WGPU").is_ok_and(|v| v == "1");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = synthetic_config(dir, "gpu", 3, 1, "arcface");
    let out = run(
        dir,
        &[
            "train",
            config.to_str().unwrap(),
            "--device",
            "wgpu",
            "--no-render",
        ],
    );
    let all = text(&out);
    if !out.status.success() && all.contains("does not run here") && !required {
        eprintln!("skipped: no usable wgpu adapter on this machine:\n{all}");
        return;
    }
    assert!(out.status.success(), "training on wgpu failed:\n{all}");
    let run_dir = dir.join("runs/gpu");
    let status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(status["status"], "finished");
    assert_eq!(status["device"], "wgpu");
    let (points, shape) = npy_f32(&run_dir.join("embeddings/train/epoch_001.npy"));
    assert_eq!(shape, vec![36, 3]);
    assert!(
        points.iter().all(|v| v.is_finite()),
        "finite embeddings from the GPU"
    );
    // The embeddings are not all one point: the network ran, not a zero-filled buffer.
    assert!(points.chunks(3).any(|p| p != &points[..3]));
}
