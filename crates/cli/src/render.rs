//! `arcface-lab render`: a run's frames, GIFs and charts, drawn by viz from its files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::config::RenderConfig;

/// Draws a run's frames and GIFs.
pub fn render(run_dir: &Path, config: &RenderConfig, geometry: viz::Geometry) -> Result<()> {
    let options = viz::RenderOptions {
        geometry,
        ..options(config, config.size)
    };
    let summary = viz::render_run(run_dir, &options)
        .with_context(|| format!("cannot draw the pictures of {}", run_dir.display()))?;
    eprintln!(
        "drew {} frames for {} epochs; GIFs: {}",
        summary.frames_written,
        summary.epochs,
        joined(&summary.gifs)
    );
    if !summary.charts.is_empty() {
        eprintln!("charts: {}", joined(&summary.charts));
    }
    Ok(())
}

/// viz's drawing options for `config`, frames `size` px wide.
pub fn options(config: &RenderConfig, size: u32) -> viz::RenderOptions {
    viz::RenderOptions {
        size,
        frame_ms: config.frame_ms,
        last_frame_ms: config.last_frame_ms,
        projection: config.projection,
        ..viz::RenderOptions::default()
    }
}

/// The files drawn, as one comma-separated list for a message.
pub fn joined(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
