//! Pictures of how ArcFace embeddings separate during training.
//!
//! Each epoch's embeddings are normalised and drawn on the unit circle (2-D)
//! or on the unit sphere (3-D; more dimensions are reduced to their top three
//! principal axes first), one colour per class, with the head's class-centre
//! directions as rays. The sphere is shown through a fixed camera (the globe),
//! on Hammer's equal-area map of the whole sphere, or both side by side
//! ([`Projection`]). [`render_run`] turns a
//! training run folder into per-epoch PNGs and one GIF per split;
//! [`write_npy_f32`] and friends read and write the `.npy` snapshots the
//! training loop leaves there. [`GifWriter`] writes any sequence of RGB frames as an animation.
//!
//! [`write_report`] writes the interactive viewer: one self-contained HTML
//! page of a run or a comparison.
//!
//! Every file is written under a temporary name next to its destination and
//! renamed when complete.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))] // a failed unwrap is a failed test

mod canvas;
mod compare;
mod curves;
mod error;
mod font;
mod frame;
mod frame2d;
mod frame3d;
mod frame_map;
mod geometry;
mod gif;
mod gif_encoder;
mod gif_palette;
mod hammer;
mod map;
mod metrics;
mod npy;
mod npz;
mod palette;
mod pca;
mod project;
mod report;
mod run;
mod scene;
mod text;
mod voronoi;

pub use crate::{
    compare::{ComparedRun, ComparisonSummary, render_comparison},
    curves::{render_comparison_curves, render_roc},
    error::VizError,
    frame::{FrameData, RenderOptions, render_frame},
    geometry::{Geometry, MarginBand, band_half_width},
    gif::GifWriter,
    map::Projection,
    npy::{read_npy_f32, read_npy_i64, write_npy_f32, write_npy_i64},
    npz::{write_npz, write_npz_files},
    report::{ReportSummary, Thumbnails, ViewRun, downscale_chw, write_report},
    run::{RenderSummary, render_run},
};
