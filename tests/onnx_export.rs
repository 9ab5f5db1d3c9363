//! `export --format onnx | safetensors`: the exported network reproduces the run's own
//! embedding snapshot (checked with onnx's checker and onnxruntime, in Python), and the
//! safetensors file holds the documented names and shapes.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::*;

/// The Python with onnx, onnxruntime and numpy: `ARCFACE_PYTHON`, else `python3`. `None` (and a
/// line saying why) when they are not importable; a panic then when `ARCFACE_REQUIRE_ONNX=1`.
fn onnx_python() -> Option<String> {
    let python = std::env::var("ARCFACE_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let why = match Command::new(&python)
        .args(["-c", "import numpy, onnx, onnxruntime"])
        .output()
    {
        Ok(out) if out.status.success() => return Some(python),
        Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
        Err(err) => format!("cannot run {python}: {err}"),
    };
    let required = std::env::var("ARCFACE_REQUIRE_ONNX").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "ARCFACE_REQUIRE_ONNX=1 but {python} lacks onnx/onnxruntime/numpy: {why}"
    );
    eprintln!(
        "skipping the onnxruntime check: {python} cannot import numpy, onnx, onnxruntime ({why}); set ARCFACE_PYTHON"
    );
    None
}

/// The run's validation images exactly as training loaded them (its config and splits.json),
/// as float32 `[N, C, H, W]` in `[0, 1]`.
fn val_pixels(dir: &Path, run_dir: &Path) -> (Vec<f32>, Vec<usize>) {
    let text = std::fs::read_to_string(run_dir.join("config.toml")).unwrap();
    let mut value: toml::Value = toml::from_str(&text).unwrap();
    let seed = value["seed"].as_integer().unwrap() as u64;
    // data.root is relative to where train ran (the test's folder).
    let data = value.get_mut("data").unwrap();
    let root = PathBuf::from(data["root"].as_str().unwrap());
    if root.is_relative() {
        data["root"] = toml::Value::String(dir.join(root).to_str().unwrap().to_string());
    }
    let data: celeba_data::DataConfig = data.clone().try_into().unwrap();
    let records: Vec<celeba_data::SplitRecord> =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("splits.json")).unwrap())
            .unwrap();
    let loaded = celeba_data::load_listed(&data, seed, &records).unwrap();
    let [c, h, w] = loaded.shape;
    let val = &loaded.val;
    let mut pixels = Vec::with_capacity(val.len() * c * h * w);
    for i in 0..val.len() {
        let item = val.item(i);
        pixels.extend(item.pixels().iter().map(|&p| f32::from(p) / 255.0));
    }
    (pixels, vec![val.len(), c, h, w])
}

/// Exports `run_dir`'s last checkpoint as ONNX and checks, in onnxruntime, that it maps the
/// run's validation images to its epoch `last_epoch` snapshot (the last checkpoint's).
pub fn assert_onnx_reproduces_the_snapshot(dir: &Path, run_dir: &Path, last_epoch: usize) {
    let out = ok(&run(
        dir,
        &[
            "export",
            run_dir.to_str().unwrap(),
            "--format",
            "onnx",
            "--checkpoint",
            "last",
        ],
    ));
    let model = run_dir.join("export/model.onnx");
    assert!(out.contains("model.onnx"), "{out}");
    let bytes = std::fs::read(&model).unwrap();
    assert!(bytes.len() > 1_000, "{} bytes", bytes.len());

    let (pixels, shape) = val_pixels(dir, run_dir);
    let expected = run_dir.join(format!("embeddings/val/epoch_{last_epoch:03}.npy"));
    let (points, points_shape) = npy_f32(&expected);
    assert_eq!(points_shape[0], shape[0]);
    assert!(points.iter().all(|v| v.is_finite()));
    let input = run_dir.join("val_images.npy");
    viz::write_npy_f32(&input, &pixels, &shape).unwrap();

    let Some(python) = onnx_python() else { return };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/onnx/check_onnx.py");
    let check = Command::new(&python)
        .arg(&script)
        .arg(&model)
        .arg(&input)
        .arg(&expected)
        .output()
        .unwrap();
    let text = text(&check);
    println!("{text}");
    eprintln!("{text}");
    assert!(check.status.success(), "{}: {text}", run_dir.display());
    assert!(text.contains("OK"), "{text}");
}

#[test]
fn onnx_export_reproduces_the_runs_embeddings() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let run_dir = train_tiny(dir, "onnx", 3, 2);
    assert_onnx_reproduces_the_snapshot(dir, &run_dir, 2);
}

/// The `name -> shape` table of a safetensors file (see [`read_safetensors`]).
pub fn safetensors_shapes(path: &Path) -> std::collections::BTreeMap<String, Vec<u64>> {
    read_safetensors(path)
        .into_iter()
        .map(|(name, (shape, _))| (name, shape))
        .collect()
}

#[test]
fn safetensors_export_holds_the_documented_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let run_dir = train_tiny(dir, "st", 2, 1);
    ok(&run(
        dir,
        &[
            "export",
            run_dir.to_str().unwrap(),
            "--format",
            "safetensors",
        ],
    ));
    let shapes = safetensors_shapes(&run_dir.join("export/model.safetensors"));
    let shape = |name: &str| -> &[u64] { shapes.get(name).unwrap_or_else(|| panic!("{name}")) };
    // 3 x 16 x 16 images; widths 16/32/64; 16 -> 8 -> 4 -> 2 after three poolings.
    assert_eq!(shape("backbone.block1.conv1.weight"), [16, 3, 3, 3]);
    assert_eq!(shape("backbone.block1.conv2.bias"), [16]);
    assert_eq!(shape("backbone.block3.conv2.weight"), [64, 64, 3, 3]);
    assert_eq!(shape("backbone.block2.bn1.running_var"), [32]);
    assert_eq!(shape("backbone.bn_features.weight"), [64]);
    assert_eq!(shape("backbone.embed.weight"), [2, 64 * 2 * 2]);
    assert_eq!(shape("backbone.embed.bias"), [2]);
    assert_eq!(shape("backbone.bn_embed.running_mean"), [2]);
    // 6 convs x (weight, bias) + 8 batch norms (6 in the blocks, 2 after) x 4 + the linear layer's 2.
    assert_eq!(shapes.len(), 6 * 2 + 8 * 4 + 2);
}
