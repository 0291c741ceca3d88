//! Why an image cannot be rendered.

/// Everything that can go wrong turning bytes into renditions.
///
/// Every variant is **permanent**: it is a property of the file (or of this code on that file),
/// so rendering the same bytes again gives the same error. A worker should mark the image
/// failed, not retry. There is no IO here, hence no transient error.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The bytes are not JPEG, PNG, GIF or WebP (or are too few to tell). An upload is refused
    /// with 415.
    #[error("not a JPEG, PNG, GIF or WebP image")]
    Unsupported,
    /// A recognised format in a variant the decoders cannot read, e.g. an arithmetic-coded or
    /// 12-bit JPEG.
    #[error("unsupported image variant: {0}")]
    UnsupportedVariant(String),
    /// The header or the pixel data is malformed or truncated (a decoder panic lands here too).
    #[error("corrupt image: {0}")]
    Corrupt(String),
    /// More pixels than [`crate::Limits::max_pixels`]; found from the header, before decoding.
    #[error("image of {width}x{height} pixels is over the limit of {max_pixels} pixels")]
    TooLarge {
        /// The image's width as displayed, from its header.
        width: u32,
        /// The image's height as displayed, from its header.
        height: u32,
        /// The limit it is over.
        max_pixels: u64,
    },
    /// Decoding would allocate more than [`crate::Limits::max_alloc_bytes`].
    #[error("decoding the image would need more than {max_alloc_bytes} bytes of memory")]
    TooMuchMemory {
        /// The limit the decoder refused to exceed.
        max_alloc_bytes: u64,
    },
    /// The resizer or an encoder refused pixels we gave it. Rendition sizes are far inside
    /// their limits, so this is a bug rather than a bad file, but it is as deterministic as one.
    #[error("encoding a rendition failed: {0}")]
    Encode(String),
}

impl RenderError {
    /// A stable, machine-readable name for the error, for the image's `failure` field and logs.
    pub fn code(&self) -> &'static str {
        match self {
            RenderError::Unsupported => "unsupported_format",
            RenderError::UnsupportedVariant(_) => "unsupported_variant",
            RenderError::Corrupt(_) => "corrupt",
            RenderError::TooLarge { .. } => "too_large",
            RenderError::TooMuchMemory { .. } => "too_much_memory",
            RenderError::Encode(_) => "encode_failed",
        }
    }
}

impl From<jpeg_decoder::Error> for RenderError {
    fn from(e: jpeg_decoder::Error) -> Self {
        match e {
            jpeg_decoder::Error::Unsupported(feature) => {
                RenderError::UnsupportedVariant(format!("JPEG with {feature:?}"))
            }
            // Io is only ever "unexpected end of file": the reader is a byte slice.
            other => RenderError::Corrupt(other.to_string()),
        }
    }
}

impl RenderError {
    /// Maps an `image` decoding error; `max_alloc_bytes` names the limit a refusal came from.
    pub(crate) fn from_image(e: image::ImageError, max_alloc_bytes: u64) -> Self {
        use image::error::LimitErrorKind;
        match e {
            image::ImageError::Limits(limit) => match limit.kind() {
                LimitErrorKind::InsufficientMemory => {
                    RenderError::TooMuchMemory { max_alloc_bytes }
                }
                // The pixel count was checked before; a side over the limit is the same refusal.
                _ => RenderError::Corrupt(format!("refused by the decoder's limits: {limit}")),
            },
            image::ImageError::Unsupported(u) => RenderError::UnsupportedVariant(u.to_string()),
            image::ImageError::Encoding(e) => RenderError::Encode(e.to_string()),
            other => RenderError::Corrupt(other.to_string()),
        }
    }
}
