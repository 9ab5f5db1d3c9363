//! The checks every head makes of its shape.

use crate::CoreError;

/// Rejects an empty embedding and fewer than two classes.
pub(super) fn check_shape(embedding_dim: usize, num_classes: usize) -> Result<(), CoreError> {
    if embedding_dim == 0 {
        return Err(CoreError::ZeroEmbedding);
    }
    if num_classes < 2 {
        return Err(CoreError::TooFewClasses(num_classes));
    }
    Ok(())
}
