use std::sync::OnceLock;

use plotters::style::{FontStyle, register_font};

use crate::error::VizError;

/// plotters is built without system font loading, so every text needs this
/// embedded font registered under the family its `TextStyle`s ask for.
static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

pub(crate) const FAMILY: &str = "sans-serif";

static REGISTERED: OnceLock<bool> = OnceLock::new();

/// Registers the font once per process; later calls only report the outcome.
pub(crate) fn ensure_font() -> Result<(), VizError> {
    let ok =
        *REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok());
    if ok {
        Ok(())
    } else {
        Err(VizError::Font {
            name: "DejaVuSans.ttf",
        })
    }
}
