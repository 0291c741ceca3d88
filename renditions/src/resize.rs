//! Rendition sizes and the resampling itself.

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::DynamicImage;

use crate::RenderError;

/// The size of a rendition whose longest side is `size`, for an image displayed as
/// `width`×`height`: aspect ratio kept, never upscaled (a smaller image keeps its own size).
/// Computed from the original, not from a shrunk decode, so sizes do not depend on how the
/// image was decoded.
pub(crate) fn fit(width: u32, height: u32, size: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= size {
        return (width, height);
    }
    let short = u64::from(width.min(height));
    let (size64, long64) = (u64::from(size), u64::from(long));
    // Rounded to nearest, and at least one pixel for extreme panoramas. Fits in u32: < size.
    let short = ((short * size64 + long64 / 2) / long64).max(1) as u32;
    if width >= height {
        (size, short)
    } else {
        (short, size)
    }
}

/// Resamples with Lanczos3: the sharpest of the usual filters on downscaling, and
/// fast_image_resize picks the SIMD path (AVX2, SSE4.1, NEON) for the CPU at run time.
pub(crate) struct Resampler {
    resizer: Resizer,
    options: ResizeOptions,
}

impl Resampler {
    pub(crate) fn new() -> Self {
        Resampler {
            resizer: Resizer::new(),
            // use_alpha (the default) premultiplies RGBA while resampling, so transparent pixels'
            // colours do not bleed into their neighbours.
            options: ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3)),
        }
    }

    /// `image` at `width`×`height`; returned as is when it already has that size.
    pub(crate) fn resize(
        &mut self,
        image: DynamicImage,
        width: u32,
        height: u32,
    ) -> Result<DynamicImage, RenderError> {
        if (image.width(), image.height()) == (width, height) {
            return Ok(image);
        }
        let mut resized = DynamicImage::new(width, height, image.color());
        self.resizer
            .resize(&image, &mut resized, &self.options)
            .map_err(|e| RenderError::Encode(format!("resizing to {width}x{height}: {e}")))?;
        Ok(resized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_the_longest_side_and_never_upscales() {
        assert_eq!(fit(1200, 900, 160), (160, 120));
        assert_eq!(fit(1200, 900, 1600), (1200, 900));
        assert_eq!(fit(900, 1200, 400), (300, 400));
        assert_eq!(fit(4000, 3000, 1600), (1600, 1200));
        assert_eq!(fit(1600, 1600, 1600), (1600, 1600));
        assert_eq!(fit(3000, 1999, 800), (800, 533));
        assert_eq!(fit(100_000, 1, 160), (160, 1));
    }
}
