//! `arcface-lab export --format onnx | safetensors`: a run's trained network (a checkpoint's
//! backbone, the head left out) for other tools, for every backbone. The weights are read from
//! the Burn record loaded as `eval` loads it.
//!
//! - ONNX (opset 17, [`graph`]): the eval-mode network from pixels in `[0, 1]` to the
//!   un-normalised embedding, the pixel normalisation inside the graph, batch norm folded into
//!   the layer before it where that is exact ([`fold`]), dropout left out.
//! - safetensors ([`safetensors`]): every backbone tensor under PyTorch-style names, unfolded
//!   (see README).

mod fold;
mod graph;
mod safetensors;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::args::ExportFormat;
use crate::checkpoint::Checkpoint;
use crate::device::DeviceChoice;
use crate::run_dir::write_atomic;

/// Writes `model.onnx` or `model.safetensors` of `checkpoint` (best | last) into `out`.
pub fn export_model(
    run_dir: &Path,
    format: ExportFormat,
    checkpoint: &str,
    out: &Path,
) -> Result<Vec<PathBuf>> {
    let opened = Checkpoint::open(run_dir, checkpoint)?;
    // The export reads no image, so changed data does not stop it; the user should still hear.
    crate::run_data::warn_on_changes(&opened.run);
    let (config, model) = (&opened.config, opened.load(DeviceChoice::Auto)?);
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let backbone = &model.net.backbone;
    let (path, bytes) = match format {
        ExportFormat::Onnx => {
            let shape = model.shape();
            let doc = format!(
                "arcface-lab run {:?} ({} backbone), {checkpoint} checkpoint: images float32 [N, {}, {}, {}] in [0, 1] -> embeddings float32 [N, {}] (un-normalised)",
                config.name,
                config.model.backbone,
                shape[0],
                shape[1],
                shape[2],
                config.model.embedding_dim
            );
            let model = graph::onnx_model(backbone, shape, doc)?;
            (out.join("model.onnx"), crate::onnx::to_bytes(&model))
        }
        ExportFormat::Safetensors => (
            out.join("model.safetensors"),
            safetensors::safetensors_bytes(backbone)?,
        ),
        _ => bail!("not a model format: {format:?}"),
    };
    write_atomic(&path, &bytes)?;
    Ok(vec![path])
}
