//! The whole rendition set from one original.

use crate::panic::guarded;
use crate::resize::{fit, Resampler};
use crate::{decode, encode, placeholder, probe, Limits, RenderError, RENDITIONS};

/// One rendition, in both served formats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// One of the names in [`RENDITIONS`].
    pub name: &'static str,
    /// Width in pixels: the longest side is the rendition's size, or the original's own size
    /// when that is smaller (never upscaled); aspect ratio kept.
    pub width: u32,
    /// Height in pixels, see `width`.
    pub height: u32,
    /// Lossy WebP, with transparency when the original has any.
    pub webp: Vec<u8>,
    /// Baseline JPEG, transparency laid over white.
    pub jpeg: Vec<u8>,
}

/// Everything the image worker stores and records for one upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The original's width as displayed (EXIF orientation applied).
    pub width: u32,
    /// The original's height as displayed.
    pub height: u32,
    /// A blurhash of the picture, for a placeholder while renditions load.
    pub blurhash: String,
    /// One entry per [`RENDITIONS`] entry, in the same order (smallest first).
    pub renditions: Vec<Encoded>,
}

/// Decodes with hard limits, applies EXIF orientation, produces every rendition in WebP and JPEG,
/// never upscaled (a rendition of an image smaller than its size keeps the original size), all
/// metadata stripped, plus a blurhash.
///
/// The pixel limit is checked on the header before any pixel is decoded. Every error is
/// permanent (see [`RenderError`]); a decoder panic is caught and reported as
/// [`RenderError::Corrupt`].
///
/// CPU-bound and blocking (a 12 MP JPEG takes a few hundred milliseconds): callers run it on a
/// blocking thread (`tokio::task::spawn_blocking`).
pub fn render(bytes: &[u8], limits: &Limits) -> Result<Rendered, RenderError> {
    let header = probe(bytes)?;
    if header.pixels() > limits.max_pixels {
        return Err(RenderError::TooLarge {
            width: header.width,
            height: header.height,
            max_pixels: limits.max_pixels,
        });
    }
    guarded(|| {
        let decoded = decode::decode(bytes, header.format, limits)?;
        let (width, height) = (decoded.width, decoded.height);

        // Largest first, each from the previous one: every step is a downscale of 2–2.5×, so the
        // big decode is resampled once rather than four times, and Lanczos3 at these ratios
        // loses nothing visible against resampling each size from the source.
        let mut resampler = Resampler::new();
        let mut current = decoded.image;
        let mut renditions = Vec::with_capacity(RENDITIONS.len());
        for &(name, size) in RENDITIONS.iter().rev() {
            let (w, h) = fit(width, height, size);
            current = resampler.resize(current, w, h)?;
            renditions.push(Encoded {
                name,
                width: w,
                height: h,
                webp: encode::webp(&current)?,
                jpeg: encode::jpeg(&current)?,
            });
        }
        renditions.reverse();
        // `current` is now the thumb.
        let blurhash = placeholder::blurhash(&current)?;

        Ok(Rendered {
            width,
            height,
            blurhash,
            renditions,
        })
    })
}
