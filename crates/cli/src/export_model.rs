//! `arcface-lab export --format onnx | safetensors`: a run's trained network (a checkpoint's
//! backbone, the head left out) for other tools. The weights are read from the Burn record
//! loaded as `eval` loads it.
//!
//! - ONNX (opset 17): the eval-mode network from pixels in `[0, 1]` to the un-normalised
//!   embedding, the pixel normalisation inside the graph, batch norm folded into the
//!   convolutions and (the last two) into the embedding layer, dropout left out.
//! - safetensors: every backbone tensor under PyTorch-style names, unfolded (see README).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use arcface_core::{Backbone, Vgg8};
use burn::nn::{BatchNorm, Linear, conv::Conv2d};
use burn::prelude::*;

use crate::args::ExportFormat;
use crate::checkpoint::Checkpoint;
use crate::config::{BackboneKind, RunConfig};
use crate::device::DeviceChoice;
use crate::onnx::{Array, ConvRelu, EmbeddingGraph};
use crate::run_dir::write_atomic;

/// Writes `model.onnx` or `model.safetensors` of `checkpoint` (best | last) into `out`.
pub fn export_model(
    run_dir: &Path,
    format: ExportFormat,
    checkpoint: &str,
    out: &Path,
) -> Result<Vec<PathBuf>> {
    let opened = Checkpoint::open(run_dir, checkpoint)?;
    let backbone = opened.config.model.backbone;
    if backbone != BackboneKind::Vgg8 {
        // The ONNX graph and the safetensors names are VGG8's layers.
        bail!(
            "export --format {} supports the vgg8 backbone only; this run's backbone is {backbone}",
            format_name(format)
        );
    }
    // The export reads no image, so changed data does not stop it; the user should still hear.
    crate::run_data::warn_on_changes(&opened.run);
    let (config, model) = (&opened.config, opened.load(DeviceChoice::Auto)?);
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let Backbone::Vgg8(vgg) = &model.net.backbone else {
        bail!("the run's config says vgg8 but its network is not a VGG8");
    };
    let (path, bytes) = match format {
        ExportFormat::Onnx => {
            let graph = onnx_graph(vgg, model.shape(), config, checkpoint);
            (out.join("model.onnx"), graph.to_bytes())
        }
        ExportFormat::Safetensors => (out.join("model.safetensors"), safetensors_bytes(vgg)?),
        _ => bail!("not a model format: {format:?}"),
    };
    write_atomic(&path, &bytes)?;
    Ok(vec![path])
}

/// A parameter's values as f32 (`iter` converts each element, whatever the stored dtype).
fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

fn conv_parts(conv: &Conv2d) -> (Vec<f32>, [usize; 4], Vec<f32>) {
    let w = conv.weight.val();
    let dims = w.dims();
    let bias = conv
        .bias
        .as_ref()
        .map_or_else(|| vec![0.0; dims[0]], |b| values(b.val()));
    (values(w), dims, bias)
}

/// Per channel `(scale, shift)` of an eval-mode batch norm: `y = x * scale + shift`, in f64.
fn bn_affine(bn: &BatchNorm) -> Vec<(f64, f64)> {
    let gamma = values(bn.gamma.val());
    let beta = values(bn.beta.val());
    let mean = values(bn.running_mean.value());
    let var = values(bn.running_var.value());
    (0..gamma.len())
        .map(|c| {
            let s = f64::from(gamma[c]) / (f64::from(var[c]) + bn.epsilon).sqrt();
            (s, f64::from(beta[c]) - f64::from(mean[c]) * s)
        })
        .collect()
}

/// conv then batch norm as one conv.
fn fold_conv(conv: &Conv2d, bn: &BatchNorm) -> ConvRelu {
    let (w, dims, b) = conv_parts(conv);
    let affine = bn_affine(bn);
    let per_out = dims[1] * dims[2] * dims[3];
    let weight = w
        .iter()
        .enumerate()
        .map(|(i, &v)| (f64::from(v) * affine[i / per_out].0) as f32)
        .collect();
    let bias = (0..dims[0])
        .map(|o| (f64::from(b[o]) * affine[o].0 + affine[o].1) as f32)
        .collect();
    ConvRelu {
        weight: Array {
            shape: dims.to_vec(),
            data: weight,
        },
        bias: Array {
            shape: vec![dims[0]],
            data: bias,
        },
    }
}

/// BatchNorm2d on `[C, H, W]` features, flatten, `linear`, BatchNorm1d: one affine layer
/// `x W' + b'` on the flattened (un-normalised) features.
fn fold_embed(bn_features: &BatchNorm, linear: &Linear, bn_embed: &BatchNorm) -> (Array, Array) {
    let w = values(linear.weight.val());
    let [features, dim] = linear.weight.dims();
    let b = linear
        .bias
        .as_ref()
        .map_or_else(|| vec![0.0; dim], |b| values(b.val()));
    let pre = bn_affine(bn_features);
    let per_channel = features / pre.len();
    let post = bn_affine(bn_embed);
    let mut weight = vec![0f32; features * dim];
    let mut shift = vec![0f64; dim];
    for i in 0..features {
        let (s, t) = pre[i / per_channel];
        for j in 0..dim {
            let v = f64::from(w[i * dim + j]);
            weight[i * dim + j] = (v * s * post[j].0) as f32;
            shift[j] += t * v;
        }
    }
    let bias = (0..dim)
        .map(|j| ((f64::from(b[j]) + shift[j]) * post[j].0 + post[j].1) as f32)
        .collect();
    (
        Array {
            shape: vec![features, dim],
            data: weight,
        },
        Array {
            shape: vec![dim],
            data: bias,
        },
    )
}

