//! WebP and JPEG bytes for one rendition.
//!
//! Both encoders are given bare pixels and write no Exif, XMP or ICC segment: that is how all
//! metadata (camera serial numbers, GPS positions) is stripped from what Catalog serves.

use std::borrow::Cow;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ExtendedColorType, ImageEncoder, RgbImage};

use crate::RenderError;

/// libwebp's quality scale; 80 is visually close to the JPEG below at about two thirds the size.
const WEBP_QUALITY: f32 = 80.0;
/// A common web default: artefacts are hard to see, files stay small.
const JPEG_QUALITY: u8 = 82;

/// Lossy WebP (libwebp), keeping transparency when the image has any.
pub(crate) fn webp(image: &DynamicImage) -> Result<Vec<u8>, RenderError> {
    let (width, height) = (image.width(), image.height());
    let encoder = match image {
        DynamicImage::ImageRgb8(rgb) => webp::Encoder::from_rgb(rgb.as_raw(), width, height),
        DynamicImage::ImageRgba8(rgba) => webp::Encoder::from_rgba(rgba.as_raw(), width, height),
        other => return Err(unexpected(other)),
    };
    // encode_simple rather than encode: the latter unwraps libwebp's error.
    let memory = encoder
        .encode_simple(false, WEBP_QUALITY)
        .map_err(|e| RenderError::Encode(format!("WebP {width}x{height}: {e:?}")))?;
    Ok(memory.to_vec())
}

/// Baseline JPEG; transparency is laid over white, the background product pages use.
pub(crate) fn jpeg(image: &DynamicImage) -> Result<Vec<u8>, RenderError> {
    let rgb = on_white(image)?;
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .write_image(
            rgb.as_raw(),
            rgb.width(),
            rgb.height(),
            ExtendedColorType::Rgb8,
        )
        .map_err(|e| RenderError::Encode(format!("JPEG {}x{}: {e}", rgb.width(), rgb.height())))?;
    Ok(out)
}

/// The image without transparency: RGB as is, RGBA composited over white.
pub(crate) fn on_white(image: &DynamicImage) -> Result<Cow<'_, RgbImage>, RenderError> {
    match image {
        DynamicImage::ImageRgb8(rgb) => Ok(Cow::Borrowed(rgb)),
        DynamicImage::ImageRgba8(rgba) => {
            let pixels = rgba
                .pixels()
                .flat_map(|p| {
                    let alpha = u32::from(p[3]);
                    [p[0], p[1], p[2]]
                        .map(|c| ((u32::from(c) * alpha + 255 * (255 - alpha) + 127) / 255) as u8)
                })
                .collect();
            RgbImage::from_raw(rgba.width(), rgba.height(), pixels)
                .map(Cow::Owned)
                .ok_or_else(|| RenderError::Encode("flattening alpha".into()))
        }
        other => Err(unexpected(other)),
    }
}

/// The decoder normalises to RGB8/RGBA8, so anything else is a bug here, not a bad file.
fn unexpected(image: &DynamicImage) -> RenderError {
    RenderError::Encode(format!("unexpected colour type {:?}", image.color()))
}
