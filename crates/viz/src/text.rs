//! Text through plotters (with the embedded font) into a [`Canvas`].

use plotters::backend::{BitMapBackend, RGBPixel};
use plotters::drawing::IntoDrawingArea;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontDesc, FontFamily, FontStyle, RGBColor};

use crate::canvas::{Canvas, Rgb};
use crate::error::VizError;
use std::path::Path;

/// One line of text; `y` is where the middle of its capital letters goes.
pub(crate) struct Label {
    pub text: String,
    pub x: f32,
    pub y: f32,
    pub px: f64,
    pub color: Rgb,
    pub centered: bool,
}

fn font(px: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(crate::font::FAMILY), px, FontStyle::Normal)
}

/// Width in pixels of `text` at `px`.
pub(crate) fn width(text: &str, px: f64) -> f32 {
    font(px)
        .box_size(text)
        .map_or(text.chars().count() as f32 * px as f32 * 0.6, |(w, _)| {
            w as f32
        })
}

/// `text` shortened with an ellipsis until it fits `max_w` pixels.
pub(crate) fn fit(text: &str, px: f64, max_w: f32) -> String {
    if width(text, px) <= max_w {
        return text.to_string();
    }
    let mut chars: Vec<char> = text.chars().collect();
    while chars.len() > 1 {
        chars.pop();
        let s: String = chars.iter().chain(['…'].iter()).collect();
        if width(&s, px) <= max_w {
            return s;
        }
    }
    "…".to_string()
}

/// Draws `labels` in one plotters pass over the canvas pixels. `path` only
/// names the picture in errors.
pub(crate) fn draw_labels(
    canvas: &mut Canvas,
    labels: &[Label],
    path: &Path,
) -> Result<(), VizError> {
    let dims = canvas.dims();
    let backend = BitMapBackend::<RGBPixel>::with_buffer_and_format(&mut canvas.buf, dims)
        .map_err(|e| VizError::draw(path, e))?;
    let area = backend.into_drawing_area();
    for l in labels {
        let color = RGBColor(l.color[0], l.color[1], l.color[2]);
        let h = if l.centered { HPos::Center } else { HPos::Left };
        let style = font(l.px).color(&color).pos(Pos::new(h, VPos::Top));
        // The ab_glyph path puts the baseline half a font size below the
        // anchor; capitals are ~0.62 of the size tall.
        let top = l.y - 0.5 * l.px as f32 + 0.31 * l.px as f32;
        area.draw_text(&l.text, &style, (l.x.round() as i32, top.round() as i32))
            .map_err(|e| VizError::draw(path, e))?;
    }
    area.present().map_err(|e| VizError::draw(path, e))
}
