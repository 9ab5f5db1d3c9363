use burn::tensor::Tensor;

/// Smallest norm divided by, as in PyTorch's `F.normalize` (`eps = 1e-12`).
///
/// The squared norm is clamped *before* the square root: clamping after it would let the
/// derivative of `sqrt` at 0 (infinite) meet the zero derivative of the squares and give
/// `inf * 0 = NaN` for an all-zero row. Clamping first gives that row a zero gradient instead.
const NORM_EPS: f64 = 1e-12;

/// Divides each row by its L2 norm (rows of norm below 1e-12 are divided by 1e-12).
///
/// # Shapes
/// - input: `[rows, dim]`
/// - output: `[rows, dim]`
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x
        .clone()
        .powi_scalar(2)
        .sum_dim(1)
        .clamp_min(NORM_EPS * NORM_EPS)
        .sqrt();
    x / norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn unit_rows_and_a_finite_zero_row() {
        let device = Device::flex().autodiff();
        let x = Tensor::<2>::from_data(
            TensorData::new(vec![3.0f32, 4.0, 0.0, 0.0], [2, 2]),
            &device,
        )
        .require_grad();
        let y = l2_normalize(x.clone());
        let grads = y.clone().sum().backward();
        let y = y.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(y, vec![0.6, 0.8, 0.0, 0.0]);
        let g = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        // d/dx of (x1 + x2)/|x| at (3, 4): (|x|^2 - x1 (x1 + x2)) / |x|^3 = (25 - 21)/125, (25 - 28)/125.
        assert!(
            (g[0] - 4.0 / 125.0).abs() < 1e-6 && (g[1] + 3.0 / 125.0).abs() < 1e-6,
            "{g:?}"
        );
        assert!(g[2].is_finite() && g[3].is_finite(), "{g:?}");
    }
}
