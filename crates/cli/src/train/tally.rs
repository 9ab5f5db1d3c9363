use burn::prelude::*;
use burn::train::ClassificationOutput;

/// Loss and accuracy of one split over one epoch, summed on the device and read once at the
/// end, so that keeping them costs no host sync per step.
#[derive(Default)]
pub struct Tally {
    loss_sum: Option<Tensor<1>>,
    correct: Option<Tensor<1, Int>>,
    count: usize,
}

/// Mean loss and accuracy (fraction) of an epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitStats {
    /// Mean loss per sample.
    pub loss: f64,
    /// Fraction of samples whose largest margin-free logit is their class.
    pub accuracy: f64,
}

impl Tally {
    /// Adds one batch.
    pub fn add(&mut self, out: &ClassificationOutput) {
        let n = out.targets.dims()[0];
        let loss = out.loss.clone().detach().without_autodiff() * n as f64;
        let predicted = out
            .output
            .clone()
            .detach()
            .without_autodiff()
            .argmax(1)
            .squeeze_dim::<1>(1);
        let correct = predicted
            .equal(out.targets.clone().without_autodiff())
            .int()
            .sum();
        self.loss_sum = Some(match self.loss_sum.take() {
            Some(sum) => sum + loss,
            None => loss,
        });
        self.correct = Some(match self.correct.take() {
            Some(sum) => sum + correct,
            None => correct,
        });
        self.count += n;
    }

    /// Reads the sums back and resets.
    pub fn finish(&mut self) -> SplitStats {
        let count = self.count.max(1) as f64;
        let loss = self
            .loss_sum
            .take()
            .map(|t| t.into_scalar::<f32>() as f64)
            .unwrap_or(f64::NAN);
        let correct = self
            .correct
            .take()
            .map(|t| t.into_scalar::<i64>() as f64)
            .unwrap_or(0.0);
        self.count = 0;
        SplitStats {
            loss: loss / count,
            accuracy: correct / count,
        }
    }
}
