//! Dimensions from the header alone. The upload endpoint uses this to refuse an image over the
//! megapixel limit while the request is still open, without decoding a single pixel.

use std::io::Cursor;

use image::metadata::Orientation;
use image::ImageDecoder;

use crate::panic::guarded;
use crate::{sniff, Format, RenderError};

/// What the header says about an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// The format, from the magic number ([`crate::sniff`]).
    pub format: Format,
    /// Width as displayed: with the EXIF orientation applied, as [`crate::Rendered`] reports it.
    pub width: u32,
    /// Height as displayed, see `width`.
    pub height: u32,
}

impl Probe {
    /// Width × height; orientation does not change it.
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// Reads only the header: the dimensions without decoding pixels (used at upload to refuse
/// images over N megapixels). Enforces no limit itself, so that the caller can say how large the
/// image is; [`crate::render()`] checks [`crate::Limits::max_pixels`] against the same header.
///
/// Errors: [`RenderError::Unsupported`] when the bytes are not a supported format,
/// [`RenderError::Corrupt`] when the header is malformed or truncated.
pub fn probe(bytes: &[u8]) -> Result<Probe, RenderError> {
    let format = sniff(bytes).ok_or(RenderError::Unsupported)?;
    guarded(|| {
        let (width, height, orientation) = match format {
            Format::Jpeg => jpeg_header(bytes)?,
            _ => image_header(bytes, format)?,
        };
        if width == 0 || height == 0 {
            return Err(RenderError::Corrupt(format!(
                "header says {width}x{height} pixels"
            )));
        }
        let (width, height) = oriented(width, height, orientation);
        Ok(Probe {
            format,
            width,
            height,
        })
    })
}

/// Stored size and orientation of a JPEG, read by the same decoder `render` uses so both agree.
/// The Exif segment comes before the frame header in practice; if it does not, the orientation
/// is missed here (the pixel count is still right) and applied by `render`.
fn jpeg_header(bytes: &[u8]) -> Result<(u32, u32, Orientation), RenderError> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder.read_info()?;
    let info = decoder
        .info()
        .ok_or_else(|| RenderError::Corrupt("no JPEG frame header".into()))?;
    let orientation = exif_orientation(decoder.exif_data());
    Ok((info.width.into(), info.height.into(), orientation))
}

/// Stored size and orientation of a PNG, GIF or WebP: `image` parses only the headers (and, for
/// WebP, the chunk list) when a decoder is created.
fn image_header(bytes: &[u8], format: Format) -> Result<(u32, u32, Orientation), RenderError> {
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format.image_format());
    // Probing must report any size, so the caller can name it when refusing.
    reader.no_limits();
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| RenderError::from_image(e, u64::MAX))?;
    let (width, height) = decoder.dimensions();
    // A broken Exif chunk should not make a readable image unreadable: ignore it.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    Ok((width, height, orientation))
}

/// The orientation in a raw Exif block (starting at the TIFF header), upright when absent or
/// unreadable.
pub(crate) fn exif_orientation(exif: Option<&[u8]>) -> Orientation {
    exif.and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms)
}

/// The displayed size of an image stored as `width`×`height`: quarter turns swap the axes.
pub(crate) fn oriented(width: u32, height: u32, orientation: Orientation) -> (u32, u32) {
    match orientation {
        Orientation::Rotate90
        | Orientation::Rotate270
        | Orientation::Rotate90FlipH
        | Orientation::Rotate270FlipH => (height, width),
        Orientation::NoTransforms
        | Orientation::Rotate180
        | Orientation::FlipHorizontal
        | Orientation::FlipVertical => (width, height),
    }
}
