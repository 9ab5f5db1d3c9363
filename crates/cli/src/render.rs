use std::path::Path;

use anyhow::{Context, Result};

use crate::config::RenderConfig;

/// Draws a run's frames and GIFs.
pub fn render(run_dir: &Path, config: &RenderConfig, geometry: viz::Geometry) -> Result<()> {
    let options = viz::RenderOptions {
        size: config.size,
        frame_ms: config.frame_ms,
        last_frame_ms: config.last_frame_ms,
        geometry,
        ..viz::RenderOptions::default()
    };
    let summary = viz::render_run(run_dir, &options)
        .with_context(|| format!("cannot draw the pictures of {}", run_dir.display()))?;
    eprintln!(
        "drew {} frames for {} epochs; GIFs: {}",
        summary.frames_written,
        summary.epochs,
        summary
            .gifs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !summary.charts.is_empty() {
        eprintln!(
            "charts: {}",
            summary
                .charts
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}
