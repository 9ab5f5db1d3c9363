//! The GPU backends end to end: ten training steps of VGG8 + ArcFace on the device, then the
//! trained weights' embeddings of the same validation images on the device and on the CPU
//! (`flex`), which must agree within the backend's stated tolerance.
//!
//! - wgpu: compiled in with `--features cli/wgpu`; on CI it runs on Mesa's software Vulkan
//!   (lavapipe), and `ARCFACE_REQUIRE_WGPU=1` (set by `.ci/run` there) makes a skip a failure.
//! - cuda: compiled in with `--features cli/cuda` (see README, "CUDA"); it runs where an NVIDIA
//!   driver and device are, and otherwise prints why it skipped. `ARCFACE_REQUIRE_CUDA=1` makes
//!   that skip, and a test binary built without the feature, a failure: set it on a GPU machine.

use crate::helpers::*;

struct Backend {
    /// `--device` value and feature name.
    name: &'static str,
    compiled: bool,
    /// The variable that turns a skip into a failure.
    require: &'static str,
    /// Largest |gpu - cpu| allowed, as a fraction of the largest |cpu| coordinate.
    tolerance: f32,
}

const WGPU: Backend = Backend {
    name: "wgpu",
    compiled: cfg!(feature = "wgpu"),
    require: "ARCFACE_REQUIRE_WGPU",
    // IEEE f32 on both sides; only the order of the sums differs (lavapipe: 2.4e-7 of 0.63).
    tolerance: 1e-4,
};

const CUDA: Backend = Backend {
    name: "cuda",
    compiled: cfg!(feature = "cuda"),
    require: "ARCFACE_REQUIRE_CUDA",
    // Tensor-core matmuls may round f32 inputs to TF32 (10-bit mantissa, 5e-4 relative a
    // product), compounded over VGG8's eight layers.
    tolerance: 1e-2,
};

#[test]
fn a_short_run_on_wgpu_trains_and_embeds_as_the_cpu_does() {
    smoke(&WGPU);
}

#[test]
fn a_short_run_on_cuda_trains_and_embeds_as_the_cpu_does() {
    smoke(&CUDA);
}

fn smoke(backend: &Backend) {
    let Backend { name, require, .. } = *backend;
    let required = std::env::var(require).is_ok_and(|v| v == "1");
    if !backend.compiled {
        assert!(
            !required,
            "{require}=1 but this test binary was built without `--features cli/{name}`"
        );
        eprintln!("skipped: this test binary was built without `--features cli/{name}`");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // 4 identities x 12 images, a quarter held for validation: 36 training images in batches
    // of 8, 5 steps an epoch, 2 epochs.
    let config = synthetic_config(dir, name, 3, 2, "arcface");
    let out = run(
        dir,
        &[
            "train",
            config.to_str().unwrap(),
            "--device",
            name,
            "--no-render",
        ],
    );
    let all = text(&out);
    if !out.status.success() && all.contains("does not run here") && !required {
        eprintln!("skipped: {name} does not run on this machine:\n{all}");
        return;
    }
    assert!(out.status.success(), "training on {name} failed:\n{all}");
    let run_dir = dir.join("runs").join(name);
    let status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(status["status"], "finished");
    assert_eq!(status["device"], name);
    let losses = metric(&run_dir, "train_loss");
    assert_eq!(losses.len(), 2);
    assert!(
        losses.iter().all(|l| l.is_finite() && *l > 0.0),
        "{losses:?}"
    );
    let (points, shape) = npy_f32(&run_dir.join("embeddings/train/epoch_002.npy"));
    assert_eq!(shape, vec![36, 3]);
    assert!(points.iter().all(|v| v.is_finite()));
    // Not all one point: the network ran, not a zero-filled buffer.
    assert!(points.chunks(3).any(|p| p != &points[..3]));

    // The same weights (the last checkpoint) and images on both devices.
    let files = val_files(&run_dir);
    let embed_on = |device: &str| {
        let npy = format!("{device}.npy");
        let run_arg = format!("runs/{name}");
        let mut args = vec![
            "embed",
            &run_arg,
            "--checkpoint",
            "last",
            "--device",
            device,
            "--out",
            &npy,
        ];
        args.extend(files.iter().map(String::as_str));
        ok(&run(dir, &args));
        npy_f32(&dir.join(&npy))
    };
    let (cpu, cpu_shape) = embed_on("flex");
    let (gpu, gpu_shape) = embed_on(name);
    assert_eq!(cpu_shape, vec![12, 3]);
    assert_eq!(gpu_shape, cpu_shape);
    let scale = cpu.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "the CPU embeddings are all zero");
    let worst = cpu
        .iter()
        .zip(&gpu)
        .map(|(c, g)| (c - g).abs())
        .fold(0f32, f32::max);
    eprintln!("{name} vs flex: largest difference {worst:e} of largest value {scale:e}");
    assert!(
        worst <= backend.tolerance * scale,
        "{name}'s embeddings differ from the CPU's by up to {worst:e}, more than {} x {scale:e}",
        backend.tolerance
    );
}
