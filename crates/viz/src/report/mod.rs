//! The interactive viewer: one self-contained HTML file (no network, no CDN; it works from
//! `file://`) with a run's (or a comparison's) snapshots of every epoch, its curves, its
//! evaluation and a thumbnail of every image.
//!
//! The page's data is one JSON document inside the HTML; the big arrays travel as base64 of
//! little-endian typed arrays (`Int16Array` points, `Float32Array` centres), which the browser
//! maps without parsing numbers one by one.
//!
//! - Points are the unit directions of the embeddings, quantised to `i16` (a step of 1/32767,
//!   under 0.002 degrees). Runs of more than three dimensions are projected first by a PCA
//!   fitted on the last epoch's training embeddings (as in the frames), and for those the angle
//!   of each point to its own centre and to the nearest other centre is computed here, in the
//!   full space, because the projection does not keep angles.
//! - The margin geometry is computed here, by the same code as the frames': for 2-D, each
//!   neighbour pair's bisector and band half-width; for 3-D, the mark of each point of a
//!   Fibonacci lattice of the sphere.

mod atlas;
mod encode;
mod load;
mod page;

pub use atlas::{Thumbnails, downscale_chw};
pub use page::{ReportSummary, ViewRun, write_report};

#[cfg(test)]
#[path = "page_tests.rs"]
mod page_tests;