fn onnx_graph(
    net: &Vgg8,
    shape: [usize; 3],
    config: &RunConfig,
    checkpoint: &str,
) -> EmbeddingGraph {
    let blocks = net
        .blocks
        .iter()
        .map(|b| vec![fold_conv(&b.conv1, &b.bn1), fold_conv(&b.conv2, &b.bn2)])
        .collect();
    let (embed_weight, embed_bias) = fold_embed(&net.bn_features, &net.embed, &net.bn_embed);
    EmbeddingGraph {
        input_shape: shape,
        pixel_mean: celeba_data::PIXEL_MEAN,
        pixel_std: celeba_data::PIXEL_STD,
        blocks,
        embed_weight,
        embed_bias,
        doc: format!(
            "arcface-lab run {:?}, {checkpoint} checkpoint: images float32 [N, {}, {}, {}] in [0, 1] -> embeddings float32 [N, {}] (un-normalised)",
            config.name, shape[0], shape[1], shape[2], config.model.embedding_dim
        ),
    }
}

/// The backbone's tensors under PyTorch-style names (see README, "Exporting the model").
fn named_tensors(net: &Vgg8) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut out = Vec::new();
    let bn = |out: &mut Vec<(String, Vec<usize>, Vec<f32>)>, name: &str, bn: &BatchNorm| {
        let n = bn.gamma.dims()[0];
        for (what, v) in [
            ("weight", values(bn.gamma.val())),
            ("bias", values(bn.beta.val())),
            ("running_mean", values(bn.running_mean.value())),
            ("running_var", values(bn.running_var.value())),
        ] {
            out.push((format!("{name}.{what}"), vec![n], v));
        }
    };
    for (k, block) in net.blocks.iter().enumerate() {
        let k = k + 1;
        for (c, (conv, norm)) in [(&block.conv1, &block.bn1), (&block.conv2, &block.bn2)]
            .into_iter()
            .enumerate()
        {
            let c = c + 1;
            let (w, dims, b) = conv_parts(conv);
            out.push((
                format!("backbone.block{k}.conv{c}.weight"),
                dims.to_vec(),
                w,
            ));
            out.push((format!("backbone.block{k}.conv{c}.bias"), vec![dims[0]], b));
            bn(&mut out, &format!("backbone.block{k}.bn{c}"), norm);
        }
    }
    bn(&mut out, "backbone.bn_features", &net.bn_features);
    // PyTorch's nn.Linear layout: [out, in] (Burn stores [in, out]).
    let [features, dim] = net.embed.weight.dims();
    let w = values(net.embed.weight.val());
    let transposed = (0..dim * features)
        .map(|k| w[(k % features) * dim + k / features])
        .collect();
    out.push((
        "backbone.embed.weight".into(),
        vec![dim, features],
        transposed,
    ));
    let b = net
        .embed
        .bias
        .as_ref()
        .map_or_else(|| vec![0.0; dim], |b| values(b.val()));
    out.push(("backbone.embed.bias".into(), vec![dim], b));
    bn(&mut out, "backbone.bn_embed", &net.bn_embed);
    out
}

/// The safetensors file (huggingface.co/docs/safetensors): an 8-byte little-endian header
/// length, the JSON header (name -> dtype, shape, data_offsets; padded with spaces to a multiple
/// of 8), then the tensors' little-endian bytes in header order. Written here rather than with
/// the `safetensors` crate, whose dependencies' features would rebuild Burn's GPU stack.
fn safetensors_bytes(model: &Vgg8) -> Result<Vec<u8>> {
    let tensors = named_tensors(model);
    let mut header = serde_json::Map::new();
    header.insert(
        "__metadata__".into(),
        serde_json::json!({ "format": "pt", "producer": "arcface-lab" }),
    );
    let mut offset = 0usize;
    for (name, shape, data) in &tensors {
        let end = offset + 4 * data.len();
        header.insert(
            name.clone(),
            serde_json::json!({ "dtype": "F32", "shape": shape, "data_offsets": [offset, end] }),
        );
        offset = end;
    }
    let mut json =
        serde_json::to_vec(&header).context("cannot serialise the safetensors header")?;
    while json.len() % 8 != 0 {
        json.push(b' ');
    }
    let mut bytes = Vec::with_capacity(8 + json.len() + offset);
    bytes.extend((json.len() as u64).to_le_bytes());
    bytes.extend(json);
    for (_, _, data) in &tensors {
        bytes.extend(data.iter().flat_map(|v| v.to_le_bytes()));
    }
    Ok(bytes)
}

/// `onnx`, `safetensors`: the format as `--format` spells it.
fn format_name(format: ExportFormat) -> String {
    use clap::ValueEnum;
    format
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}
