//! The NaN guard: a loss, a weight or an embedding that turns NaN or infinite stops the run at
//! once, naming which and when, before anything of the bad epoch is written, so that the last
//! good checkpoint and snapshots stay as they were.

use arcface_core::EmbeddingNet;
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::train::ClassificationOutput;

/// Step losses are read back in groups of this many: one host sync per group instead of one
/// per step, and still the exact step of the first bad loss.
pub const CHECK_EVERY: usize = 32;

/// What to try when a run diverges.
pub const FIXES: &str = "usual fixes: a lower train.lr, a smaller model.scale, \
     model.easy_margin = true or model.theta_overflow = \"insightface\" (ArcFace), \
     or a smaller margin";

/// What a stopped run keeps, for the message.
pub fn kept(epoch: usize) -> String {
    if epoch <= 1 {
        "no epoch had finished, so there is no checkpoint".into()
    } else {
        format!(
            "nothing of epoch {epoch} was saved: checkpoints/last.bpk and the snapshots are those of epoch {}",
            epoch - 1
        )
    }
}

/// Watches the training loss of one epoch without a host sync per step.
#[derive(Default)]
pub struct LossWatch {
    pending: Vec<Tensor<1>>,
    /// 1-based step of `pending[0]`.
    first_step: usize,
}

impl LossWatch {
    /// Adds the loss of `step` (1-based); every [`CHECK_EVERY`] steps reads the group back and
    /// returns the first step whose loss is not finite.
    pub fn push(&mut self, out: &ClassificationOutput, step: usize) -> Option<(usize, f32)> {
        if self.pending.is_empty() {
            self.first_step = step;
        }
        let loss = out.loss.clone().detach().without_autodiff().reshape([1]);
        self.pending.push(loss);
        if self.pending.len() >= CHECK_EVERY {
            self.check()
        } else {
            None
        }
    }

    /// Reads back whatever is pending.
    pub fn check(&mut self) -> Option<(usize, f32)> {
        if self.pending.is_empty() {
            return None;
        }
        let first = self.first_step;
        let values = Tensor::cat(std::mem::take(&mut self.pending), 0)
            .into_data()
            .try_into_vec::<f32>()
            // A loss that cannot even be read back is as bad as a NaN one.
            .unwrap_or_else(|_| vec![f32::NAN]);
        first_non_finite(&values).map(|i| (first + i, values[i]))
    }
}

/// Index of the first value that is NaN or infinite.
pub fn first_non_finite(values: &[f32]) -> Option<usize> {
    values.iter().position(|v| !v.is_finite())
}

/// The path of the first parameter of `model` that holds a NaN or an infinity.
pub fn non_finite_parameter(model: &EmbeddingNet) -> Option<String> {
    let mut visitor = FiniteVisitor::default();
    model.visit(&mut visitor);
    visitor.found
}

#[derive(Default)]
struct FiniteVisitor {
    path: Vec<String>,
    found: Option<String>,
}

impl ModuleVisitor for FiniteVisitor {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.found.is_some() {
            return;
        }
        let tensor = param.val();
        // x - x is NaN exactly where x is NaN or infinite.
        let bad = (tensor.clone() - tensor)
            .is_nan()
            .any()
            .into_scalar::<bool>();
        if bad {
            let path = self.path.join(".");
            self.found = Some(if path.is_empty() {
                "a parameter".into()
            } else {
                path
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_bad_value_is_found_whatever_its_kind() {
        assert_eq!(first_non_finite(&[1.0, 2.0, 3.0]), None);
        assert_eq!(first_non_finite(&[1.0, f32::NAN, f32::INFINITY]), Some(1));
        assert_eq!(first_non_finite(&[0.0, 1.0, f32::NEG_INFINITY]), Some(2));
        assert_eq!(first_non_finite(&[]), None);
    }
}
