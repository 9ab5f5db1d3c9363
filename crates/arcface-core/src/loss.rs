use burn::tensor::{Int, Tensor, activation::log_softmax};

/// Mean cross-entropy of `logits` against class indices, `-mean(log softmax(logits)[target])`.
///
/// # Shapes
/// - logits: `[batch, classes]`
/// - targets: `[batch]`
/// - output: `[1]`
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let log_probs = log_softmax(logits, 1);
    let picked = log_probs.gather(1, targets.unsqueeze_dim(1));
    picked.mean().neg()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn matches_hand_values() {
        let device = Device::flex();
        // Row 0: logits (0, ln 3), target 0 -> p = 1/4 -> ln 4.
        // Row 1: logits (2, 2), target 1 -> p = 1/2 -> ln 2.
        let logits = Tensor::<2>::from_data(
            TensorData::new(vec![0.0, 3f32.ln(), 2.0, 2.0], [2, 2]),
            &device,
        );
        let targets = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1], [2]), &device);
        let loss = cross_entropy(logits, targets).into_scalar::<f32>() as f64;
        let want = (4f64.ln() + 2f64.ln()) / 2.0;
        assert!((loss - want).abs() < 1e-6, "{loss} vs {want}");
    }
}
