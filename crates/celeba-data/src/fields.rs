//! Settings and checks shared by every data set kind: augmentation, the val fraction, the
//! image side.

use serde::{Deserialize, Serialize};

use crate::error::DataError;

/// `[data.augment]`: per-item training augmentation, applied on the fly by
/// [`crate::ImageBatcher::with_augment`]. Every field defaults to "off".
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct AugmentConfig {
    /// Mirror left-right with probability 0.5.
    #[serde(default)]
    pub horizontal_flip: bool,
    /// Pad each side with this many zero (black) pixels, then crop a random window of the
    /// original size.
    #[serde(default)]
    pub crop_padding: usize,
    /// Multiply pixels by a factor drawn uniformly from `[1 - b, 1 + b]`.
    #[serde(default)]
    pub brightness: f32,
    /// Scale the distance from the image's mean by a factor from `[1 - c, 1 + c]`.
    #[serde(default)]
    pub contrast: f32,
}

pub(crate) fn default_val_fraction() -> f64 {
    0.2
}

pub(crate) fn check_augment(
    augment: Option<&AugmentConfig>,
    image_size: usize,
) -> Result<(), DataError> {
    let Some(a) = augment else { return Ok(()) };
    for (field, value) in [
        ("augment.brightness", a.brightness),
        ("augment.contrast", a.contrast),
    ] {
        if !(0.0..1.0).contains(&value) {
            return Err(DataError::config(
                field,
                format!("= {value} is outside [0, 1)"),
            ));
        }
    }
    if a.crop_padding > image_size / 2 {
        return Err(DataError::config(
            "augment.crop_padding",
            format!(
                "= {} is more than half the image side ({image_size})",
                a.crop_padding
            ),
        ));
    }
    Ok(())
}

pub(crate) fn check_val_fraction(value: f64) -> Result<(), DataError> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(DataError::config(
            "val_fraction",
            format!("= {value} is outside [0, 1)"),
        ))
    }
}

pub(crate) fn check_positive(field: &'static str, value: usize) -> Result<(), DataError> {
    if value == 0 {
        Err(DataError::config(field, "must be at least 1"))
    } else {
        Ok(())
    }
}

pub(crate) fn check_image_size(value: usize) -> Result<(), DataError> {
    // Below 8 pixels a face is unrecognisable and the VGG pooling stages run out of pixels;
    // above 1024 one image alone costs megabytes per channel.
    if (8..=1024).contains(&value) {
        Ok(())
    } else {
        Err(DataError::config(
            "image_size",
            format!("= {value} is outside 8..=1024"),
        ))
    }
}
