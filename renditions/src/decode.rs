//! Pixels from bytes, under the limits, upright.
//!
//! JPEGs go through jpeg-decoder because it can decode at 1/2, 1/4 or 1/8 scale inside the
//! inverse DCT: a 12 MP photo only ever needs 1600 px on its long side, so most of its pixels are
//! never materialised (shrink-on-load). Everything else goes through `image` with its limits set,
//! so a decompression bomb is refused by the decoder before it allocates the canvas.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, ImageDecoder, RgbImage};
use jpeg_decoder::{CodingProcess, PixelFormat};

use crate::probe::{exif_orientation, oriented};
use crate::{Format, Limits, RenderError, LARGEST};

/// A decoded image ready for resizing.
pub(crate) struct Decoded {
    /// Upright pixels, `ImageRgb8` or — only when some pixel is not opaque — `ImageRgba8`. Maybe
    /// smaller than the original (shrink-on-load), never smaller than the largest rendition.
    pub image: DynamicImage,
    /// The original's displayed width (after orientation), which rendition sizes derive from.
    pub width: u32,
    /// The original's displayed height.
    pub height: u32,
}

/// Decodes `bytes`, already sniffed as `format` and checked against `limits.max_pixels`.
pub(crate) fn decode(
    bytes: &[u8],
    format: Format,
    limits: &Limits,
) -> Result<Decoded, RenderError> {
    let (image, (width, height), orientation) = match format {
        Format::Jpeg => decode_jpeg(bytes, limits)?,
        _ => decode_with_image(bytes, format, limits)?,
    };
    let mut image = normalise(image);
    image.apply_orientation(orientation);
    let (width, height) = oriented(width, height, orientation);
    Ok(Decoded {
        image,
        width,
        height,
    })
}

type Raw = (DynamicImage, (u32, u32), Orientation);

fn decode_jpeg(bytes: &[u8], limits: &Limits) -> Result<Raw, RenderError> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder.read_info()?;
    let info = decoder
        .info()
        .ok_or_else(|| RenderError::Corrupt("no JPEG frame header".into()))?;
    let original = (u32::from(info.width), u32::from(info.height));

    // Lossless JPEG has no DCT to scale in; it is decoded whole.
    let scalable = info.coding_process != CodingProcess::Lossless;
    if scalable && original.0.max(original.1) > LARGEST {
        // jpeg-decoder picks the smallest scale at which *either* axis reaches the request. Asking
        // for the largest rendition on the long axis and the impossible u16::MAX on the other
        // makes the long side decide, so the large rendition is never upscaled.
        const _: () = assert!(LARGEST <= u16::MAX as u32, "JPEG sides are u16");
        const LONG: u16 = LARGEST as u16;
        let request = if original.0 >= original.1 {
            (LONG, u16::MAX)
        } else {
            (u16::MAX, LONG)
        };
        decoder.scale(request.0, request.1)?;
    }

    // Refuse before decoding rather than after: output size × bytes per pixel is what the
    // decoder is about to allocate (progressive JPEGs also keep full-size coefficients, about
    // two bytes per sample, which max_pixels already bounds).
    let info = decoder
        .info()
        .ok_or_else(|| RenderError::Corrupt("no JPEG frame header".into()))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    let output_bytes =
        u64::from(width) * u64::from(height) * info.pixel_format.pixel_bytes() as u64;
    if output_bytes > limits.max_alloc_bytes {
        return Err(RenderError::TooMuchMemory {
            max_alloc_bytes: limits.max_alloc_bytes,
        });
    }
    decoder.set_max_decoding_buffer_size(
        usize::try_from(limits.max_alloc_bytes).unwrap_or(usize::MAX),
    );

    let pixels = decoder.decode()?;
    // Known for certain only now: an Exif segment may follow the frame header.
    let orientation = exif_orientation(decoder.exif_data());
    let image = jpeg_pixels(info.pixel_format, width, height, pixels)?;
    Ok((image, original, orientation))
}

/// Wraps jpeg-decoder's output buffer in the `image` type of its pixel format.
fn jpeg_pixels(
    format: PixelFormat,
    width: u32,
    height: u32,
    pixels: Vec<u8>,
) -> Result<DynamicImage, RenderError> {
    let short = || RenderError::Corrupt("JPEG decoder returned too few pixels".into());
    match format {
        PixelFormat::RGB24 => RgbImage::from_raw(width, height, pixels)
            .map(DynamicImage::ImageRgb8)
            .ok_or_else(short),
        PixelFormat::L8 => GrayImage::from_raw(width, height, pixels)
            .map(DynamicImage::ImageLuma8)
            .ok_or_else(short),
        PixelFormat::CMYK32 => {
            // jpeg-decoder hands out ink amounts (Adobe's inverted storage already undone); the
            // naive conversion is what image 0.24 did on top of the same decoder. No ICC
            // profile is applied, so print-oriented CMYK files come out approximately right.
            let rgb = pixels
                .chunks_exact(4)
                .flat_map(|p| {
                    let k = 255 - u16::from(p[3]);
                    [p[0], p[1], p[2]].map(|ink| ((255 - u16::from(ink)) * k / 255) as u8)
                })
                .collect();
            RgbImage::from_raw(width, height, rgb)
                .map(DynamicImage::ImageRgb8)
                .ok_or_else(short)
        }
        // Only lossless JPEG has more than 8 bits, and the decoder does not say how many: a
        // medical-imaging format, not a product photo.
        PixelFormat::L16 => Err(RenderError::UnsupportedVariant(
            "lossless JPEG with more than 8 bits per sample".into(),
        )),
    }
}

fn decode_with_image(bytes: &[u8], format: Format, limits: &Limits) -> Result<Raw, RenderError> {
    let max_alloc = limits.max_alloc_bytes;
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format.image_format());
    reader.limits(limits.for_image_crate());
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| RenderError::from_image(e, max_alloc))?;
    // `from_decoder` allocates the whole canvas up front and, unlike `ImageReader::decode`,
    // does not weigh it against the limits first; a PNG of a few bytes can claim 10 GB.
    if decoder.total_bytes() > max_alloc {
        return Err(RenderError::TooMuchMemory {
            max_alloc_bytes: max_alloc,
        });
    }
    // A broken Exif chunk should not make a readable image unreadable: show it as stored.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    // For GIF (and animated WebP) this is the first frame.
    let image =
        DynamicImage::from_decoder(decoder).map_err(|e| RenderError::from_image(e, max_alloc))?;
    let size = (image.width(), image.height());
    Ok((image, size, orientation))
}

/// Reduces any decoded colour type to the two the pipeline handles: RGB8, or RGBA8 when
/// transparency is actually used (many PNGs carry an alpha channel that is opaque everywhere,
/// and RGB is cheaper to resize and encode).
fn normalise(image: DynamicImage) -> DynamicImage {
    if !image.color().has_alpha() {
        return DynamicImage::ImageRgb8(image.into_rgb8());
    }
    let rgba = image.into_rgba8();
    if rgba.pixels().all(|p| p[3] == u8::MAX) {
        DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(rgba).into_rgb8())
    } else {
        DynamicImage::ImageRgba8(rgba)
    }
}
