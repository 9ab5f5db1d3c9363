//! `[model] backbone = "resnet18" | "iresnet18"`: a tiny run of each through the binary, then
//! `eval`, `embed`, `export` (ONNX checked in onnxruntime, safetensors names) and the refusals
//! (an unknown name, `base_width` on VGG8).

use crate::helpers::*;

/// [`synthetic_held_out_config`] at 32x32 (the residual backbones' least size) with `backbone`
/// at base width 4.
fn residual_config(dir: &std::path::Path, name: &str, backbone: &str) -> std::path::PathBuf {
    let path = synthetic_held_out_config(dir, name, 2, 2);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("image_size = 16\n", "image_size = 32\n")
        .replace(
            "[model]\n",
            &format!("[model]\nbackbone = \"{backbone}\"\nbase_width = 4\n"),
        );
    assert!(
        text.contains("image_size = 32") && text.contains("base_width"),
        "{text}"
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn residual_backbones_train_evaluate_and_embed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for backbone in ["resnet18", "iresnet18"] {
        train_config(dir, &residual_config(dir, backbone, backbone));
        let run_dir = dir.join("runs").join(backbone);
        let resolved = std::fs::read_to_string(run_dir.join("config.toml")).unwrap();
        assert!(
            resolved.contains(&format!("backbone = \"{backbone}\""))
                && resolved.contains("base_width = 4"),
            "{resolved}"
        );
        for epoch in ["001", "002"] {
            let (points, shape) =
                npy_f32(&run_dir.join(format!("embeddings/val/epoch_{epoch}.npy")));
            assert_eq!(shape, vec![12, 2], "{backbone}");
            assert!(points.iter().all(|v| v.is_finite()), "{backbone}");
        }
        let run_arg = run_dir.to_str().unwrap();
        let out = ok(&run(dir, &["eval", run_arg, "--device", "flex"]));
        assert!(out.contains("held"), "{backbone}: {out}");
        let eval: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run_dir.join("eval.json")).unwrap())
                .unwrap();
        assert_eq!(eval["held_out"]["samples"], 24, "{backbone}");

        // embed gives the last snapshot of the validation images again, bit for bit.
        let files = val_files(&run_dir);
        let npy = format!("{backbone}-val.npy");
        let mut args = vec![
            "embed",
            run_arg,
            "--checkpoint",
            "last",
            "--device",
            "flex",
            "--out",
            &npy,
        ];
        args.extend(files.iter().map(String::as_str));
        ok(&run(dir, &args));
        let (expected, _) = npy_f32(&run_dir.join("embeddings/val/epoch_002.npy"));
        let (got, _) = npy_f32(&dir.join(&npy));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&expected), "{backbone}");

        // The exported network gives the same embeddings in onnxruntime.
        crate::onnx_export::assert_onnx_reproduces_the_snapshot(dir, &run_dir, 2);
        ok(&run(dir, &["export", run_arg, "--format", "safetensors"]));
        let shapes =
            crate::onnx_export::safetensors_shapes(&run_dir.join("export/model.safetensors"));
        let shape = |name: &str| -> &[u64] {
            shapes
                .get(name)
                .unwrap_or_else(|| panic!("{backbone}: no {name} in {:?}", shapes.keys()))
        };
        // Base width 4: stages of 4, 8, 16, 32 channels; 3 x 32 x 32 images, 2-D embeddings.
        // torchvision's and insightface's names: block i is layer{i / 2 + 1}.{i % 2}.
        assert_eq!(shape("backbone.conv1.weight"), [4, 3, 3, 3]);
        assert_eq!(shape("backbone.layer1.0.conv1.weight"), [4, 4, 3, 3]);
        assert_eq!(shape("backbone.layer2.0.downsample.0.weight"), [8, 4, 1, 1]);
        assert_eq!(shape("backbone.layer2.0.downsample.1.running_var"), [8]);
        assert_eq!(shape("backbone.layer4.1.bn2.bias"), [32]);
        if backbone == "resnet18" {
            // Global average pooling, then the embedding layer (PyTorch's [out, in]).
            assert_eq!(shape("backbone.embed.weight"), [2, 32]);
            assert_eq!(shape("backbone.bn_embed.running_mean"), [2]);
            // 20 convs (stem, 16 in blocks, 3 shortcuts) + 20 batch norms x 4 + linear 2 + BN1d 4.
            assert_eq!(shapes.len(), 20 + 20 * 4 + 2 + 4, "{backbone}");
        } else {
            // Four stride-2 stages: 32 -> 2; BatchNorm2d, flatten, fc, BatchNorm1d `features`.
            assert_eq!(shape("backbone.prelu.weight"), [4]);
            assert_eq!(shape("backbone.layer1.0.prelu.weight"), [4]);
            assert_eq!(shape("backbone.layer1.0.downsample.0.weight"), [4, 4, 1, 1]);
            assert_eq!(shape("backbone.bn2.running_var"), [32]);
            assert_eq!(shape("backbone.fc.weight"), [2, 32 * 2 * 2]);
            assert_eq!(shape("backbone.features.weight"), [2]);
            // 21 convs (stem, 16, 4 shortcuts); BNs: stem 1 + 8 x 3 + 4 shortcuts + bn2 + features
            // = 31, x 4; PReLUs: stem + 8; fc weight + bias.
            assert_eq!(shapes.len(), 21 + 31 * 4 + 9 + 2, "{backbone}");
        }
    }
}

#[test]
fn an_unknown_backbone_is_refused_with_the_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let err = fails(&run(
        dir,
        &train_args(&residual_config(dir, "bad", "resnet50"), &[]),
    ));
    assert!(
        err.contains("resnet50") && err.contains("`vgg8`, `resnet18`, `iresnet18`"),
        "{err}"
    );
    // 16x16 images are too small for a residual backbone: refused when the config is read.
    let small = residual_config(dir, "small", "iresnet18");
    let text = std::fs::read_to_string(&small)
        .unwrap()
        .replace("image_size = 32\n", "image_size = 16\n");
    std::fs::write(&small, text).unwrap();
    let err = fails(&run(dir, &train_args(&small, &[])));
    assert!(
        err.contains("key `model.backbone` = \"iresnet18\": expected images of at least 32x32, and [data] gives 16x16"),
        "{err}"
    );
    assert!(!dir.join("runs/small").exists());
    let vgg = residual_config(dir, "vgg", "vgg8");
    let err = fails(&run(dir, &train_args(&vgg, &[])));
    assert!(
        err.contains("key `model.base_width`: the vgg8 backbone"),
        "{err}"
    );
}

#[test]
fn the_step_bench_runs_each_backbone() {
    let tmp = tempfile::tempdir().unwrap();
    for backbone in ["vgg8", "resnet18", "iresnet18"] {
        let mut args = vec![
            "bench",
            "step",
            "--input",
            "3x32x32",
            "--batch",
            "4",
            "--steps",
            "1",
            "--warmup",
            "1",
            "--device",
            "flex",
            "--json",
            "--backbone",
            backbone,
        ];
        if backbone != "vgg8" {
            args.extend(["--base-width", "4"]);
        }
        let out = ok(&run(tmp.path(), &args));
        let line = out.lines().last().unwrap();
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let want = if backbone == "vgg8" {
            backbone.to_string()
        } else {
            format!("{backbone} (base width 4)")
        };
        assert_eq!(v["backbone"], want.as_str(), "{line}");
    }
}
