//! Helpers shared by the backbones' tests.

use burn::prelude::*;

/// Replaces every float parameter with a fixed pattern: weights `sin` waves of amplitude
/// `sqrt(3 / fan_in)` (the spread of a uniform Kaiming init), vectors left as initialised
/// where constant (batch norm's 1 and 0) and small waves otherwise (biases).
pub(crate) struct FixedParams(pub(crate) usize);

impl burn::module::ModuleMapper for FixedParams {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<Tensor<D>>,
    ) -> burn::module::Param<Tensor<D>> {
        use burn::tensor::TensorData;

        self.0 += 1;
        let k = self.0 as f32;
        let (id, tensor, mapper) = param.consume();
        let dims = tensor.dims();
        let device = tensor.device();
        let old = tensor.into_data().try_to_vec::<f32>().unwrap();
        let constant = old.iter().all(|&v| v == old[0]);
        let amplitude = if D == 1 {
            0.1
        } else {
            (3.0 * dims[0] as f32 / old.len() as f32).sqrt()
        };
        let new: Vec<f32> = if D == 1 && constant {
            old
        } else {
            (0..old.len())
                .map(|i| amplitude * (0.913 * i as f32 + 1.7 * k).sin())
                .collect()
        };
        let tensor = Tensor::from_data(TensorData::new(new, dims), &device).require_grad();
        burn::module::Param::from_mapped_value(id, tensor, mapper)
    }
}
