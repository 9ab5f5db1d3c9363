use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::RunFolderError;
use crate::json::read_json;
use crate::status::RunStatus;

/// `compare.json` of a comparison folder: which head runs it holds (each in a sub-folder named
/// after the head), for `render`, `view` and `compare --resume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareIndex {
    /// `running` until every head has trained; `finished` then.
    pub status: RunStatus,
    /// Head names, in training order.
    pub heads: Vec<String>,
    /// Their run folders, relative to the comparison folder.
    pub runs: Vec<String>,
    /// Width of the grid, pixels.
    pub size: u32,
    /// Per head, in `heads` order: open-set verification of its best checkpoint on the
    /// held-out identities (from its `eval.json`); absent when the data set holds none out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_out: Option<Vec<HeldOutFigures>>,
}

/// One head's row of `compare.json`'s `held_out`: fractions, `null` where undefined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldOutFigures {
    pub head: String,
    /// The best epoch, whose checkpoint was evaluated.
    pub epoch: Option<u64>,
    pub auc: Option<f64>,
    pub eer: Option<f64>,
    pub tar_at_far_1e2: Option<f64>,
    pub ten_fold_accuracy: Option<f64>,
    pub ten_fold_std: Option<f64>,
    pub precision_at_1: Option<f64>,
}

impl CompareIndex {
    /// Reads `compare.json` at `path`.
    pub fn read(path: &Path) -> Result<Self, RunFolderError> {
        read_json(
            path,
            "a compare.json written by arcface-lab (status, heads, runs, size)",
        )
    }
}
