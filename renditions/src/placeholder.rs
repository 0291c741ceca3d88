//! The blurhash a client paints while a rendition loads: about 30 characters for the colours
//! of the picture, computed on the thumb because it needs no more detail than that.

use image::DynamicImage;

use crate::encode::on_white;
use crate::RenderError;

/// Components along the long and the short side: 4×3 (or 3×4) keeps the hash short (28
/// characters) while still showing where the light and the subject are.
const LONG_COMPONENTS: u32 = 4;
const SHORT_COMPONENTS: u32 = 3;

pub(crate) fn blurhash(thumb: &DynamicImage) -> Result<String, RenderError> {
    // Transparent areas show as the white a JPEG would show.
    let rgb = on_white(thumb)?;
    let (width, height) = rgb.dimensions();
    let rgba: Vec<u8> = rgb
        .pixels()
        .flat_map(|p| [p[0], p[1], p[2], u8::MAX])
        .collect();
    let (x, y) = if width >= height {
        (LONG_COMPONENTS, SHORT_COMPONENTS)
    } else {
        (SHORT_COMPONENTS, LONG_COMPONENTS)
    };
    blurhash::encode(x, y, width, height, &rgba)
        .map_err(|e| RenderError::Encode(format!("blurhash: {e}")))
}
